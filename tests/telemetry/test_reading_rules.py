"""Random readings, valid and not, against an oracle written here from the rules as stated: the
same value (exact Decimals, UTC times) or the same errors, field by field, message by message,
one reading at a time and in batches."""

from __future__ import annotations

import math
import random
import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec
import pytest

from telemetry import readings as readings_module
from telemetry.readings import (
    Errors,
    Limits,
    MeterReading,
    Reading,
    VehicleReading,
    parse_reading,
    parse_readings,
)

NOW = datetime(2026, 2, 20, 12, tzinfo=UTC)


def limits(max_interval_kwh: float = 1000.0) -> Limits:
    return Limits(
        now=NOW,
        max_future=timedelta(minutes=5),
        max_age=timedelta(days=35),
        max_interval_kwh=max_interval_kwh,
    )


NUMBERS: list[Any] = [
    0, 1, 12, 50, 51, 100, 101, -1, -50, 150, 151, 2000, 2001, 1000, 1001, 10**20, 0.0, 12.3,
    99.99, 100.0, 100.00000000001, -0.0, -50.0, -50.1, 150.0, 1000.0, 1000.0000001, 1e-7, 2000.0,
    1999.9, 50.0, 50.000001, math.nan, math.inf, -math.inf, True, False, None, "12.3", [1],
    {"a": 1},
]  # fmt: skip
TIMESTAMPS: list[Any] = [
    "2026-02-20T11:59:00Z", "2026-02-20T12:05:00Z", "2026-02-20T12:05:01Z",
    "2026-02-20T13:30:00+02:00", "2026-01-16T12:00:00Z", "2026-01-16T11:59:59Z",
    "2026-02-20T11:59:00", "2026-02-20 11:59:00+00:00", "2026-02-20T11:59:00.123456789Z",
    "20260220T115900Z", "2026-02-20T11:59+02:00", "2026-02-20t11:59:00z", "not a time", "",
    1771588740, None,
]  # fmt: skip
IDS: list[Any] = [
    "VH1", "MT-1.a:b_c", "x" * 64, "x" * 65, "", "VH 1", "VH1\n", "\nVH1", "NULL", "é", 7, None,
]  # fmt: skip
NOT_OBJECTS: list[Any] = [[1, 2], "reading", 5, None, True]

# --- the oracle: the rules, written out plainly ---

VEHICLE_FIELDS = ("vehicleId", "soc", "kwhDeliveredDc", "batteryTemp", "timestamp")
METER_FIELDS = ("meterId", "kwhConsumedAc", "voltage", "timestamp")
ID_CHARACTERS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _device_id(value: Any) -> str | None:
    ok = isinstance(value, str) and 1 <= len(value) <= 64 and set(value) <= ID_CHARACTERS
    return None if ok else "must be 1-64 characters of letters, digits, '.', '_', ':' or '-'"


def _number(value: Any, low: float, high: float, above: bool = False) -> str | None:
    if not _is_number(value):
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value):
        return "must be a finite number"
    if above:
        return None if low < value <= high else f"must be above {low:g} and at most {high:g}"
    return None if low <= value <= high else f"must be between {low:g} and {high:g}"


def _energy(value: Any, limit: float) -> str | None:
    if not _is_number(value):
        return f"must be a number, not {type(value).__name__}"
    if not math.isfinite(value):
        return "must be a finite number"
    if value < 0:
        return "must not be negative (it is the energy of one interval, in kWh)"
    if value > limit:
        return (
            f"{float(value):g} kWh in one interval is not plausible (at most {limit:g}); send "
            "the energy since the previous reading"
        )
    return None


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return "must be an ISO-8601 string such as 2026-02-10T16:23:00Z"
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return "is not ISO-8601; send e.g. 2026-02-10T16:23:00Z"
    if ts.utcoffset() is None:
        return "needs a UTC offset (Z or +hh:mm), e.g. 2026-02-10T16:23:00Z"
    if ts > NOW + timedelta(minutes=5):
        return "is more than 5 minutes in the future; check the device clock"
    if ts < NOW - timedelta(days=35):
        return "is older than 35 days; too old to accept"
    return None


