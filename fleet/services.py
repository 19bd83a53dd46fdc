"""Writes to the fleet registry. Each service owns its transaction."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleet import queries
from fleet.models import ApiKey, Meter, Vehicle, VehicleMeterMap, device_id_validator


class MappingError(ValidationError):
    """A map change that would break "one meter per vehicle and one vehicle per meter"."""


def _validate_ids(ids: Iterable[str]) -> list[str]:
    ids = list(ids)
    for device_id in ids:
        try:
            device_id_validator(device_id)
        except ValidationError as exc:
            raise ValidationError(f"{device_id!r}: {exc.messages[0]}") from None
    return ids


def register_devices(
    *, vehicle_ids: Iterable[str] = (), meter_ids: Iterable[str] = ()
) -> tuple[int, int]:
    """Register devices seen for the first time; returns (new vehicles, new meters)."""
    vehicles = _validate_ids(vehicle_ids)
    meters = _validate_ids(meter_ids)
    with transaction.atomic():
        return (
            queries.insert_missing_devices(Vehicle, vehicles),
            queries.insert_missing_devices(Meter, meters),
        )


def _aware(at: datetime | None) -> datetime:
    if at is None:
        return timezone.now()
    if timezone.is_naive(at):
        raise ValidationError("A map time needs a UTC offset, e.g. 2026-02-10T16:23:00Z.")
    return at


def _lock_devices(vehicle_id: str, meter_id: str | None) -> None:
    """Lock the vehicle row, then the meter row.

    Every map change holds the locks of the devices whose rows it inserts, so no two changes
    can insert overlapping rows for the same device. Vehicles are always locked before meters,
    so two changes cannot wait on each other in a cycle. FOR NO KEY UPDATE, not FOR UPDATE:
    ingestion's foreign-key checks take FOR KEY SHARE on the same rows and must not queue
    behind an operator's re-map.
    """
    register_devices(vehicle_ids=[vehicle_id], meter_ids=[meter_id] if meter_id else [])
    Vehicle.objects.select_for_update(no_key=True).filter(pk=vehicle_id).get()
    if meter_id:
        Meter.objects.select_for_update(no_key=True).filter(pk=meter_id).get()


def _overlapping(q: Q, valid_from: datetime, valid_to: datetime | None) -> list[VehicleMeterMap]:
    overlap = Q(valid_to__isnull=True) | Q(valid_to__gt=valid_from)
    if valid_to is not None:
        overlap &= Q(valid_from__lt=valid_to)
    return list(VehicleMeterMap.objects.filter(q).filter(overlap).order_by("valid_from"))


def _close_open_rows(q: Q, at: datetime) -> None:
    """Close the open-ended rows that started before `at`.

    Only rows still open are touched: if a concurrent change closed one first, READ COMMITTED
    re-checks "valid_to IS NULL" after the row lock and leaves the earlier end in place, so an
    interval is never stretched back over a newer mapping.
    """
    VehicleMeterMap.objects.filter(q, valid_from__lt=at, valid_to__isnull=True).update(valid_to=at)


def _describe(rows: list[VehicleMeterMap]) -> str:
    return "; ".join(str(row) for row in rows)


def add_mapping(
    *,
    vehicle_id: str,
    meter_id: str,
    valid_from: datetime,
    valid_to: datetime | None = None,
    close_current: bool = True,
) -> VehicleMeterMap:
    """Record that meter_id fed vehicle_id during [valid_from, valid_to).

    An open-ended mapping (valid_to None) is a re-map: with close_current, the vehicle's and
    the meter's open-ended mappings that started earlier are closed at valid_from. A closed
    interval is a piece of history being recorded, so it closes nothing: adding V1<-M2 for
    [Feb 1, Feb 5) while V1<-M1 runs since Jan 1 would otherwise end V1<-M1 on Feb 1 and
    leave V1 without a meter after Feb 5. Anything that overlaps is refused with a
    MappingError naming the conflicting rows: history is never rewritten.
    """
    valid_from = _aware(valid_from)
    if valid_to is not None:
        valid_to = _aware(valid_to)
        if valid_to <= valid_from:
            raise MappingError("valid_to must be after valid_from.")
    with transaction.atomic():
        _lock_devices(vehicle_id, meter_id)
        current = VehicleMeterMap.objects.filter(
            vehicle_id=vehicle_id, meter_id=meter_id, valid_to__isnull=True
        ).first()
        if current is not None and valid_to is None and current.valid_from <= valid_from:
            return current  # already mapped from before then on: nothing to change
        if close_current and valid_to is None:
            _close_open_rows(Q(vehicle_id=vehicle_id) | Q(meter_id=meter_id), valid_from)
        errors = []
        by_vehicle = _overlapping(Q(vehicle_id=vehicle_id), valid_from, valid_to)
        if by_vehicle:
            errors.append(
                f"Vehicle {vehicle_id} already has a meter during that time: "
                f"{_describe(by_vehicle)}."
            )
        by_meter = _overlapping(Q(meter_id=meter_id), valid_from, valid_to)
        if by_meter:
            errors.append(
                f"Meter {meter_id} already serves a vehicle during that time: "
                f"{_describe(by_meter)}."
            )
        if errors:
            raise MappingError(errors)
        return VehicleMeterMap.objects.create(
            vehicle_id=vehicle_id, meter_id=meter_id, valid_from=valid_from, valid_to=valid_to
        )


def assign_meter(*, vehicle_id: str, meter_id: str, at: datetime | None = None) -> VehicleMeterMap:
    """Map meter_id to vehicle_id from `at` (default now) on, closing both current mappings."""
    return add_mapping(vehicle_id=vehicle_id, meter_id=meter_id, valid_from=_aware(at))


def unassign_meter(*, vehicle_id: str, at: datetime | None = None) -> VehicleMeterMap:
    """Close the vehicle's current mapping at `at` (default now); returns the closed row."""
    at = _aware(at)
    with transaction.atomic():
        _lock_devices(vehicle_id, None)
        row = (
            VehicleMeterMap.objects.select_for_update()
            .filter(vehicle_id=vehicle_id, valid_to__isnull=True)
            .first()
        )
        if row is None:
            raise MappingError(f"Vehicle {vehicle_id} has no current meter.")
        if row.valid_from >= at:
            raise MappingError(
                f"Vehicle {vehicle_id}'s current mapping starts at {row.valid_from.isoformat()}, "
                f"not before {at.isoformat()}; close it at a later time."
            )
        row.valid_to = at
        row.save(update_fields=["valid_to"])
        return row


