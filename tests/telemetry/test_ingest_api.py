"""POST /v1/telemetry against real PostgreSQL: exact rows, exact values, exact counts."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey, Meter, Vehicle
from telemetry.models import (
    CurrentMeterStatus,
    CurrentVehicleStatus,
    MeterTelemetry,
    VehicleTelemetry,
)
from tests.factories import at, iso, make_key, meter, post, vehicle

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]


@pytest.fixture
def device_key() -> str:
    return make_key(ApiKey.Role.DEVICE, name="gateway")[1]


def counts() -> tuple[int, int, int, int, int, int]:
    return (
        VehicleTelemetry.objects.count(),
        MeterTelemetry.objects.count(),
        CurrentVehicleStatus.objects.count(),
        CurrentMeterStatus.objects.count(),
        Vehicle.objects.count(),
        Meter.objects.count(),
    )


def test_a_single_vehicle_reading_lands_in_history_and_status(
    api_client: APIClient, device_key: str
) -> None:
    ts = at(5)
    response = post(api_client, device_key, vehicle(ts=ts))
    assert response.status_code == 200
    assert response.json() == {
        "status": 200,
        "message": "Telemetry ingested successfully",
        "accepted": 1,
        "duplicates": 0,
    }
    row = VehicleTelemetry.objects.get()
    assert (row.vehicle_id, row.ts, row.soc, row.kwh_delivered_dc, row.battery_temp) == (
        "VH001",
        ts,
        85.5,
        Decimal("12.3"),
        25.0,
    )
    status = CurrentVehicleStatus.objects.get()
    assert (status.vehicle_id, status.ts, status.kwh_delivered_dc) == ("VH001", ts, Decimal("12.3"))
    assert Vehicle.objects.filter(pk="VH001").exists()


def test_a_single_meter_reading_lands_in_history_and_status(
    api_client: APIClient, device_key: str
) -> None:
    ts = at(5)
    response = post(api_client, device_key, meter(ts=ts))
    assert response.json()["accepted"] == 1
    row = MeterTelemetry.objects.get()
    assert (row.meter_id, row.ts, row.kwh_consumed_ac, row.voltage) == (
        "MT001",
        ts,
        Decimal("13.1"),
        229.8,
    )
    status = CurrentMeterStatus.objects.get()
    assert (status.meter_id, status.ts, status.voltage) == ("MT001", ts, 229.8)


def test_a_mixed_batch_of_three_lands_all_three(api_client: APIClient, device_key: str) -> None:
    batch = [vehicle("VH1", at(3)), meter("MT1", at(3)), vehicle("VH2", at(3), kwhDeliveredDc=0)]
    response = post(api_client, device_key, batch)
    assert response.json()["accepted"] == 3
    assert counts() == (2, 1, 2, 1, 2, 1)
    assert VehicleTelemetry.objects.get(vehicle_id="VH2").kwh_delivered_dc == Decimal("0")


def test_a_repeated_reading_is_counted_as_a_duplicate_and_changes_nothing(
    api_client: APIClient, device_key: str
) -> None:
    ts = at(5)
    post(api_client, device_key, vehicle(ts=ts))
    again = post(api_client, device_key, [vehicle(ts=ts, kwhDeliveredDc=99.0, soc=1.0)])
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 1
    row = VehicleTelemetry.objects.get()
    assert (row.kwh_delivered_dc, row.soc) == (Decimal("12.3"), 85.5)
    assert CurrentVehicleStatus.objects.get().soc == 85.5


def test_late_reading_does_not_move_status_backwards(
    api_client: APIClient, device_key: str
) -> None:
    newer, older = at(2), at(30)
    post(api_client, device_key, [vehicle(ts=newer, soc=80.0), meter(ts=newer, voltage=230.0)])
    response = post(
        api_client, device_key, [vehicle(ts=older, soc=20.0), meter(ts=older, voltage=220.0)]
    )
    assert response.json()["accepted"] == 2
    assert VehicleTelemetry.objects.count() == 2
    vehicle_status = CurrentVehicleStatus.objects.get()
    assert (vehicle_status.ts, vehicle_status.soc) == (newer, 80.0)
    meter_status = CurrentMeterStatus.objects.get()
    assert (meter_status.ts, meter_status.voltage) == (newer, 230.0)


def test_the_same_device_twice_in_one_batch_keeps_both_and_status_takes_the_newest(
    api_client: APIClient, device_key: str
) -> None:
    batch = [vehicle(ts=at(1), soc=70.0), vehicle(ts=at(9), soc=60.0), vehicle(ts=at(5), soc=65.0)]
    response = post(api_client, device_key, batch)
    assert response.json() == {**response.json(), "accepted": 3, "duplicates": 0}
    status = CurrentVehicleStatus.objects.get()
    assert (status.ts, status.soc) == (at(1), 70.0)


def test_the_same_key_twice_in_one_batch_stores_the_first_and_counts_the_second(
    api_client: APIClient, device_key: str
) -> None:
    ts = at(4)
    response = post(
        api_client, device_key, [meter(ts=ts, kwhConsumedAc=1.5), meter(ts=ts, kwhConsumedAc=9.9)]
    )
    assert (response.json()["accepted"], response.json()["duplicates"]) == (1, 1)
    assert MeterTelemetry.objects.get().kwh_consumed_ac == Decimal("1.5")


def test_energy_keeps_its_decimal_digits_exactly(api_client: APIClient, device_key: str) -> None:
    batch = [meter(ts=at(m), kwhConsumedAc=0.1) for m in range(1, 11)]
    post(api_client, device_key, batch)
    assert sum(MeterTelemetry.objects.values_list("kwh_consumed_ac", flat=True)) == Decimal("1.0")


# Each case builds its reading when the test runs, under the test's stopped clock: built at
# import, "6 minutes ahead" would be measured from a clock read minutes before the test.
INVALID_READINGS: list[tuple[str, Callable[[], Any], str, str]] = [
    ("both ids", lambda: {**vehicle(), "meterId": "MT1"}, "non_field_errors", "this one has both"),
    (
        "neither id",
        lambda: {"soc": 1, "timestamp": iso(at(1))},
        "non_field_errors",
        "this one has neither",
    ),
    (
        "unknown field",
        lambda: {**vehicle(), "kwhDeliveredDC": 1.0},
        "kwhDeliveredDC",
        "unknown field",
    ),
    (
        "missing field",
        lambda: {k: v for k, v in vehicle().items() if k != "soc"},
        "soc",
        "is required",
    ),
    ("string number", lambda: vehicle(soc="85"), "soc", "must be a number, not str"),
    ("boolean", lambda: vehicle(batteryTemp=True), "batteryTemp", "must be a number, not bool"),
    ("null", lambda: meter(voltage=None), "voltage", "must be a number, not NoneType"),
    ("soc above 100", lambda: vehicle(soc=100.01), "soc", "must be between 0 and 100"),
    ("soc below 0", lambda: vehicle(soc=-0.1), "soc", "must be between 0 and 100"),
    (
        "negative energy",
        lambda: vehicle(kwhDeliveredDc=-0.5),
        "kwhDeliveredDc",
        "must not be negative",
    ),
    ("absurd energy", lambda: meter(kwhConsumedAc=5000), "kwhConsumedAc", "not plausible"),
    ("zero voltage", lambda: meter(voltage=0), "voltage", "must be above 0 and at most 2000"),
    (
        "voltage too high",
        lambda: meter(voltage=2000.5),
        "voltage",
        "must be above 0 and at most 2000",
    ),
    ("too cold", lambda: vehicle(batteryTemp=-50.5), "batteryTemp", "must be between -50 and 150"),
    ("too hot", lambda: vehicle(batteryTemp=151), "batteryTemp", "must be between -50 and 150"),
    (
        "no utc offset",
        lambda: vehicle(timestamp="2026-02-10T16:23:00"),
        "timestamp",
        "needs a UTC offset",
    ),
    ("not a time", lambda: vehicle(timestamp="yesterday"), "timestamp", "is not ISO-8601"),
    (
        "numeric time",
        lambda: vehicle(timestamp=1770000000),
        "timestamp",
        "must be an ISO-8601 string",
    ),
    (
        "future",
        lambda: vehicle(ts=timezone.now() + timedelta(minutes=6)),
        "timestamp",
        "in the future",
    ),
    (
        "too old",
        lambda: vehicle(ts=timezone.now() - timedelta(days=35, minutes=1)),
        "timestamp",
        "older than 35 days",
    ),
    ("bad device id", lambda: vehicle("VH 001"), "vehicleId", "1-64 characters"),
    ("long device id", lambda: meter("M" * 65), "meterId", "1-64 characters"),
    # Python's `$` also matches before a final newline: "VH001\n" must not become a new device,
    # and 64 characters plus the newline must not reach varchar(64) as a 500.
    ("device id ending in a newline", lambda: vehicle("VH001\n"), "vehicleId", "1-64 characters"),
    ("64 characters and a newline", lambda: meter("M" * 64 + "\n"), "meterId", "1-64 characters"),
    ("not an object", lambda: [1, 2], "non_field_errors", "must be a JSON object"),
]


@pytest.mark.parametrize(
    ("build", "field", "message"),
    [case[1:] for case in INVALID_READINGS],
    ids=[case[0] for case in INVALID_READINGS],
)
def test_an_invalid_reading_is_refused_with_its_field_named_and_nothing_written(
    api_client: APIClient,
    device_key: str,
    build: Callable[[], Any],
    field: str,
    message: str,
) -> None:
    before = counts()
    response = post(api_client, device_key, [vehicle("VH9", at(1)), build()])
    assert response.status_code == 400
    body = response.json()
    assert body["status"] == 400
    assert "nothing was stored" in body["message"]
    assert list(body["errors"]) == ["1"]
    assert message in body["errors"]["1"][field][0]
    assert counts() == before


def test_a_single_invalid_reading_names_its_fields_without_an_index(
    api_client: APIClient, device_key: str
) -> None:
    response = post(api_client, device_key, vehicle(soc=101, batteryTemp=200))
    assert response.status_code == 400
    assert response.json()["errors"] == {
        "soc": ["must be between 0 and 100"],
        "batteryTemp": ["must be between -50 and 150"],
    }
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_batch_with_one_bad_reading_writes_nothing(
    api_client: APIClient, device_key: str
) -> None:
    batch = [
        vehicle("VH1", at(1)),
        meter("MT1", at(1)),
        vehicle("VH2", at(1)),
        vehicle("VH3", at(1), soc=120),
    ]
    response = post(api_client, device_key, batch)
    assert response.status_code == 400
    assert response.json()["message"] == "1 of 4 readings are invalid; nothing was stored."
    assert response.json()["errors"] == {"3": {"soc": ["must be between 0 and 100"]}}
    assert counts() == (0, 0, 0, 0, 0, 0)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b'{"vehicleId": "VH1",', "not valid JSON"),
        (b'[{"vehicleId": "VH1", "soc": NaN}]', "not valid JSON"),
        (b'{"meterId": "MT1", "kwhConsumedAc": Infinity}', "not valid JSON"),
        (b'[{"meterId": "MT1", "kwhConsumedAc": 1e400}]', "not valid JSON"),
        (b"42", "one reading object or an array"),
        (b'"reading"', "one reading object or an array"),
        (b"[]", "The array is empty"),
        (b"", "The body is empty"),
    ],
)
def test_malformed_bodies_are_400_with_nothing_written(
    api_client: APIClient, device_key: str, raw: bytes, message: str
) -> None:
    response = post(api_client, device_key, None, raw=raw)
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_more_readings_than_the_batch_limit_is_413(
    api_client: APIClient, device_key: str, settings: Settings
) -> None:
    settings.TELEMETRY_MAX_BATCH = 5_000
    batch = [meter(f"MT{i}", at(1)) for i in range(5_001)]
    response = post(api_client, device_key, batch)
    assert response.status_code == 413
    assert "the limit is 5000" in response.json()["message"]
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_batch_of_exactly_the_limit_is_accepted(api_client: APIClient, device_key: str) -> None:
    batch = [meter(f"MT{i % 100}", at(i // 100)) for i in range(5_000)]
    response = post(api_client, device_key, batch)
    assert response.json()["accepted"] == 5_000
    assert counts() == (0, 5_000, 0, 100, 0, 100)


def test_a_body_over_the_size_limit_is_413(
    api_client: APIClient, device_key: str, settings: Settings
) -> None:
    settings.TELEMETRY_MAX_BODY_BYTES = 1_000
    batch = [meter(f"MT{i}", at(1)) for i in range(20)]
    response = post(api_client, device_key, batch)
    assert response.status_code == 413
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_gzip_body_is_accepted(api_client: APIClient, device_key: str) -> None:
    batch = [vehicle(f"VH{i}", at(1)) for i in range(50)]
    response = post(
        api_client,
        device_key,
        None,
        raw=gzip.compress(json.dumps(batch).encode()),
        HTTP_CONTENT_ENCODING="gzip",
    )
    assert response.status_code == 200
    assert response.json()["accepted"] == 50
    assert VehicleTelemetry.objects.count() == 50


def test_a_gzip_body_that_inflates_past_the_limit_is_413(
    api_client: APIClient, device_key: str, settings: Settings
) -> None:
    settings.TELEMETRY_MAX_BODY_BYTES = 10_000
    bomb = gzip.compress(b"[" + b" " * 1_000_000 + b"]")
    assert len(bomb) < 10_000
    response = post(api_client, device_key, None, raw=bomb, HTTP_CONTENT_ENCODING="gzip")
    assert response.status_code == 413
    assert "decompresses to more than" in response.json()["message"]


def test_a_broken_gzip_body_is_400(api_client: APIClient, device_key: str) -> None:
    response = post(
        api_client, device_key, None, raw=b"not gzip at all", HTTP_CONTENT_ENCODING="gzip"
    )
    assert response.status_code == 400
    assert "not valid gzip" in response.json()["message"]


def test_a_non_json_content_type_is_415(api_client: APIClient, device_key: str) -> None:
    response = post(api_client, device_key, vehicle(), content_type="text/plain")
    assert response.status_code == 415
    assert response.json()["message"] == "Send Content-Type: application/json (got 'text/plain')."
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_an_unknown_content_encoding_is_415(api_client: APIClient, device_key: str) -> None:
    response = post(api_client, device_key, vehicle(), HTTP_CONTENT_ENCODING="br")
    assert response.status_code == 415


def test_posting_needs_a_key(api_client: APIClient) -> None:
    response = post(api_client, None, vehicle())
    assert response.status_code == 401
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_analyst_keys_cannot_post(api_client: APIClient) -> None:
    _, key = make_key(ApiKey.Role.ANALYST)
    response = post(api_client, key, vehicle())
    assert response.status_code == 403
    assert counts() == (0, 0, 0, 0, 0, 0)


def test_a_bound_key_posts_its_own_device_only(api_client: APIClient) -> None:
    _, key = make_key(ApiKey.Role.DEVICE, vehicle_id="VH001")
    assert post(api_client, key, vehicle("VH001", at(2))).status_code == 200
    response = post(api_client, key, [vehicle("VH001", at(1)), vehicle("VH002", at(1))])
    assert response.status_code == 403
    assert response.json()["message"] == (
        "This key is bound to vehicle VH001; reading 1 is for vehicle VH002. Nothing was stored."
    )
    forbidden_meter = post(api_client, key, meter("VH001", at(1)))
    assert forbidden_meter.status_code == 403
    assert VehicleTelemetry.objects.count() == 1
    assert MeterTelemetry.objects.count() == 0


def test_an_unbound_device_key_posts_for_any_device(api_client: APIClient, device_key: str) -> None:
    response = post(api_client, device_key, [vehicle("VH1", at(1)), meter("MT7", at(1))])
    assert response.json()["accepted"] == 2
