"""API keys: created (the plain key shown once) and revoked, never deleted."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from fleet.registry.models import ApiKey
from fleet.registry.services.devices import register_devices


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
        row, key = ApiKey.objects.create_key(
            name=name, role=role, vehicle_id=vehicle_id, meter_id=meter_id
        )
        assert isinstance(row, ApiKey)  # the manager is the library's, typed for its base
        return row, key


def revoke_api_key(*, key_id: str) -> None:
    ApiKey.objects.filter(pk=key_id).update(revoked=True)
