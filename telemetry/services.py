"""Ingestion: the one write path every transport (HTTP today) goes through."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from operator import attrgetter
from typing import Any, TypeVar

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from fleet.plumbing import citus
from fleet.plumbing.db import on_live_connection
from fleet.plumbing.errors import ApiError
from fleet.registry.models import ApiKey, Meter, Vehicle
from telemetry import metrics, queries
from telemetry.models import VehicleTelemetry
from telemetry.readings import (
    Errors,
    Limits,
    MeterReading,
    Reading,
    VehicleReading,
    parse_reading,
    parse_readings,
)


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    vehicle_accepted: int = 0
    meter_accepted: int = 0
    vehicle_readings: int = 0
    meter_readings: int = 0


def current_limits(now: datetime | None = None) -> Limits:
    return Limits(
        now=now or timezone.now(),
        max_future=timedelta(seconds=settings.TELEMETRY_MAX_FUTURE_SECONDS),
        max_age=timedelta(days=settings.TELEMETRY_BACKFILL_DAYS),
        max_interval_kwh=settings.TELEMETRY_MAX_INTERVAL_KWH,
    )


def check_key_may_post(key: ApiKey, readings: Iterable[Reading]) -> None:
    """A key bound to one device may post only that device's readings (403 otherwise)."""
    bound = key.bound_device
    if bound is None:
        return
    kind, device_id = bound
    for index, reading in enumerate(readings):
        if isinstance(reading, VehicleReading):
            theirs = ("vehicle", reading.vehicle_id)
        else:
            theirs = ("meter", reading.meter_id)
        if theirs != bound:
            raise ApiError(
                403,
                f"This key is bound to {kind} {device_id}; reading {index} is for "
                f"{theirs[0]} {theirs[1]}. Nothing was stored.",
            )


R = TypeVar("R", VehicleReading, MeterReading)


def _first_of_each_key(readings: list[R], key: Callable[[R], tuple[str, datetime]]) -> list[R]:
    """Drop repeats of a (device, ts) within one batch; the first one counts, as in storage."""
    seen: set[tuple[str, datetime]] = set()
    unique: list[R] = []
    for reading in readings:
        k = key(reading)
        if k not in seen:
            seen.add(k)
            unique.append(reading)
    return unique


def ingest_readings(readings: list[Reading]) -> IngestResult:
    """Store a validated batch: all of it or none of it.

    One statement (telemetry.queries.store_readings): device registration, history INSERT ...
    ON CONFLICT DO NOTHING, the time-guarded hot UPSERT and the hourly roll-ups, each one
    sub-statement per kind, in a fixed order and each in key order, so concurrent batches
    cannot deadlock. One statement is one transaction; inside a caller's transaction it runs
    under a savepoint, as a nested atomic block always did. When the tables are distributed
    (Citus), the shard-routed form runs instead: one multi-row statement per table in one
    transaction (_store_routed), or for a single reading of a registered device one call of
    its function (_store_one).
    """
    posted_vehicles: list[VehicleReading] = [r for r in readings if isinstance(r, VehicleReading)]
    posted_meters: list[MeterReading] = [r for r in readings if isinstance(r, MeterReading)]
    vehicles = sorted(
        _first_of_each_key(posted_vehicles, lambda r: (r.vehicle_id, r.ts)),
        key=attrgetter("vehicle_id", "ts"),
    )
    meters = sorted(
        _first_of_each_key(posted_meters, lambda r: (r.meter_id, r.ts)),
        key=attrgetter("meter_id", "ts"),
    )
    vehicle_columns = queries.VehicleColumns.of(vehicles)
    meter_columns = queries.MeterColumns.of(meters)
    stored_one = None
    distributed = citus.layout(VehicleTelemetry._meta.db_table) == "distributed"
    if distributed and len(vehicles) + len(meters) == 1:
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            stored_one = _store_one(vehicles, meters)
    if stored_one is not None:
        vehicle_accepted, meter_accepted = stored_one
    elif distributed:
        with transaction.atomic():
            vehicle_accepted, meter_accepted = _store_routed(vehicle_columns, meter_columns)
    else:
        with transaction.atomic() if connection.in_atomic_block else nullcontext():
            vehicle_accepted, meter_accepted = queries.store_readings(
                vehicle_columns, meter_columns
            )
    accepted = vehicle_accepted + meter_accepted
    return IngestResult(
        accepted=accepted,
        duplicates=len(readings) - accepted,
        vehicle_accepted=vehicle_accepted,
        meter_accepted=meter_accepted,
        vehicle_readings=len(posted_vehicles),
        meter_readings=len(posted_meters),
    )