def _exact(value: int | float) -> Decimal:
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def oracle(item: Any, limit: float) -> tuple[Reading | None, Errors]:
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["a reading must be a JSON object"]}
    if ("vehicleId" in item) == ("meterId" in item):
        which = "both" if "vehicleId" in item else "neither"
        message = f"a reading has exactly one of vehicleId or meterId; this one has {which}"
        return None, {"non_field_errors": [message]}
    vehicle = "vehicleId" in item
    fields = VEHICLE_FIELDS if vehicle else METER_FIELDS
    rules = {
        "vehicleId": _device_id,
        "meterId": _device_id,
        "soc": lambda v: _number(v, 0, 100),
        "batteryTemp": lambda v: _number(v, -50, 150),
        "voltage": lambda v: _number(v, 0, 2000, above=True),
        "kwhDeliveredDc": lambda v: _energy(v, limit),
        "kwhConsumedAc": lambda v: _energy(v, limit),
        "timestamp": _timestamp,
    }
    errors: Errors = {}
    for field in item:
        if field not in fields:
            kind = "vehicle" if vehicle else "meter"
            errors[field] = [f"unknown field for a {kind} reading (allowed: {', '.join(fields)})"]
    for field in fields:
        if field not in item:
            errors[field] = ["is required"]
        elif (problem := rules[field](item[field])) is not None:
            errors[field] = [problem]
    if errors:
        return None, errors
    ts = datetime.fromisoformat(item["timestamp"]).astimezone(UTC)
    if vehicle:
        return VehicleReading(
            item["vehicleId"],
            ts,
            float(item["soc"]),
            _exact(item["kwhDeliveredDc"]),
            float(item["batteryTemp"]),
        ), {}
    return MeterReading(
        item["meterId"], ts, _exact(item["kwhConsumedAc"]), float(item["voltage"])
    ), {}


# --- random readings ---


def _energy_value(rng: random.Random) -> int | float:
    roll = rng.random()
    if roll < 0.2:
        return rng.randrange(0, 60)
    if roll < 0.6:
        return round(rng.uniform(0, 60), rng.randrange(0, 7))
    return rng.uniform(0, 60)  # all 17 significant digits: Decimal must keep every one


def random_reading(rng: random.Random) -> Any:
    if rng.random() < 0.02:
        return rng.choice(NOT_OBJECTS)
    ts = NOW - timedelta(seconds=rng.randrange(0, 35 * 86400))
    stamp = ts.isoformat() if rng.random() < 0.5 else ts.isoformat().replace("+00:00", "Z")
    item: dict[str, Any]
    if rng.random() < 0.5:
        item = {
            "vehicleId": rng.choice(IDS[:3]),
            "soc": rng.choice([55, 55.5, rng.uniform(0, 100)]),
            "kwhDeliveredDc": _energy_value(rng),
            "batteryTemp": rng.choice([25, -12.5, rng.uniform(-50, 150)]),
            "timestamp": stamp,
        }
    else:
        item = {
            "meterId": rng.choice(IDS[:3]),
            "kwhConsumedAc": _energy_value(rng),
            "voltage": rng.choice([230, 229.8, rng.uniform(0.001, 2000)]),
            "timestamp": stamp,
        }
    for _ in range(rng.choice([0, 0, 0, 1, 1, 2, 3])):
        field = rng.choice([*item, "meterId", "vehicleId", "extra", "kwhDeliveredDC"])
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


def _same(got: tuple[Reading | None, Errors], expected: tuple[Reading | None, Errors]) -> None:
    assert got == expected
    reading = got[0]
    if reading is not None:
        # == on Decimals is numeric; the digits must be the same too (12.3 stays "12.3").
        energy = "kwh_delivered_dc" if isinstance(reading, VehicleReading) else "kwh_consumed_ac"
        assert str(getattr(reading, energy)) == str(getattr(expected[0], energy))
        assert reading.ts.tzinfo is UTC


@pytest.mark.parametrize("limit", [1000.0, 50.0])
@pytest.mark.parametrize("seed", range(4))
def test_each_random_reading_gets_the_oracles_value_or_errors(seed: int, limit: float) -> None:
    rng = random.Random(seed)
    accepted = refused = 0
    for _ in range(4000):
        item = random_reading(rng)
        expected = oracle(item, limit)
        _same(parse_reading(item, limits(limit)), expected)
        accepted += expected[0] is not None
        refused += expected[0] is None
    assert accepted > 1500 and refused > 500  # both cases are well covered


@pytest.mark.parametrize("seed", range(4))
def test_random_batches_get_the_oracles_readings_in_order_or_errors_by_index(seed: int) -> None:
    rng = random.Random(100 + seed)
    clean = 0
    for _ in range(60):
        size = rng.choice([1, 2, 10, 200])
        # Batches that are mostly valid, so the whole-batch path answers many of them.
        items = [random_reading(rng) for _ in range(size)]
        if rng.random() < 0.5:
            items = [item for item in items if oracle(item, 1000.0)[0] is not None] or items
        answers = [oracle(item, 1000.0) for item in items]
        expected_readings = [reading for reading, _ in answers if reading is not None]
        expected_bad = {str(i): errors for i, (_, errors) in enumerate(answers) if errors}
        readings, bad = parse_readings(items, limits())
        assert bad == expected_bad
        assert readings == expected_readings
        for got, want in zip(readings, expected_readings, strict=True):
            _same((got, {}), (want, {}))
        clean += not bad
    assert clean > 20


