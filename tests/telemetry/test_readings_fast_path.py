"""The fast path of reading validation must answer exactly as the full checks do."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from telemetry import readings
from telemetry.readings import Limits, parse_reading

NOW = datetime(2026, 2, 20, 12, tzinfo=UTC)
LIMITS = Limits(
    now=NOW, max_future=timedelta(minutes=5), max_age=timedelta(days=35), max_interval_kwh=1000.0
)

NUMBERS: list[Any] = [
    0, 1, 12, 100, 101, -1, -50, 150, 151, 2000, 2001, 1000, 1001, 10**20, 0.0, 12.3, 99.99,
    100.0, 100.00000000001, -0.0, -50.0, -50.1, 150.0, 1000.0, 1000.0000001, 1e-7, 2000.0,
    1999.9, math.nan, math.inf, -math.inf, True, False, None, "12.3", [1], {"a": 1},
]  # fmt: skip
TIMESTAMPS: list[Any] = [
    "2026-02-20T11:59:00Z", "2026-02-20T12:05:00Z", "2026-02-20T12:05:01Z",
    "2026-02-20T13:30:00+02:00", "2026-01-16T12:00:00Z", "2026-01-16T11:59:59Z",
    "2026-02-20T11:59:00", "2026-02-20 11:59:00+00:00", "not a time", "", 1771588740, None,
]  # fmt: skip
IDS: list[Any] = ["VH1", "MT-1.a:b_c", "x" * 64, "x" * 65, "", "VH 1", "VH1\n", "NULL", 7, None]


def _full_checks_only(item: Any) -> tuple[Any, Any]:
    fast = readings._fast_vehicle, readings._fast_meter
    readings._fast_vehicle = readings._fast_meter = lambda *args: None  # type: ignore[assignment]
    try:
        return parse_reading(item, LIMITS)
    finally:
        readings._fast_vehicle, readings._fast_meter = fast


def _random_reading(rng: random.Random) -> Any:
    if rng.random() < 0.5:
        item = {
            "vehicleId": rng.choice(IDS[:2]),
            "soc": 55.5,
            "kwhDeliveredDc": 0.123,
            "batteryTemp": 25.0,
            "timestamp": TIMESTAMPS[0],
        }
    else:
        item = {
            "meterId": rng.choice(IDS[:2]),
            "kwhConsumedAc": 0.135,
            "voltage": 230.5,
            "timestamp": TIMESTAMPS[0],
        }
    for _ in range(rng.choice([0, 0, 1, 1, 2])):
        field = rng.choice([*item, "meterId", "vehicleId", "extra"])
        roll = rng.random()
        if roll < 0.15:
            item.pop(field, None)
        elif field in ("vehicleId", "meterId"):
            item[field] = rng.choice(IDS)
        elif field == "timestamp":
            item[field] = rng.choice(TIMESTAMPS)
        else:
            item[field] = rng.choice(NUMBERS)
    return item


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_answers_as_the_full_checks(seed: int) -> None:
    rng = random.Random(seed)
    accepted = 0
    for _ in range(4000):
        item = _random_reading(rng)
        try:
            expected = _full_checks_only(item)
        except (OverflowError, ValueError) as exc:  # the full checks raise: so must the fast one
            with pytest.raises(type(exc)):
                parse_reading(item, LIMITS)
            continue
        got = parse_reading(item, LIMITS)
        assert got == expected, item
        accepted += got[0] is not None
    assert accepted > 500  # the valid case is well covered


def test_fast_path_values_are_the_full_checks_values() -> None:
    item = {
        "vehicleId": "VH1",
        "soc": 55,
        "kwhDeliveredDc": 12.3,
        "batteryTemp": 25,
        "timestamp": "2026-02-20T13:30:00+02:00",
    }
    reading, errors = parse_reading(item, LIMITS)
    assert (reading, errors) == _full_checks_only(item)
    assert errors == {}
    assert type(reading.soc) is float and str(reading.kwh_delivered_dc) == "12.3"
    assert reading.ts == datetime(2026, 2, 20, 11, 30, tzinfo=UTC)
