"""Bulk map import (the admin's CSV import): many rows checked together, all or nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleet.registry import queries
from fleet.registry.models import (
    DEVICE_ID_RULE,
    Meter,
    Vehicle,
    VehicleMeterMap,
    device_id_validator,
    overlaps,
)
from fleet.registry.services.devices import register_devices


@dataclass(frozen=True)
class MapRow:
    """One row of a map import: a mapping of vehicle to meter during [valid_from, valid_to)."""

    number: int
    vehicle_id: str
    meter_id: str
    valid_from: datetime
    valid_to: datetime | None


@dataclass
class MapImportReport:
    created: dict[int, int | None] = field(default_factory=dict)  # row number -> new map id
    closed: dict[int, int] = field(default_factory=dict)  # row number -> closed map id
    skipped: list[int] = field(default_factory=list)
    errors: dict[int, list[str]] = field(default_factory=dict)


@dataclass
class _Span:
    vehicle_id: str
    meter_id: str
    start: datetime
    end: datetime | None
    pk: int | None = None
    closed_at: datetime | None = None

    def overlaps(self, start: datetime, end: datetime | None) -> bool:
        return overlaps(self.start, self.end, start, end)

    def __str__(self) -> str:
        until = self.end.isoformat() if self.end else "now"
        return f"{self.vehicle_id} ← {self.meter_id} [{self.start.isoformat()}, {until})"


def import_mappings(rows: Sequence[MapRow]) -> MapImportReport:
    """Apply many map rows with the rules of add_mapping, in one transaction, set-based.

    Rows are applied in valid_from order (so a file's row order does not matter); a row that
    repeats a stored mapping is skipped, a row that gives an end to a stored open mapping
    closes it, and an open-ended row re-maps (closes the current mappings of its vehicle and
    meter). All devices involved are locked up front (vehicles, then meters, each sorted: the
    order add_mapping uses), the existing map rows of those devices are read once, and the
    rules are checked in memory. If any row is invalid, nothing is written and every bad row is
    reported by number.
    """
    report = MapImportReport()
    valid: list[MapRow] = []
    for row in rows:
        problems = []
        for kind, device_id in (("vehicle", row.vehicle_id), ("meter", row.meter_id)):
            try:
                device_id_validator(device_id)
            except ValidationError:
                problems.append(f"{kind} {device_id!r}: a device id is {DEVICE_ID_RULE}.")
        if timezone.is_naive(row.valid_from) or (row.valid_to and timezone.is_naive(row.valid_to)):
            problems.append("times need a UTC offset, e.g. 2026-02-10T16:00:00Z.")
        elif row.valid_to is not None and row.valid_to <= row.valid_from:
            problems.append("valid_to must be after valid_from.")
        if problems:
            report.errors[row.number] = problems
        else:
            valid.append(row)
    if not valid:
        return report

    with transaction.atomic():
        vehicles = sorted({r.vehicle_id for r in valid})
        meters = sorted({r.meter_id for r in valid})
        register_devices(vehicle_ids=vehicles, meter_ids=meters)
        queries.lock_devices(Vehicle, vehicles)
        queries.lock_devices(Meter, meters)

        by_vehicle: dict[str, list[_Span]] = defaultdict(list)
        by_meter: dict[str, list[_Span]] = defaultdict(list)
        existing = VehicleMeterMap.objects.filter(
            Q(vehicle_id__in=vehicles) | Q(meter_id__in=meters)
        )
        for pk, vehicle_id, meter_id, start, end in existing.values_list(
            "pk", "vehicle_id", "meter_id", "valid_from", "valid_to"
        ):
            span = _Span(vehicle_id, meter_id, start, end, pk)
            by_vehicle[vehicle_id].append(span)
            by_meter[meter_id].append(span)

        new_spans: list[tuple[MapRow, _Span]] = []
        for row in sorted(valid, key=lambda r: (r.valid_from, r.number)):
            mine = by_vehicle[row.vehicle_id]
            same = next(
                (s for s in mine if s.meter_id == row.meter_id and s.start == row.valid_from), None
            )
            if same is not None and same.end == row.valid_to:
                report.skipped.append(row.number)
                continue
            if same is not None and same.end is None and same.pk is not None and row.valid_to:
                same.end = same.closed_at = row.valid_to
                report.closed[row.number] = same.pk
                continue
            if row.valid_to is None:
                for span in (*mine, *by_meter[row.meter_id]):
                    if span.end is None and span.start < row.valid_from:
                        span.end = span.closed_at = row.valid_from
            problems = []
            clash = [s for s in mine if s.overlaps(row.valid_from, row.valid_to)]
            if clash:
                problems.append(
                    f"Vehicle {row.vehicle_id} already has a meter during that time: "
                    f"{'; '.join(map(str, clash))}."
                )
            clash = [s for s in by_meter[row.meter_id] if s.overlaps(row.valid_from, row.valid_to)]
            if clash:
                problems.append(
                    f"Meter {row.meter_id} already serves a vehicle during that time: "
                    f"{'; '.join(map(str, clash))}."
                )
            if problems:
                report.errors[row.number] = problems
                continue
            span = _Span(row.vehicle_id, row.meter_id, row.valid_from, row.valid_to)
            by_vehicle[row.vehicle_id].append(span)
            by_meter[row.meter_id].append(span)
            new_spans.append((row, span))

        if report.errors:
            # Registration above already wrote the new devices: undo it (a savepoint inside a
            # caller's transaction), so an invalid file leaves no trace whoever calls this.
            transaction.set_rollback(True)
            return report
        closes = {
            s.pk: s.closed_at
            for spans in (*by_vehicle.values(), *by_meter.values())
            for s in spans
            if s.pk is not None and s.closed_at is not None
        }
        queries.close_open_mappings(closes)
        created = VehicleMeterMap.objects.bulk_create(
            [
                VehicleMeterMap(
                    vehicle_id=s.vehicle_id, meter_id=s.meter_id, valid_from=s.start, valid_to=s.end
                )
                for _, s in new_spans
            ],
            batch_size=2000,
        )
        report.created = {
            row.number: obj.pk for (row, _), obj in zip(new_spans, created, strict=True)
        }
    return report
