"""The admin shows (and reads) times in DISPLAY_TIME_ZONE, each naming its zone; the API and
storage stay UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey, VehicleMeterMap
from fleet.registry.services.devices import register_devices
from telemetry.readings import VehicleReading
from telemetry.services import ingest_readings
from tests.factories import make_key

pytestmark = pytest.mark.django_db
WINTER = datetime(2026, 12, 1, 5, 45, tzinfo=UTC)


def operator() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    return client


def test_by_default_the_admin_shows_utc_with_its_name() -> None:
    ingest_readings([VehicleReading("VHTZ", WINTER, 50.0, Decimal("1"), 20.0)])
    page = operator().get("/admin/fleet/vehicle/").content.decode()
    assert "2026-12-01 05:45:00 UTC" in page


def test_a_display_zone_shows_local_times_named_and_reads_form_times_in_it(
    settings: Settings,
) -> None:
    settings.DISPLAY_TIME_ZONE = "Europe/Berlin"
    ingest_readings([VehicleReading("VHTZ", WINTER, 50.0, Decimal("1"), 20.0)])
    client = operator()  # middleware is set up with the client's first request
    page = client.get("/admin/fleet/vehicle/").content.decode()
    assert "2026-12-01 06:45:00 CET" in page
    # A time typed into the map form is Berlin time, stored as UTC.
    register_devices(meter_ids=["MTTZ"])
    form = {"vehicle": "VHTZ", "meter": "MTTZ"}
    form |= {"valid_from_0": "2026-12-01", "valid_from_1": "06:45:00"}
    response = client.post("/admin/fleet/vehiclemetermap/add/", form)
    assert response.status_code == 302
    assert VehicleMeterMap.objects.get().valid_from == WINTER
    # The API is unchanged: UTC ISO-8601.
    _, key = make_key(ApiKey.Role.ANALYST)
    status = APIClient().get("/v1/vehicles/VHTZ/status", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert status.json()["timestamp"] == "2026-12-01T05:45:00Z"
