"""Small factories for test data: plain functions with sensible defaults."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any, TypedDict, Unpack

import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey, Meter, Vehicle
from fleet.registry.services.keys import create_api_key

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


class AuthHeader(TypedDict):
    HTTP_AUTHORIZATION: str


def auth_header(key: str) -> AuthHeader:
    return {"HTTP_AUTHORIZATION": f"Api-Key {key}"}


# --- readings as devices post them ---

TELEMETRY_URL = "/v1/telemetry"


class PostHeaders(TypedDict, total=False):
    """What post() passes on to the client besides the body: its content type and WSGI headers."""

    content_type: str
    HTTP_AUTHORIZATION: str
    HTTP_CONTENT_ENCODING: str


def at(minutes_ago: int) -> datetime:
    """A whole minute, minutes_ago before the test's clock (stopped by tests/conftest.py `clock`).

    Only inside a test: the same call then gives the same instant all through it, and the code
    under test measures "in the future" or "too old" from that same clock. Called while the
    module is imported (a parametrize list), it would read the clock minutes before the test
    runs, so it refuses.
    """
    if not time_machine.escape_hatch.is_travelling():
        raise RuntimeError("at() reads the clock a test stops; call it inside the test")
    return timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=minutes_ago)


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def vehicle(vehicle_id: str = "VH001", ts: datetime | None = None, **over: Any) -> dict[str, Any]:
    reading = {
        "vehicleId": vehicle_id,
        "soc": 85.5,
        "kwhDeliveredDc": 12.3,
        "batteryTemp": 25.0,
        "timestamp": iso(ts or at(10)),
    }
    reading.update(over)
    return reading


def meter(meter_id: str = "MT001", ts: datetime | None = None, **over: Any) -> dict[str, Any]:
    reading = {
        "meterId": meter_id,
        "kwhConsumedAc": 13.1,
        "voltage": 229.8,
        "timestamp": iso(ts or at(10)),
    }
    reading.update(over)
    return reading


def post(
    client: APIClient,
    key: str | None,
    body: Any,
    raw: bytes | None = None,
    **headers: Unpack[PostHeaders],
) -> Any:
    """POST a body (or raw bytes) to the ingestion endpoint as a device would."""
    data = raw if raw is not None else json.dumps(body).encode()
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    headers.setdefault("content_type", "application/json")
    return client.generic(
        "POST",
        TELEMETRY_URL,
        data,  # type: ignore[arg-type]  # DRF's stubs say str; its generic() passes bytes to Django's
        **headers,
    )