def _hour(ts: datetime) -> datetime:
    return ts.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def _newest_per_device(stored: queries.ShardRows) -> queries.ShardRows:
    """Each device's newest stored row (rows are (device_id, ts, ...)), in device order."""
    newest: dict[str, tuple[Any, ...]] = {}
    for row in stored:
        held = newest.get(row[0])
        if held is None or held[1] < row[1]:
            newest[row[0]] = row
    return [newest[device] for device in sorted(newest)]


def _vehicle_hours(stored: queries.ShardRows) -> queries.ShardRows:
    """(vehicle_id, hour, kwh, temperature sum, readings) of the stored rows, in key order."""
    sums: dict[tuple[str, datetime], list[Any]] = {}
    for vehicle_id, ts, _soc, kwh, temp in stored:
        acc = sums.setdefault((vehicle_id, _hour(ts)), [Decimal(0), 0.0, 0])
        acc[0] += kwh
        acc[1] += temp
        acc[2] += 1
    return [(*key, *sums[key]) for key in sorted(sums)]


def _meter_hours(stored: queries.ShardRows) -> queries.ShardRows:
    """(meter_id, hour, kwh, readings) of the stored rows, in key order."""
    sums: dict[tuple[str, datetime], list[Any]] = {}
    for meter_id, ts, kwh, _voltage in stored:
        acc = sums.setdefault((meter_id, _hour(ts)), [Decimal(0), 0])
        acc[0] += kwh
        acc[1] += 1
    return [(*key, *sums[key]) for key in sorted(sums)]


def _store_one(
    vehicles: list[VehicleReading], meters: list[MeterReading]
) -> tuple[int, int] | None:
    """A single reading through its device's function (one round trip, and on Citus one call
    run whole on the device's worker): (vehicle stored, meter stored), or None when the device
    is not registered yet and the reading must take the batch path, which registers it."""
    if vehicles:
        stored = queries.store_one_vehicle_reading(vehicles[0])
        return None if stored < 0 else (stored, 0)
    stored = queries.store_one_meter_reading(meters[0])
    return None if stored < 0 else (0, stored)


def _store_routed(
    vehicles: queries.VehicleColumns | None, meters: queries.MeterColumns | None
) -> tuple[int, int]:
    """The shard-routed form of queries.store_readings (see the note above its statements),
    inside the caller's transaction: the same rows stored, counted and rolled up."""
    vehicle_ids = sorted(set(vehicles.vehicle_ids)) if vehicles else []
    meter_ids = sorted(set(meters.meter_ids)) if meters else []
    known_vehicles, known_meters = queries.begin_routed_batch(vehicle_ids, meter_ids)
    new_vehicles = [v for v in vehicle_ids if v not in known_vehicles]
    new_meters = [m for m in meter_ids if m not in known_meters]
    if new_vehicles:
        queries.register_devices(Vehicle, new_vehicles)
    if new_meters:
        queries.register_devices(Meter, new_meters)
    vehicle_accepted = meter_accepted = 0
    if vehicles is not None:
        stored = queries.insert_vehicle_history(vehicles)
        if stored:
            queries.upsert_vehicle_status(_newest_per_device(stored))
            queries.add_vehicle_hourly(_vehicle_hours(stored))
        vehicle_accepted = len(stored)
    if meters is not None:
        stored = queries.insert_meter_history(meters)
        if stored:
            queries.upsert_meter_status(_newest_per_device(stored))
            queries.add_meter_hourly(_meter_hours(stored))
        meter_accepted = len(stored)
    return vehicle_accepted, meter_accepted


