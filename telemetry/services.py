"""Ingestion: the write path of POST /v1/telemetry."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from operator import attrgetter

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from rest_framework.exceptions import PermissionDenied

from fleet import queries as fleet_queries
from fleet.models import ApiKey, Meter, Vehicle
from telemetry import queries
from telemetry.readings import Limits, MeterReading, Reading, VehicleReading


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int


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
            raise PermissionDenied(
                f"This key is bound to {kind} {device_id}; reading {index} is for "
                f"{theirs[0]} {theirs[1]}. Nothing was stored."
            )


def _first_of_each_key(readings: list[Reading], key: attrgetter) -> list[Reading]:
    """Drop repeats of a (device, ts) within one batch; the first one counts, as in storage."""
    seen: set[tuple[str, datetime]] = set()
    unique = []
    for reading in readings:
        k = key(reading)
        if k not in seen:
            seen.add(k)
            unique.append(reading)
    return unique


def _hour(ts: datetime) -> datetime:
    return ts.replace(minute=0, second=0, microsecond=0)


def _newest_per_device(readings: list[Reading], device: attrgetter) -> list[Reading]:
    newest: dict[str, Reading] = {}
    for reading in readings:
        current = newest.get(device(reading))
        if current is None or reading.ts > current.ts:
            newest[device(reading)] = reading
    return [newest[d] for d in sorted(newest)]


def _store_vehicle_readings(readings: list[VehicleReading]) -> int:
    stored = queries.insert_vehicle_history(
        [r.vehicle_id for r in readings],
        [r.ts for r in readings],
        [r.soc for r in readings],
        [r.kwh_delivered_dc for r in readings],
        [r.battery_temp for r in readings],
    )
    if len(stored) < len(readings):
        readings = [r for r in readings if (r.vehicle_id, r.ts) in stored]
    if not readings:
        return 0
    newest = _newest_per_device(readings, attrgetter("vehicle_id"))
    queries.upsert_vehicle_status(
        [r.vehicle_id for r in newest],
        [r.ts for r in newest],
        [r.soc for r in newest],
        [r.kwh_delivered_dc for r in newest],
        [r.battery_temp for r in newest],
    )
    hourly: dict[tuple[str, datetime], list] = defaultdict(lambda: [Decimal(0), 0.0, 0])
    for r in readings:
        bucket = hourly[(r.vehicle_id, _hour(r.ts))]
        bucket[0] += r.kwh_delivered_dc
        bucket[1] += r.battery_temp
        bucket[2] += 1
    keys = sorted(hourly)
    queries.add_vehicle_hourly(
        [k[0] for k in keys],
        [k[1] for k in keys],
        [hourly[k][0] for k in keys],
        [hourly[k][1] for k in keys],
        [hourly[k][2] for k in keys],
    )
    return len(readings)


def _store_meter_readings(readings: list[MeterReading]) -> int:
    stored = queries.insert_meter_history(
        [r.meter_id for r in readings],
        [r.ts for r in readings],
        [r.kwh_consumed_ac for r in readings],
        [r.voltage for r in readings],
    )
    if len(stored) < len(readings):
        readings = [r for r in readings if (r.meter_id, r.ts) in stored]
    if not readings:
        return 0
    newest = _newest_per_device(readings, attrgetter("meter_id"))
    queries.upsert_meter_status(
        [r.meter_id for r in newest],
        [r.ts for r in newest],
        [r.kwh_consumed_ac for r in newest],
        [r.voltage for r in newest],
    )
    hourly: dict[tuple[str, datetime], list] = defaultdict(lambda: [Decimal(0), 0])
    for r in readings:
        bucket = hourly[(r.meter_id, _hour(r.ts))]
        bucket[0] += r.kwh_consumed_ac
        bucket[1] += 1
    keys = sorted(hourly)
    queries.add_meter_hourly(
        [k[0] for k in keys],
        [k[1] for k in keys],
        [hourly[k][0] for k in keys],
        [hourly[k][1] for k in keys],
    )
    return len(readings)


def ingest_readings(readings: list[Reading]) -> IngestResult:
    """Store a validated batch: all of it or none of it.

    One transaction: device registration, history INSERT ... ON CONFLICT DO NOTHING, the
    time-guarded hot UPSERT and the hourly roll-ups, each one statement per kind. Every
    statement takes its locks in key order, and the statements run in the same order in
    every request (vehicles before meters), so concurrent batches cannot deadlock.
    """
    vehicles: list[VehicleReading] = [r for r in readings if isinstance(r, VehicleReading)]
    meters: list[MeterReading] = [r for r in readings if isinstance(r, MeterReading)]
    vehicles = sorted(
        _first_of_each_key(vehicles, attrgetter("vehicle_id", "ts")),
        key=attrgetter("vehicle_id", "ts"),
    )
    meters = sorted(
        _first_of_each_key(meters, attrgetter("meter_id", "ts")),
        key=attrgetter("meter_id", "ts"),
    )
    accepted = 0
    with transaction.atomic():
        if vehicles:
            fleet_queries.insert_missing_devices(Vehicle, [r.vehicle_id for r in vehicles])
        if meters:
            fleet_queries.insert_missing_devices(Meter, [r.meter_id for r in meters])
        if vehicles:
            accepted += _store_vehicle_readings(vehicles)
        if meters:
            accepted += _store_meter_readings(meters)
    return IngestResult(accepted=accepted, duplicates=len(readings) - accepted)
