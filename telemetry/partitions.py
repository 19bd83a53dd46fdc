"""Partition maintenance for the history tables (the daily job).

Ranges of TELEMETRY_PARTITION_DAYS days aligned on ORIGIN (UTC midnight), from the backfill age
back to TELEMETRY_PRECREATE_DAYS ahead, plus the DEFAULT partition that catches anything else so
no reading is ever refused. A row in DEFAULT blocks creating the partition that covers it, so
the job moves such rows into their proper partition in the same transaction that creates it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from telemetry import queries
from telemetry.models import MeterHourly, MeterTelemetry, VehicleHourly, VehicleTelemetry

ORIGIN = datetime(2000, 1, 1, tzinfo=UTC)
HISTORY_MODELS = (VehicleTelemetry, MeterTelemetry)
# Each history table's hourly roll-up: retention prunes both together, or the fleet view would
# keep counting energy whose readings are gone while the per-vehicle view (raw at its edges)
# no longer could.
ROLLUPS = {VehicleTelemetry: VehicleHourly, MeterTelemetry: MeterHourly}


@dataclass
class MaintenanceReport:
    created: list[str] = field(default_factory=list)
    moved: dict[str, int] = field(default_factory=dict)
    dropped: list[str] = field(default_factory=list)


def partition_size() -> timedelta:
    return timedelta(days=settings.TELEMETRY_PARTITION_DAYS)


def range_start(ts: datetime, size: timedelta) -> datetime:
    """Start of the partition range that holds ts."""
    return ORIGIN + ((ts - ORIGIN) // size) * size


def partition_name(table: str, start: datetime) -> str:
    return f"{table}_p{start.astimezone(UTC):%Y%m%d}"


def default_partition_name(table: str) -> str:
    return f"{table}_default"


def _overlaps(existing: list[queries.Partition], start: datetime, end: datetime) -> bool:
    return any(
        p.start is not None and p.end is not None and p.start < end and start < p.end
        for p in existing
    )


def _create(
    table: str,
    start: datetime,
    size: timedelta,
    report: MaintenanceReport,
    say: Callable[[str], None],
) -> None:
    end = start + size
    name = partition_name(table, start)
    default = default_partition_name(table)
    with transaction.atomic():
        existing = queries.list_partitions(table)
        if _overlaps(existing, start, end):
            return
        has_default = any(p.is_default for p in existing)
        stashed = 0
        if has_default:
            queries.lock_table_exclusively(table)
            stashed = queries.stash_default_rows(default, start, end)
        queries.create_partition(table, name, start, end)
        if stashed:
            restored = queries.restore_stashed_rows(table)
            if restored != stashed:
                # Rolls the whole move back: not one row may be lost.
                raise RuntimeError(f"{name}: moved {stashed} rows but stored {restored}")
            report.moved[name] = stashed
    report.created.append(name)
    say(
        f"created {name} [{start:%Y-%m-%d %H:%M}, {end:%Y-%m-%d %H:%M})"
        + (f", moved {stashed} rows from {default}" if stashed else "")
    )


def maintain_partitions(
    *,
    now: datetime | None = None,
    days_back: int | None = None,
    days_ahead: int | None = None,
    retention_days: int | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> MaintenanceReport:
    """Create missing partitions, rescue DEFAULT rows, drop partitions past retention.

    Idempotent: run it as often as you like (make run does at start; cron daily).
    """
    now = now or timezone.now()
    days_back = settings.TELEMETRY_BACKFILL_DAYS if days_back is None else days_back
    days_ahead = settings.TELEMETRY_PRECREATE_DAYS if days_ahead is None else days_ahead
    if retention_days is None:
        retention_days = settings.TELEMETRY_RETENTION_DAYS
    size = partition_size()
    report = MaintenanceReport()

    for model in HISTORY_MODELS:
        table = model._meta.db_table
        first = range_start(now - timedelta(days=days_back), size)
        last = range_start(now + timedelta(days=days_ahead), size)
        wanted = []
        start = first
        while start <= last:
            wanted.append(start)
            start += size
        # Rows already in DEFAULT (a clock far off, a partition dropped early) get their own
        # partitions wherever they fall.
        wanted += queries.default_partition_starts(default_partition_name(table), size, ORIGIN)
        existing = queries.list_partitions(table)
        for start in sorted(set(wanted)):
            if not _overlaps(existing, start, start + size):
                _create(table, start, size, report, say)

        if retention_days:
            cutoff = now - timedelta(days=retention_days)
            for partition in queries.list_partitions(table):
                if partition.end is not None and partition.end <= cutoff:
                    with transaction.atomic():
                        queries.drop_partition(partition.name)
                        pruned = queries.delete_rollups_before(ROLLUPS[model], partition.end)
                    report.dropped.append(partition.name)
                    say(
                        f"dropped {partition.name} (ended {partition.end:%Y-%m-%d}, "
                        f"retention {retention_days} days) and {pruned} hourly roll-up rows"
                    )
    return report
