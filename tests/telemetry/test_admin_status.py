"""The device lists' "reporting" column: a tick for a device heard from lately, a cross else."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone

from telemetry.readings import VehicleReading
from telemetry.services import ingest_readings

pytestmark = pytest.mark.django_db


def icons(page: str) -> dict[str, str]:
    """Vehicle id -> the reporting column's icon (yes / no) on the vehicle list."""
    rows = re.findall(r"<tr.*?</tr>", page, flags=re.DOTALL)
    found = {}
    for row in rows:
        vehicle = re.search(r"/admin/fleet/vehicle/([^/]+)/change/", row)
        icon = re.findall(r"icon-(yes|no)\.svg", row)
        if vehicle and icon:
            found[vehicle.group(1)] = icon[-1]
    return found


def test_a_device_seen_two_minutes_ago_is_ticked_and_one_seen_eleven_minutes_ago_is_not() -> None:
    now = timezone.now()
    ingest_readings(
        [
            VehicleReading("VHFRESH", now - timedelta(minutes=2), 50.0, Decimal("1"), 20.0),
            VehicleReading("VHSILENT", now - timedelta(minutes=11), 50.0, Decimal("1"), 20.0),
        ]
    )
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "a-long-Passw0rd"))
    page = client.get("/admin/fleet/vehicle/").content.decode()
    assert "reporting" in page
    assert icons(page) == {"VHFRESH": "yes", "VHSILENT": "no"}


def test_energy_in_the_device_list_shows_three_decimal_places() -> None:
    ingest_readings([VehicleReading("VHKWH", timezone.now(), 50.0, Decimal("12.3"), 20.0)])
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "a-long-Passw0rd"))
    page = client.get("/admin/fleet/vehicle/").content.decode()
    assert "12.300<" in page and "12.300000" not in page
