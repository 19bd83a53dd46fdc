from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from telemetry.readings import MeterReading, VehicleReading
from telemetry.services import IngestResult, ingest_readings
from tests.factories import make_key

Store = Callable[..., IngestResult]


def dc(vehicle_id: str, ts: datetime, kwh: str, temp: float = 25.0) -> VehicleReading:
    return VehicleReading(vehicle_id, ts, 50.0, Decimal(kwh), temp)


def ac(meter_id: str, ts: datetime, kwh: str) -> MeterReading:
    return MeterReading(meter_id, ts, Decimal(kwh), 230.0)


@pytest.fixture
def store() -> Store:
    """Store readings through the real ingest service (history, status and roll-ups)."""

    def _store(*readings: VehicleReading | MeterReading) -> IngestResult:
        return ingest_readings(list(readings))

    return _store


@pytest.fixture
def analyst(api_client: APIClient) -> APIClient:
    _, key = make_key(ApiKey.Role.ANALYST)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return api_client
