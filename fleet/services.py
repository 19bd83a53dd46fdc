"""Writes to the fleet registry. Each service owns its transaction."""

from __future__ import annotations

from collections.abc import Iterable
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

    With close_current, the vehicle's and the meter's open-ended mappings that started earlier
    are closed at valid_from (a re-map). Anything else that overlaps is refused with a
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
        if close_current:
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
