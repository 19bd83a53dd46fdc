"""A meter that draws AC for a vehicle reporting no DC is the worst leak: listed and flagged."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from fleet.registry.services.mappings import assign_meter
from tests.analytics.conftest import ac, dc
from tests.analytics.test_fleet_api import without_health
from tests.factories import T0, iso

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
H = timedelta(hours=1)
M = timedelta(minutes=1)


@pytest.fixture
def silent_vehicle(store: Any) -> None:
    # VH_SILENT's telematics says nothing while its meter draws 7.5 kWh; VH_OK is healthy.
    assign_meter(vehicle_id="VH_SILENT", meter_id="MT_S", at=T0 - H)
    assign_meter(vehicle_id="VH_OK", meter_id="MT_OK", at=T0 - H)
    store(
        ac("MT_S", T0 + 10 * M, "5"),
        ac("MT_S", T0 + 70 * M, "2.5"),
        dc("VH_OK", T0 + 10 * M, "9.5"),
        ac("MT_OK", T0 + 10 * M, "10"),
    )


def test_the_fleet_view_lists_it_first_with_efficiency_zero_and_flagged(
    analyst: APIClient, silent_vehicle: None
) -> None:
    body = analyst.get("/v1/analytics/fleet", {"from": iso(T0), "to": iso(T0 + 4 * H)}).json()
    assert body["count"] == 2
    assert body["results"][0]["health"] == "insufficient_data"
    assert body["results"][0]["coverage"] == {"vehicle": 0.0, "meter": 0.0083}
    assert without_health(body["results"][0]) == {
        "vehicleId": "VH_SILENT",
        "total_dc": 0.0,
        "total_ac": 7.5,
        "efficiency": 0.0,
        "avg_battery_temp": None,
        "readings": {"vehicle": 0, "meter": 2},
        "flagged": True,
    }
    assert [r["vehicleId"] for r in body["results"]] == ["VH_SILENT", "VH_OK"]
    flagged = analyst.get(
        "/v1/analytics/fleet", {"from": iso(T0), "to": iso(T0 + 4 * H), "flagged": "true"}
    ).json()
    assert [r["vehicleId"] for r in flagged["results"]] == ["VH_SILENT"]


def test_a_window_where_its_meter_also_mapped_to_nobody_leaves_no_phantom_vehicle(
    analyst: APIClient, store: Any
) -> None:
    store(ac("MT_UNMAPPED", T0 + 10 * M, "5"))
    body = analyst.get("/v1/analytics/fleet", {"from": iso(T0), "to": iso(T0 + 4 * H)}).json()
    assert (body["count"], body["results"]) == (0, [])


def test_the_fleet_health_page_lists_it_flagged(store: Any) -> None:
    # The page shows the last 24 hours; two hours back is inside them whenever this runs.
    start = timezone.now().replace(minute=0, second=0, microsecond=0) - 2 * H
    assign_meter(vehicle_id="VH_SILENT", meter_id="MT_S", at=start - H)
    store(ac("MT_S", start + 10 * M, "5"))
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "a-long-Passw0rd"))
    response = client.get("/admin/fleet-health/")
    page = response.content.decode()
    assert re.findall(r'data-vehicle="([^"]+)"', page) == ["VH_SILENT"]
    assert response.context["flagged_count"] == 1
    assert 'class="flagged"' in page
