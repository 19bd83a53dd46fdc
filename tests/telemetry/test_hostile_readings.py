"""Whatever a device puts in any field of a reading, the answer is a 200 or a 4xx in the error
shape, never a 500, and nothing is stored unless it is a 200: property-based."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from telemetry.models import MeterTelemetry, VehicleTelemetry
from tests.factories import make_key, meter, post, vehicle

pytestmark = pytest.mark.django_db

# JSON values of every kind, with the values that break parsers: calendar extremes, control
# characters, very long strings, huge and tiny numbers, nesting.
extreme_strings = st.sampled_from(
    [
        "0001-01-01T00:00:00+14:00",
        "0001-01-01T00:00:00Z",
        "9999-12-31T23:59:59-14:00",
        "9999-12-31T23:59:59.999999Z",
        "2026-02-30T00:00:00Z",
        "2026-12-01T00:00:00",
        "\x00",
        "VH\x00",
        "VH001\n",
        "\u202e",
        "x" * 100_000,
        "",
        "NaN",
        "Infinity",
    ]
)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**30), max_value=10**30)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=50)
    | st.text(alphabet=st.characters(max_codepoint=0x1F), max_size=5)
    | extreme_strings,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=6,
)
VEHICLE_FIELDS = ("vehicleId", "soc", "kwhDeliveredDc", "batteryTemp", "timestamp")
METER_FIELDS = ("meterId", "kwhConsumedAc", "voltage", "timestamp")


@pytest.fixture
def device_key() -> str:
    return make_key(ApiKey.Role.DEVICE)[1]


def reading_with(kind: str, field: str, value: Any) -> dict[str, Any]:
    reading = vehicle() if kind == "vehicle" else meter()
    reading[field] = value
    return reading


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    target=st.sampled_from(
        [("vehicle", f) for f in VEHICLE_FIELDS] + [("meter", f) for f in METER_FIELDS]
    ),
    value=json_values,
    as_batch=st.booleans(),
)
def test_no_value_in_any_reading_field_makes_a_server_error(
    api_client: APIClient, device_key: str, target: tuple[str, str], value: Any, as_batch: bool
) -> None:
    kind, field = target
    reading = reading_with(kind, field, value)
    stored_before = VehicleTelemetry.objects.count() + MeterTelemetry.objects.count()
    response = post(api_client, device_key, [reading, vehicle("VH_OTHER")] if as_batch else reading)
    assert response.status_code < 500, response.content[:300]
    stored = VehicleTelemetry.objects.count() + MeterTelemetry.objects.count() - stored_before
    body = response.json()
    if response.status_code == 200:
        assert body["accepted"] + body["duplicates"] == (2 if as_batch else 1)
    else:
        assert (
            set(body) == {"status", "message", "errors"} and body["status"] == response.status_code
        )
        assert stored == 0  # all or nothing: the valid neighbour is not stored either
        where = body["errors"]["0"] if as_batch else body["errors"]
        assert field in where or "non_field_errors" in where or response.status_code == 413


@pytest.mark.parametrize(
    ("timestamp", "message"),
    [
        ("0001-01-01T00:00:00+14:00", "is older than 35 days; too old to accept"),
        ("0001-01-01T00:00:00Z", "is older than 35 days; too old to accept"),
        (
            "9999-12-31T23:59:59-14:00",
            "is more than 5 minutes in the future; check the device clock",
        ),
        ("9999-12-31T23:59:59Z", "is more than 5 minutes in the future; check the device clock"),
    ],
)
def test_a_timestamp_at_the_ends_of_the_calendar_is_400_naming_the_window(
    api_client: APIClient, device_key: str, timestamp: str, message: str
) -> None:
    response = post(api_client, device_key, vehicle(timestamp=timestamp))
    assert response.status_code == 400
    assert response.json()["errors"] == {"timestamp": [message]}
