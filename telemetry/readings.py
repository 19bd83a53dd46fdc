"""Posted readings: their rules, declared once, and the parsing that applies them.

`declare` states each reading kind as a msgspec Struct: its JSON fields, their types, bounds and
messages, with the limits that come from settings. Three things read that one declaration:

- `parse_readings` lets msgspec check the readings of a batch in C, all of one kind in one call
  (or a few, around bad ones): a valid batch of thousands is the common case and must cost
  milliseconds;
- the per-field checks that name every problem of a bad reading. msgspec stops at a value's first
  error, and a device engineer is owed all of them, so these checks are built from the Struct's
  constraints as msgspec.inspect reads them back, not written a second time;
- telemetry.schema, which writes the OpenAPI components from the same constraints.

What a Struct cannot state is checked here, once: which kind a reading is (exactly one of vehicleId
or meterId), and a timestamp's format (datetime.fromisoformat's, as always) and window around now.
The error shape is the one DRF uses: {field: [message]}, keyed by the reading's index in a batch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cached_property, lru_cache
from typing import Annotated, Any

import msgspec
import msgspec.inspect
from msgspec import Meta

from fleet.registry.models import (
    DEVICE_ID_MAX_LENGTH,
    DEVICE_ID_PATTERN,
    DEVICE_ID_RE,
    DEVICE_ID_RULE,
)


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

    # Computed once per request, not once per reading of a 5,000-reading batch.
    @cached_property
    def latest(self) -> datetime:
        return self.now + self.max_future

    @cached_property
    def earliest(self) -> datetime:
        return self.now - self.max_age


# A check takes a field's JSON value and gives (value, None) or (None, message).
Check = Callable[[Any, Limits], tuple[Any, str | None]]


# eq=False: a kind is itself (hashed by identity), however many fields it has.
@dataclass(frozen=True, eq=False)
class ReadingKind:
    """One kind of reading as declared, with what is derived from its Struct once."""

    name: str  # as messages say it: "vehicle"
    struct: type[msgspec.Struct]
    batch: Any  # list[struct], the type a whole batch of this kind is converted to
    fields: tuple[str, ...]  # JSON names, in declared order
    checks: tuple[tuple[str, Check], ...]
    energy: str  # the field that becomes a Decimal
    make: Callable[[Mapping[str, Any], datetime, Decimal], Reading]


@dataclass(frozen=True)
class Declaration:
    vehicle: ReadingKind
    meter: ReadingKind


def _minutes(max_future: timedelta) -> int:
    return int(max_future.total_seconds() // 60)


def timestamp_description(max_future: timedelta, max_age: timedelta) -> str:
    return (
        f"ISO-8601 with a UTC offset; at most {_minutes(max_future)} minutes ahead, "
        f"at most {max_age.days} days old."
    )


def _timestamp(value: Any, limits: Limits) -> tuple[datetime | None, str | None]:
    if not isinstance(value, str):
        return None, "must be an ISO-8601 string such as 2026-02-10T16:23:00Z"
    try:
        ts = datetime.fromisoformat(value)
    except ValueError:
        return None, "is not ISO-8601; send e.g. 2026-02-10T16:23:00Z"
    if ts.tzinfo is None or ts.utcoffset() is None:
        return None, "needs a UTC offset (Z or +hh:mm), e.g. 2026-02-10T16:23:00Z"
    try:
        ts = ts.astimezone(UTC)
    except OverflowError:
        # 0001-01-01T00:00+01:00 is before the first instant Python has (and 9999-12-31 at
        # -14:00 after the last): far outside the window either way.
        year_one = ts.year == 1
        return None, (
            f"is older than {limits.max_age.days} days; too old to accept"
            if year_one
            else f"is more than {_minutes(limits.max_future)} minutes in the future; check the "
            "device clock"
        )
    if ts > limits.latest:
        return None, (
            f"is more than {_minutes(limits.max_future)} minutes in the future; check the "
            "device clock"
        )
    if ts < limits.earliest:
        return None, f"is older than {limits.max_age.days} days; too old to accept"
    return ts, None


def _text_check(rule: msgspec.inspect.StrType, message: str) -> Check:
    # msgspec applies a pattern with re.search; so does this, so both accept the same strings.
    pattern = re.compile(rule.pattern) if rule.pattern is not None else None
    shortest, longest = rule.min_length or 0, rule.max_length

    def check(value: Any, limits: Limits) -> tuple[Any, str | None]:
        if (
            not isinstance(value, str)
            or len(value) < shortest
            or (longest is not None and len(value) > longest)
            or (pattern is not None and not pattern.search(value))
        ):
            return None, message
        return value, None

    return check


def _number_check(rule: msgspec.inspect.FloatType, messages: Mapping[str, str]) -> Check:
    if rule.gt is not None:
        out_of_range = "must be above {gt:g} and at most {le:g}"
    else:
        out_of_range = "must be between {ge:g} and {le:g}"
    gt, ge, lt, le = rule.gt, rule.ge, rule.lt, rule.le
    bounds = {"gt": gt, "ge": ge, "lt": lt, "le": le}
    too_low = messages.get("too_low", out_of_range)
    too_high = messages.get("too_high", out_of_range)

    def check(value: Any, limits: Limits) -> tuple[Any, str | None]:
        # bool is an int in Python but never a measurement (msgspec refuses it too).
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return None, f"must be a number, not {type(value).__name__}"
        if not math.isfinite(value):
            return None, "must be a finite number"
        number = float(value)
        if (gt is not None and number <= gt) or (ge is not None and number < ge):
            return None, too_low.format(value=number, **bounds)
        if (lt is not None and number >= lt) or (le is not None and number > le):
            return None, too_high.format(value=number, **bounds)
        return number, None

    return check


def _checks(struct: type[msgspec.Struct]) -> tuple[tuple[str, Check], ...]:
    checks: list[tuple[str, Check]] = []
    info = msgspec.inspect.type_info(struct)
    assert isinstance(info, msgspec.inspect.StructType)
    for field in info.fields:
        rule = field.type
        extra: dict[str, Any] = {}
        while isinstance(rule, msgspec.inspect.Metadata):
            extra |= rule.extra or {}
            rule = rule.type
        if extra.get("timestamp"):
            checks.append((field.encode_name, _timestamp))
        elif isinstance(rule, msgspec.inspect.StrType):
            checks.append((field.encode_name, _text_check(rule, extra["message"])))
        elif isinstance(rule, msgspec.inspect.FloatType):
            checks.append((field.encode_name, _number_check(rule, extra)))
        else:
            raise TypeError(f"no check for {field.encode_name}: {rule!r}")
    return tuple(checks)


def _kind(
    name: str,
    struct: type[msgspec.Struct],
    energy: str,
    make: Callable[[Mapping[str, Any], datetime, Decimal], Reading],
) -> ReadingKind:
    return ReadingKind(
        # list[struct], built at run time (the struct is an argument, not a static type).
        name,
        struct,
        list.__class_getitem__(struct),
        struct.__struct_fields__,
        _checks(struct),
        energy,
        make,
    )


def _vehicle(values: Mapping[str, Any], ts: datetime, energy: Decimal) -> VehicleReading:
    return VehicleReading(
        values["vehicleId"], ts, float(values["soc"]), energy, float(values["batteryTemp"])
    )


def _meter(values: Mapping[str, Any], ts: datetime, energy: Decimal) -> MeterReading:
    return MeterReading(values["meterId"], ts, energy, float(values["voltage"]))


@lru_cache(maxsize=16)
def _declare(max_interval_kwh: float, max_future: timedelta, max_age: timedelta) -> Declaration:
    device_id = Annotated[
        str,
        Meta(
            min_length=1,
            max_length=DEVICE_ID_MAX_LENGTH,
            # Python's `$` also matches before a final newline, so the check is anchored with \A
            # and \Z; the schema shows the ECMA-262 pattern, where `$` is the end of the string.
            pattern=rf"\A(?:{DEVICE_ID_RE.pattern})\Z",
            extra_json_schema={"pattern": DEVICE_ID_PATTERN},
            extra={"message": f"must be {DEVICE_ID_RULE}"},
        ),
    ]
    energy = Annotated[
        float,
        Meta(
            ge=0,
            le=max_interval_kwh,
            extra={
                "too_low": "must not be negative (it is the energy of one interval, in kWh)",
                "too_high": "{value:g} kWh in one interval is not plausible (at most {le:g}); "
                "send the energy since the previous reading",
            },
        ),
    ]
    timestamp = Annotated[
        str,
        Meta(
            description=timestamp_description(max_future, max_age),
            extra_json_schema={"format": "date-time"},
            extra={"timestamp": True},
        ),
    ]
    vehicle = msgspec.defstruct(
        "VehicleReading",
        [
            ("vehicleId", device_id),
            ("soc", Annotated[float, Meta(ge=0, le=100, description="State of charge, %.")]),
            (
                "kwhDeliveredDc",
                Annotated[
                    energy,
                    Meta(description="kWh delivered into the battery since the previous reading."),
                ],
            ),
            ("batteryTemp", Annotated[float, Meta(ge=-50, le=150, description="°C.")]),
            ("timestamp", timestamp),
        ],
        forbid_unknown_fields=True,
        namespace={"__doc__": "A vehicle's reading: its battery, on the DC side of the charger."},
    )
    meter = msgspec.defstruct(
        "MeterReading",
        [
            ("meterId", device_id),
            (
                "kwhConsumedAc",
                Annotated[
                    energy, Meta(description="kWh drawn from the grid since the previous reading.")
                ],
            ),
            ("voltage", Annotated[float, Meta(gt=0, le=2000, description="V.")]),
            ("timestamp", timestamp),
        ],
        forbid_unknown_fields=True,
        namespace={"__doc__": "A smart meter's reading: the grid, on the AC side of the charger."},
    )
    return Declaration(
        vehicle=_kind("vehicle", vehicle, "kwhDeliveredDc", _vehicle),
        meter=_kind("meter", meter, "kwhConsumedAc", _meter),
    )


def declare(limits: Limits) -> Declaration:
    """The reading kinds under these limits (one Struct per kind and set of limits, cached)."""
    return _declare(limits.max_interval_kwh, limits.max_future, limits.max_age)


def _decimal(value: int | float) -> Decimal:
    # msgspec turns a float into the Decimal of its shortest round-tripping repr (12.3 stays
    # exactly 12.3) and an int into itself, the same as Decimal(repr(value)) but in C.
    return msgspec.convert(value, Decimal)


def _kind_of(item: Any, declaration: Declaration) -> ReadingKind | None:
    """A reading is a JSON object with exactly one of vehicleId or meterId; None otherwise."""
    if not isinstance(item, dict):
        return None
    has_vehicle = "vehicleId" in item
    if has_vehicle == ("meterId" in item):
        return None
    return declaration.vehicle if has_vehicle else declaration.meter


def _kindless(item: Any) -> Errors:
    if not isinstance(item, dict):
        return {"non_field_errors": ["a reading must be a JSON object"]}
    which = "both" if "vehicleId" in item else "neither"
    return {
        "non_field_errors": [
            f"a reading has exactly one of vehicleId or meterId; this one has {which}"
        ]
    }


def _every_problem(
    item: dict[str, Any], kind: ReadingKind, limits: Limits
) -> tuple[Reading | None, Errors]:
    """Every field's check, so the errors name all that is wrong with the reading."""
    errors: Errors = {}
    for field in item:
        if field not in kind.fields:
            errors[field] = [
                f"unknown field for a {kind.name} reading (allowed: {', '.join(kind.fields)})"
            ]
    values: dict[str, Any] = {}
    for field, check in kind.checks:
        if field not in item:
            errors[field] = ["is required"]
            continue
        value, message = check(item[field], limits)
        if message is not None:
            errors[field] = [message]
        values[field] = value
    if errors:
        return None, errors
    return kind.make(values, values["timestamp"], _decimal(item[kind.energy])), {}