def close_mapping(*, mapping_id: int, at: datetime | None = None) -> VehicleMeterMap:
    """Close one open mapping (the admin's "close" action)."""
    vehicle_id = VehicleMeterMap.objects.values_list("vehicle_id", flat=True).get(pk=mapping_id)
    return unassign_meter(vehicle_id=vehicle_id, at=at)


def create_api_key(
    *,
    name: str,
    role: str,
    vehicle_id: str | None = None,
    meter_id: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plain key, which is never stored and shown once."""
    if role not in ApiKey.Role.values:
        raise ValidationError(f"role must be one of {', '.join(ApiKey.Role.values)}.")
    if vehicle_id and meter_id:
        raise ValidationError("A key can be bound to a vehicle or to a meter, not both.")
    if (vehicle_id or meter_id) and role != ApiKey.Role.DEVICE:
        raise ValidationError("Only device keys can be bound to a device.")
    with transaction.atomic():
        register_devices(
            vehicle_ids=[vehicle_id] if vehicle_id else [],
            meter_ids=[meter_id] if meter_id else [],
        )
        return ApiKey.objects.create_key(
            name=name, role=role, vehicle_id=vehicle_id, meter_id=meter_id
        )


def revoke_api_key(*, key_id: str) -> None:
    ApiKey.objects.filter(pk=key_id).update(revoked=True)


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
        return (self.end is None or self.end > start) and (end is None or self.start < end)

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
                problems.append(
                    f"{kind} {device_id!r}: a device id is 1-64 characters of letters, digits, "
                    "'.', '_', ':' or '-'."
                )
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
            return report  # the caller's transaction decides; nothing written here
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
