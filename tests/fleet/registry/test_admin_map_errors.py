"""The map admin's error pages: one sentence an operator can act on, and nothing looks saved."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from fleet.registry.models import VehicleMeterMap
from fleet.registry.services.mappings import add_mapping, assign_meter
from tests.factories import T0

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


@pytest.fixture
def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    return client


def errors_of(response: Any) -> list[str]:
    return [str(e) for e in response.context["adminform"].form.non_field_errors()]


def test_closing_a_mapping_before_it_starts_can_be_corrected_on_the_same_page(
    operator: Client,
) -> None:
    row = assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    url = f"/admin/fleet/vehiclemetermap/{row.pk}/change/"
    early = T0 - H
    response = operator.post(
        url, {"valid_to_0": f"{early:%Y-%m-%d}", "valid_to_1": f"{early:%H:%M:%S}"}
    )
    assert response.status_code == 200
    assert errors_of(response) == ["valid_to must be after valid_from."]
    page = response.content.decode()
    assert 'name="valid_to_0"' in page  # still an input, not a read-only value
    assert response.context["original"].valid_to is None  # the title shows the stored row
    assert "now)" in page and early.isoformat() not in page.split("<form")[0]
    assert VehicleMeterMap.objects.get(pk=row.pk).valid_to is None
    later = T0 + 2 * H
    fixed = operator.post(
        url, {"valid_to_0": f"{later:%Y-%m-%d}", "valid_to_1": f"{later:%H:%M:%S}"}
    )
    assert fixed.status_code == 302
    assert VehicleMeterMap.objects.get(pk=row.pk).valid_to == later


def test_an_overlap_is_one_sentence_without_constraint_names(operator: Client) -> None:
    add_mapping(vehicle_id="VH1", meter_id="MT1", valid_from=T0, valid_to=T0 + 10 * H)
    start, end = T0 + 2 * H, T0 + 3 * H
    response = operator.post(
        "/admin/fleet/vehiclemetermap/add/",
        {
            "vehicle": "VH1",
            "meter": "MT1",
            "valid_from_0": f"{start:%Y-%m-%d}",
            "valid_from_1": f"{start:%H:%M:%S}",
            "valid_to_0": f"{end:%Y-%m-%d}",
            "valid_to_1": f"{end:%H:%M:%S}",
        },
    )
    assert response.status_code == 200
    errors = errors_of(response)
    assert len(errors) == 2  # the vehicle's clash and the meter's, each a sentence
    assert all(
        e.startswith(("Vehicle VH1 already has", "Meter MT1 already serves")) for e in errors
    )
    assert not any("onstraint" in e for e in errors)
