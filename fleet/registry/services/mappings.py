"""Changes to the vehicle-meter map: re-map, record history, close.

At any instant a vehicle has at most one meter and a meter at most one vehicle. Without
btree_gist (the embedded PostgreSQL has no contrib extensions) an exclusion constraint cannot
say that, so every change locks the devices whose rows it inserts and checks overlaps under
those locks.
"""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from fleet.registry.models import Meter, Vehicle, VehicleMeterMap
from fleet.registry.services.devices import register_devices


class MappingError(ValidationError):
    """A map change that would break "one meter per vehicle and one vehicle per meter"."""


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


def _close_open_rows(q: Q, at: datetime) -> None:
    """Close the open-ended rows that started before `at`.

    Only rows still open are touched: if a concurrent change closed one first, READ COMMITTED
    re-checks "valid_to IS NULL" after the row lock and leaves the earlier end in place, so an
    interval is never stretched back over a newer mapping.
    """
    VehicleMeterMap.objects.current().filter(q, valid_from__lt=at).update(valid_to=at)


def _describe(rows: list[VehicleMeterMap]) -> str:
    return "; ".join(str(row) for row in rows)


def _checked_times(
    valid_from: datetime, valid_to: datetime | None
) -> tuple[datetime, datetime | None]:
    valid_from = _aware(valid_from)
    if valid_to is not None:
        valid_to = _aware(valid_to)
        if valid_to <= valid_from:
            raise MappingError("valid_to must be after valid_from.")
    return valid_from, valid_to


def _unchanged(
    vehicle_id: str, meter_id: str, valid_from: datetime, valid_to: datetime | None
) -> VehicleMeterMap | None:
    """The current row that already says this (same pair, from before then on), if any."""
    if valid_to is not None:
        return None
    current = VehicleMeterMap.objects.current().filter(vehicle_id=vehicle_id, meter_id=meter_id)
    return current.filter(valid_from__lte=valid_from).first()


def _conflicts(
    vehicle_id: str, meter_id: str, valid_from: datetime, valid_to: datetime | None
) -> list[str]:
    """Why [valid_from, valid_to) cannot be added for this pair; empty when it can."""
    rows = VehicleMeterMap.objects.overlapping(valid_from, valid_to)
    if valid_to is None:
        # A re-map closes the current rows that started earlier at valid_from: they end where
        # it begins, so they do not overlap it.
        rows = rows.exclude(valid_to__isnull=True, valid_from__lt=valid_from)
    errors = []
    by_vehicle = list(rows.filter(vehicle_id=vehicle_id).order_by("valid_from"))
    if by_vehicle:
        errors.append(
            f"Vehicle {vehicle_id} already has a meter during that time: {_describe(by_vehicle)}."
        )
    by_meter = list(rows.filter(meter_id=meter_id).order_by("valid_from"))
    if by_meter:
        errors.append(
            f"Meter {meter_id} already serves a vehicle during that time: {_describe(by_meter)}."
        )
    return errors


def check_mapping(
    *, vehicle_id: str, meter_id: str, valid_from: datetime, valid_to: datetime | None = None
) -> None:
    """Raise the MappingError add_mapping would raise, without writing or locking (for forms;
    add_mapping checks again under its locks, so a concurrent change cannot slip between)."""
    valid_from, valid_to = _checked_times(valid_from, valid_to)
    if _unchanged(vehicle_id, meter_id, valid_from, valid_to) is None:
        errors = _conflicts(vehicle_id, meter_id, valid_from, valid_to)
        if errors:
            raise MappingError(errors)


def add_mapping(
    *,
    vehicle_id: str,
    meter_id: str,
    valid_from: datetime,
    valid_to: datetime | None = None,
) -> VehicleMeterMap:
    """Record that meter_id fed vehicle_id during [valid_from, valid_to).

    An open-ended mapping (valid_to None) is a re-map: the vehicle's and the meter's
    open-ended mappings that started earlier are closed at valid_from. A closed interval is
    a piece of history being recorded, so it closes nothing: adding V1<-M2 for [Feb 1, Feb 5)
    while V1<-M1 runs since Jan 1 would otherwise end V1<-M1 on Feb 1 and leave V1 without a
    meter after Feb 5. Anything that overlaps is refused with a MappingError naming the
    conflicting rows: history is never rewritten.
    """
    valid_from, valid_to = _checked_times(valid_from, valid_to)
    with transaction.atomic():
        _lock_devices(vehicle_id, meter_id)
        unchanged = _unchanged(vehicle_id, meter_id, valid_from, valid_to)
        if unchanged is not None:
            return unchanged  # already mapped from before then on: nothing to change
        errors = _conflicts(vehicle_id, meter_id, valid_from, valid_to)
        if errors:
            raise MappingError(errors)
        if valid_to is None:
            _close_open_rows(Q(vehicle_id=vehicle_id) | Q(meter_id=meter_id), valid_from)
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
        current = VehicleMeterMap.objects.select_for_update().current()
        row = current.filter(vehicle_id=vehicle_id).first()
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