def _count_rejected(items: list[Any]) -> None:
    for item in items:
        kind = "vehicle" if isinstance(item, dict) and "vehicleId" in item else "meter"
        if not isinstance(item, dict) or ("vehicleId" in item) == ("meterId" in item):
            kind = "unknown"
        metrics.READINGS_REJECTED.labels(kind).inc()


# An error names at most this many bad readings, and this many problems per reading, then says
# how many more there were: a 5 MB body of junk must not come back as a 50 MB error.
MAX_READINGS_LISTED = 20
MAX_PROBLEMS_LISTED = 10
MORE = "more"


def _bounded_problems(errors: Errors) -> Errors:
    if len(errors) <= MAX_PROBLEMS_LISTED:
        return errors
    kept = dict(list(errors.items())[:MAX_PROBLEMS_LISTED])
    kept[MORE] = [f"and {len(errors) - MAX_PROBLEMS_LISTED:,} more problems in this reading"]
    return kept


def _bounded_readings(bad: dict[str, Errors]) -> dict[str, Any]:
    listed: dict[str, Any] = {
        index: _bounded_problems(errors)
        for index, errors in list(bad.items())[:MAX_READINGS_LISTED]
    }
    if len(bad) > MAX_READINGS_LISTED:
        listed[MORE] = [
            f"and {len(bad) - MAX_READINGS_LISTED:,} more invalid readings; fix these and "
            "send again to see the rest"
        ]
    return listed


def parse_payload(payload: Any, limits: Limits) -> list[Reading]:
    """The readings of a parsed body: one reading (an object) or a batch (an array of at most
    TELEMETRY_MAX_BATCH), all valid, or an ApiError (400, 413) that names every bad one."""
    if isinstance(payload, dict):
        reading, errors = parse_reading(payload, limits)
        if errors or reading is None:
            _count_rejected([payload])
            raise ApiError(
                400, "The reading is invalid; nothing was stored.", _bounded_problems(errors)
            )
        return [reading]
    if not isinstance(payload, list):
        raise ApiError(400, "The body must be one reading object or an array of reading objects.")
    if not payload:
        raise ApiError(400, "The array is empty; send at least one reading.")
    if len(payload) > settings.TELEMETRY_MAX_BATCH:
        raise ApiError(
            413,
            f"The batch has {len(payload)} readings; the limit is "
            f"{settings.TELEMETRY_MAX_BATCH}. Split it.",
        )
    readings, bad = parse_readings(payload, limits)
    if bad:
        _count_rejected(payload)
        raise ApiError(
            400,
            f"{len(bad)} of {len(payload)} readings are invalid; nothing was stored.",
            _bounded_readings(bad),
        )
    return readings


def ingest_payload(payload: Any, key: ApiKey, *, now: datetime | None = None) -> IngestResult:
    """Validate and store what a device sent (one reading or a batch, as parsed JSON) on
    behalf of `key`: all of it or none of it.

    The single entry point of every transport: the limits, the bound-device rule, storage and
    the metrics are the same whichever way a reading arrived. Raises ApiError with the status
    and body the HTTP API answers (400, 403, 413); nothing is written then.
    """
    readings = parse_payload(payload, current_limits(now))
    check_key_may_post(key, readings)
    return store(readings)


def store(readings: list[Reading]) -> IngestResult:
    """Store validated readings, all or none, and count them in the metrics: the write half
    of ingest_payload, for a transport that validates message by message and stores the good
    ones together.

    With the API key cached (fleet.registry.auth), this is often a request's first statement,
    so it is the one that finds a connection the server has closed."""
    result = on_live_connection(lambda: ingest_readings(readings))
    metrics.INGEST_BATCH_SIZE.observe(len(readings))
    for kind, total, accepted in (
        ("vehicle", result.vehicle_readings, result.vehicle_accepted),
        ("meter", result.meter_readings, result.meter_accepted),
    ):
        if accepted:
            metrics.READINGS_ACCEPTED.labels(kind).inc(accepted)
        if total - accepted:
            metrics.READINGS_DUPLICATE.labels(kind).inc(total - accepted)
    return result
