"""Parsing and validation of posted readings.

Hand-written rather than DRF serializers: a 5,000-reading batch must validate in a few
milliseconds, and serializers cost tens of microseconds per field. The error shape is the same
one DRF uses: {field: [message, ...]}, keyed by the reading's index in a batch.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from fleet.models import DEVICE_ID_PATTERN

_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)

VEHICLE_FIELDS = ("vehicleId", "soc", "kwhDeliveredDc", "batteryTemp", "timestamp")
METER_FIELDS = ("meterId", "kwhConsumedAc", "voltage", "timestamp")
_VEHICLE_SET = frozenset(VEHICLE_FIELDS)
_METER_SET = frozenset(METER_FIELDS)


@dataclass(frozen=True, slots=True)
class VehicleReading:
    vehicle_id: str
    ts: datetime
    soc: float
    kwh_delivered_dc: Decimal
    battery_temp: float


@dataclass(frozen=True, slots=True)
class MeterReading:
    meter_id: str
    ts: datetime
    kwh_consumed_ac: Decimal
    voltage: float


Reading = VehicleReading | MeterReading
Errors = dict[str, list[str]]


@dataclass(frozen=True)
class Limits:
    now: datetime
    max_future: timedelta
    max_age: timedelta
    max_interval_kwh: float


def _number(value: Any, field: str, errors: Errors) -> float | None:
    # bool is an int in Python but never a measurement.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        errors[field] = [f"must be a number, not {type(value).__name__}"]
        return None
    if not math.isfinite(value):
        errors[field] = ["must be a finite number"]
        return None
    return float(value)


def _between(value: float | None, field: str, low: float, high: float, errors: Errors) -> None:
    if value is not None and not low <= value <= high:
        errors[field] = [f"must be between {low:g} and {high:g}"]


def _energy(value: Any, field: str, limits: Limits, errors: Errors) -> Decimal | None:
    number = _number(value, field, errors)
    if number is None:
        return None
    if number < 0:
        errors[field] = ["must not be negative (it is the energy of one interval, in kWh)"]
        return None
    if number > limits.max_interval_kwh:
        errors[field] = [
            f"{number:g} kWh in one interval is not plausible (at most "
            f"{limits.max_interval_kwh:g}); send the energy since the previous reading"
        ]
        return None
    # repr of a float is its shortest round-tripping decimal: 12.3 stays exactly 12.3.
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def _device_id(value: Any, field: str, errors: Errors) -> str | None:
    if not isinstance(value, str) or not _DEVICE_ID.match(value):
        errors[field] = ["must be 1-64 characters of letters, digits, '.', '_', ':' or '-'"]
        return None
    return value


def _timestamp(value: Any, limits: Limits, errors: Errors) -> datetime | None:
    if not isinstance(value, str):
        errors["timestamp"] = ["must be an ISO-8601 string such as 2026-02-10T16:23:00Z"]
        return None
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        errors["timestamp"] = ["is not ISO-8601; send e.g. 2026-02-10T16:23:00Z"]
        return None
    if ts.tzinfo is None or ts.utcoffset() is None:
        errors["timestamp"] = ["needs a UTC offset (Z or +hh:mm), e.g. 2026-02-10T16:23:00Z"]
        return None
    ts = ts.astimezone(UTC)
    if ts > limits.now + limits.max_future:
        errors["timestamp"] = [
            f"is more than {int(limits.max_future.total_seconds() // 60)} minutes in the "
            "future; check the device clock"
        ]
        return None
    if ts < limits.now - limits.max_age:
        errors["timestamp"] = [f"is older than {limits.max_age.days} days; too old to accept"]
        return None
    return ts


def _unknown(item: dict[str, Any], allowed: frozenset[str], kind: str, errors: Errors) -> None:
    for field in item.keys() - allowed:
        errors[field] = [
            f"unknown field for a {kind} reading (allowed: "
            f"{', '.join(VEHICLE_FIELDS if kind == 'vehicle' else METER_FIELDS)})"
        ]


def _missing(item: dict[str, Any], fields: tuple[str, ...], errors: Errors) -> None:
    for field in fields:
        if field not in item:
            errors[field] = ["is required"]


def _present(item: dict[str, Any], field: str, errors: Errors, check: Any) -> Any:
    """check(value) for a field that is there; None (already reported) for a missing one."""
    if field not in item:
        return None
    return check(item[field])


def parse_reading(item: Any, limits: Limits) -> tuple[Reading | None, Errors]:
    """One reading from its JSON form, or the errors that make it invalid."""
    errors: Errors = {}
    if not isinstance(item, dict):
        return None, {"non_field_errors": ["a reading must be a JSON object"]}
    has_vehicle, has_meter = "vehicleId" in item, "meterId" in item
    if has_vehicle == has_meter:
        which = "both" if has_vehicle else "neither"
        return None, {
            "non_field_errors": [
                f"a reading has exactly one of vehicleId or meterId; this one has {which}"
            ]
        }
    if has_vehicle:
        _unknown(item, _VEHICLE_SET, "vehicle", errors)
        _missing(item, VEHICLE_FIELDS, errors)
        get = item.get
        vehicle_id = _device_id(get("vehicleId"), "vehicleId", errors)
        soc = _present(item, "soc", errors, lambda v: _number(v, "soc", errors))
        _between(soc, "soc", 0, 100, errors)
        kwh = _present(
            item, "kwhDeliveredDc", errors, lambda v: _energy(v, "kwhDeliveredDc", limits, errors)
        )
        temp = _present(item, "batteryTemp", errors, lambda v: _number(v, "batteryTemp", errors))
        _between(temp, "batteryTemp", -50, 150, errors)
        ts = _present(item, "timestamp", errors, lambda v: _timestamp(v, limits, errors))
        if errors:
            return None, errors
        return VehicleReading(vehicle_id, ts, soc, kwh, temp), errors  # type: ignore[arg-type]

    _unknown(item, _METER_SET, "meter", errors)
    _missing(item, METER_FIELDS, errors)
    meter_id = _device_id(item.get("meterId"), "meterId", errors)
    kwh = _present(
        item, "kwhConsumedAc", errors, lambda v: _energy(v, "kwhConsumedAc", limits, errors)
    )
    voltage = _present(item, "voltage", errors, lambda v: _number(v, "voltage", errors))
    if voltage is not None and not 0 < voltage <= 2000:
        errors["voltage"] = ["must be above 0 and at most 2000"]
    ts = _present(item, "timestamp", errors, lambda v: _timestamp(v, limits, errors))
    if errors:
        return None, errors
    return MeterReading(meter_id, ts, kwh, voltage), errors  # type: ignore[arg-type]


def parse_readings(items: list[Any], limits: Limits) -> tuple[list[Reading], dict[str, Errors]]:
    """All readings of a batch, or the errors of every bad one keyed by its index."""
    readings: list[Reading] = []
    bad: dict[str, Errors] = {}
    for index, item in enumerate(items):
        reading, errors = parse_reading(item, limits)
        if errors:
            bad[str(index)] = errors
        else:
            readings.append(reading)  # type: ignore[arg-type]
    return readings, bad
