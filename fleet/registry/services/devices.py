"""Device registration: a device is registered the first time it reports or is mapped."""

from __future__ import annotations

from collections.abc import Iterable

from django.core.exceptions import ValidationError
from django.db import transaction

from fleet.registry import queries
from fleet.registry.models import Meter, Vehicle, device_id_validator


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
