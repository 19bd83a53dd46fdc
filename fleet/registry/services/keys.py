"""API keys: created (the plain key shown once) and revoked, never deleted."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from fleet.registry.keycache import forget_keys
from fleet.registry.models import ApiKey
from fleet.registry.services.devices import register_devices


def create_api_key(
    *,
    name: str,
    role: str,
    vehicle_id: str | None = None,
    meter_id: str | None = None,
    expires_at: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plain key, which is never stored and shown once.
    A key with expires_at stops working then (401 "expired")."""
    if role not in ApiKey.Role.values:
        raise ValidationError(f"role must be one of {', '.join(ApiKey.Role.values)}.")
    if vehicle_id and meter_id:
        raise ValidationError("A key can be bound to a vehicle or to a meter, not both.")
    if (vehicle_id or meter_id) and role != ApiKey.Role.DEVICE:
        raise ValidationError("Only device keys can be bound to a device.")
    if expires_at is not None and timezone.is_naive(expires_at):
        raise ValidationError("An expiry needs a UTC offset, e.g. 2026-12-31T00:00:00Z.")
    with transaction.atomic():
        register_devices(
            vehicle_ids=[vehicle_id] if vehicle_id else [],
            meter_ids=[meter_id] if meter_id else [],
        )
        row, key = ApiKey.objects.create_key(
            name=name,
            role=role,
            vehicle_id=vehicle_id,
            meter_id=meter_id,
            expiry_date=expires_at,
        )
        assert isinstance(row, ApiKey)  # the manager is the library's, typed for its base
        return row, key


def revoke_api_key(*, key_id: str) -> None:
    """Revoke a key: refused at once by this process, and by every other within
    API_KEY_CACHE_SECONDS (their caches of usable keys, fleet.registry.auth)."""
    ApiKey.objects.filter(pk=key_id).update(revoked=True)
    forget_keys()


def _by_prefix(prefix: str) -> ApiKey:
    key = ApiKey.objects.filter(prefix=prefix).first()
    if key is None:
        raise ValidationError(
            f"No API key has the prefix {prefix!r}; list them with list_api_keys."
        )
    return key


def revoke_by_prefix(*, prefix: str) -> ApiKey:
    """Revoke the key with this public prefix (it stops working within API_KEY_CACHE_SECONDS;
    the row stays, for the audit trail)."""
    key = _by_prefix(prefix)
    revoke_api_key(key_id=key.pk)
    key.revoked = True
    return key


def rotate_api_key(*, prefix: str, old_valid_until: datetime) -> tuple[ApiKey, ApiKey, str]:
    """A new key with the old one's name, role and bound device, while the old one keeps working
    until old_valid_until (so a device can switch without a gap); returns (old, new, plain)."""
    if timezone.is_naive(old_valid_until):
        raise ValidationError("--old-valid-until needs a UTC offset, e.g. 2026-12-31T00:00:00Z.")
    with transaction.atomic():
        old = ApiKey.objects.select_for_update().get(pk=_by_prefix(prefix).pk)
        if old.revoked:
            raise ValidationError(f"The key {prefix} is revoked; create a new one instead.")
        if old.expiry_date is None or old.expiry_date > old_valid_until:
            old.expiry_date = old_valid_until
            old.save(update_fields=["expiry_date"])
        new, plain = create_api_key(
            name=old.name, role=old.role, vehicle_id=old.vehicle_id, meter_id=old.meter_id
        )
        return old, new, plain