def parse_reading(item: Any, limits: Limits) -> tuple[Reading | None, Errors]:
    """One reading from its JSON form, or the errors that make it invalid."""
    return _parse_one(item, declare(limits), limits)


def _parse_one(
    item: Any, declaration: Declaration, limits: Limits
) -> tuple[Reading | None, Errors]:
    kind = _kind_of(item, declaration)
    if kind is None:
        return None, _kindless(item)
    try:
        msgspec.convert(item, kind.struct)
    except msgspec.ValidationError:
        # The per-field checks decide (msgspec only ever refuses what they refuse too).
        return _every_problem(item, kind, limits)
    ts, message = _timestamp(item["timestamp"], limits)
    if ts is None:
        return None, {"timestamp": [message]}  # type: ignore[list-item]
    return kind.make(item, ts, _decimal(item[kind.energy])), {}


# msgspec ends a ValidationError's message with where it is, e.g. "... - at `$[17].soc`".
# Anchored at the end: a field's name (user input) in the message must not be taken for it.
_AT_INDEX = re.compile(r" - at `\$\[(\d+)\](?:\.\w+)?`\Z")
# At most this many are converted at a time, so resuming after a bad reading converts again
# only what is left of its chunk, never the rest of a 5,000-reading batch.
_CHUNK = 512