def test_values_are_floats_exact_decimals_and_utc_alone_and_in_a_batch() -> None:
    item = {
        "vehicleId": "VH1",
        "soc": 55,
        "kwhDeliveredDc": 12.3,
        "batteryTemp": 25,
        "timestamp": "2026-02-20T13:30:00+02:00",
    }
    alone, errors = parse_reading(item, limits())
    (in_batch,), bad = parse_readings([item], limits())
    assert errors == {} and bad == {}
    for reading in (alone, in_batch):
        assert isinstance(reading, VehicleReading)
        assert type(reading.soc) is float and type(reading.battery_temp) is float
        assert str(reading.kwh_delivered_dc) == "12.3"
        assert reading.ts == datetime(2026, 2, 20, 11, 30, tzinfo=UTC)
    meter, _ = parse_reading(
        {"meterId": "MT1", "kwhConsumedAc": 7, "voltage": 230, "timestamp": "2026-02-20T11:00Z"},
        limits(),
    )
    assert isinstance(meter, MeterReading)
    assert str(meter.kwh_consumed_ac) == "7" and type(meter.voltage) is float


def test_every_problem_of_a_reading_is_named_not_only_the_first() -> None:
    item = {
        "vehicleId": "VH 1",
        "soc": True,
        "kwhDeliveredDc": 5000,
        "batteryTemp": math.nan,
        "timestamp": "2026-02-20T11:59:00",
        "extra": 1,
    }
    assert parse_reading(item, limits()) == (
        None,
        {
            "extra": [
                "unknown field for a vehicle reading (allowed: vehicleId, soc, kwhDeliveredDc, "
                "batteryTemp, timestamp)"
            ],
            "vehicleId": ["must be 1-64 characters of letters, digits, '.', '_', ':' or '-'"],
            "soc": ["must be a number, not bool"],
            "kwhDeliveredDc": [
                "5000 kWh in one interval is not plausible (at most 1000); send the energy "
                "since the previous reading"
            ],
            "batteryTemp": ["must be a finite number"],
            "timestamp": ["needs a UTC offset (Z or +hh:mm), e.g. 2026-02-10T16:23:00Z"],
        },
    )


def _valid_meter(minute: int) -> dict[str, Any]:
    return {
        "meterId": f"MT{minute % 7}",
        "kwhConsumedAc": 0.1 * (minute % 11),
        "voltage": 230.0,
        "timestamp": (NOW - timedelta(minutes=minute)).isoformat(),
    }


BREAKERS: list[Any] = [
    lambda item: {**item, "voltage": 0},
    lambda item: {**item, "kwhConsumedAc": -1},
    lambda item: {k: v for k, v in item.items() if k != "voltage"},
    lambda item: "not a reading",
    # An unknown field named like the location msgspec appends to its messages.
    lambda item: {**item, "x` - at `$[0]": 1},
    lambda item: {**item, "timestamp": "2026-02-20T11:00:00"},
]


@pytest.mark.parametrize(
    "bad_at",
    [{512}, {511}, {1024, 1025}, {0, 511, 512, 513, 1023, 1499}, set(range(0, 1500, 7))],
    ids=["first-of-2nd-chunk", "last-of-1st-chunk", "3rd-chunk", "edges", "every-7th"],
)
def test_bad_readings_anywhere_in_a_big_batch_are_found_and_the_rest_kept(bad_at: set[int]) -> None:
    items: list[Any] = [_valid_meter(minute) for minute in range(1500)]
    for n, index in enumerate(sorted(bad_at)):
        items[index] = BREAKERS[n % len(BREAKERS)](items[index])
    answers = [oracle(item, 1000.0) for item in items]
    readings, bad = parse_readings(items, limits())
    assert set(bad) == {str(index) for index in bad_at}
    assert bad == {str(i): errors for i, (_, errors) in enumerate(answers) if errors}
    assert readings == [reading for reading, _ in answers if reading is not None]


def test_a_bad_reading_costs_a_few_conversions_not_one_per_reading(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls = 0
    convert = msgspec.convert

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        return convert(*args, **kwargs)

    monkeypatch.setattr(msgspec, "convert", counted)
    items: list[Any] = [_valid_meter(minute) for minute in range(1500)]
    items[1023] = BREAKERS[4](items[1023])
    _, bad = parse_readings(items, limits())
    assert list(bad) == ["1023"]
    assert calls < 12


def test_a_message_msgspec_words_differently_only_costs_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # If msgspec ever words where an error is differently, every reading of the chunk is
    # checked on its own: slower, the same answer.
    monkeypatch.setattr(readings_module, "_AT_INDEX", re.compile(r"(?!)"))
    rng = random.Random(7)
    items = [random_reading(rng) for _ in range(600)]
    answers = [oracle(item, 1000.0) for item in items]
    readings, bad = parse_readings(items, limits())
    assert bad == {str(i): errors for i, (_, errors) in enumerate(answers) if errors}
    assert readings == [reading for reading, _ in answers if reading is not None]
