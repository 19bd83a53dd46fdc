"""Small factories for test data: plain functions with sensible defaults."""

from __future__ import annotations

from datetime import UTC, datetime

from fleet.models import ApiKey, Meter, Vehicle
from fleet.services import create_api_key

T0 = datetime(2026, 2, 10, 0, 0, tzinfo=UTC)


def make_vehicle(vehicle_id: str = "VH001", name: str = "") -> Vehicle:
    return Vehicle.objects.create(id=vehicle_id, name=name)


def make_meter(meter_id: str = "MT001", name: str = "") -> Meter:
    return Meter.objects.create(id=meter_id, name=name)


def make_key(
    role: str = ApiKey.Role.ANALYST,
    *,
    name: str = "test key",
    vehicle_id: str | None = None,
    meter_id: str | None = None,
) -> tuple[ApiKey, str]:
    return create_api_key(name=name, role=role, vehicle_id=vehicle_id, meter_id=meter_id)


def auth_header(key: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}