def _refused(group: list[dict[str, Any]], kind: ReadingKind) -> set[int]:
    """The positions in group of the readings kind's Struct refuses. msgspec stops at the first
    error of a batch and names its index, so each call resumes after the last bad reading: a
    batch costs one C call per chunk and per bad reading, not one per reading."""
    refused: set[int] = set()
    start = 0
    while start < len(group):
        chunk = group[start : start + _CHUNK]
        try:
            msgspec.convert(chunk, kind.batch)
        except msgspec.ValidationError as exc:
            at = _AT_INDEX.search(str(exc))
            if at is None:  # not the message msgspec writes: each of the chunk on its own
                refused.update(range(start, start + len(chunk)))
                start += len(chunk)
            else:
                refused.add(start + int(at[1]))
                start += int(at[1]) + 1
        else:
            start += len(chunk)
    return refused


def parse_readings(items: list[Any], limits: Limits) -> tuple[list[Reading], dict[str, Errors]]:
    """All valid readings of a batch, in order, and the errors of every bad one by its index."""
    declaration = declare(limits)
    kinds: list[ReadingKind | None] = []
    groups: dict[ReadingKind, tuple[list[int], list[dict[str, Any]]]] = {
        declaration.vehicle: ([], []),
        declaration.meter: ([], []),
    }
    for index, item in enumerate(items):
        kind = _kind_of(item, declaration)
        kinds.append(kind)
        if kind is not None:
            indices, group = groups[kind]
            indices.append(index)
            group.append(item)
    refused: set[int] = set()
    energies: dict[ReadingKind, Iterator[Decimal]] = {}
    for kind, (indices, group) in groups.items():
        positions = _refused(group, kind)
        if positions:
            refused.update(indices[p] for p in positions)
            group = [item for p, item in enumerate(group) if p not in positions]
        # Every energy of the kind to a Decimal in one C call.
        energies[kind] = iter(msgspec.convert([item[kind.energy] for item in group], list[Decimal]))
    readings: list[Reading] = []
    bad: dict[str, Errors] = {}
    for index, (item, kind) in enumerate(zip(items, kinds, strict=True)):
        if kind is None:
            bad[str(index)] = _kindless(item)
            continue
        if index in refused:
            # The per-field checks decide, and name every problem of the reading.
            reading, errors = _every_problem(item, kind, limits)
            if reading is None:
                bad[str(index)] = errors
            else:
                readings.append(reading)
            continue
        energy = next(energies[kind])
        ts, message = _timestamp(item["timestamp"], limits)
        if ts is None:
            bad[str(index)] = {"timestamp": [message]}  # type: ignore[list-item]
        else:
            readings.append(kind.make(item, ts, energy))
    return readings, bad
