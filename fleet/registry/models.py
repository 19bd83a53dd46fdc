"""The fleet registry: devices, the temporal vehicle-meter map, and API keys."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Now
from rest_framework_api_key.models import AbstractAPIKey

DEVICE_ID_MAX_LENGTH = 64
# For the OpenAPI schema (ECMA-262, where `$` is the end of the string).
DEVICE_ID_PATTERN = r"^[A-Za-z0-9._:-]{1,64}$"
# For Python: `$` would also match before a final newline, letting "VH001\n" through as a new
# device (and 64 characters plus a newline into varchar(64)); use fullmatch() or \Z.
DEVICE_ID_RE = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# The rule as a sentence, for every error message that states it.
DEVICE_ID_RULE = "1-64 characters of letters, digits, '.', '_', ':' or '-'"
device_id_validator = RegexValidator(
    r"\A[A-Za-z0-9._:-]{1,64}\Z", f"A device id is {DEVICE_ID_RULE}."
)


def overlaps(
    start: datetime, end: datetime | None, other_start: datetime, other_end: datetime | None
) -> bool:
    """Whether [start, end) and [other_start, other_end) share an instant (None: open-ended).

    The same predicate as MapQuerySet.overlapping, for map rows held in memory (the import).
    """
    return (end is None or end > other_start) and (other_end is None or start < other_end)


class Device(models.Model):
    """A device is registered the first time it reports; operators give it a name later."""

    id = models.CharField(
        primary_key=True, max_length=DEVICE_ID_MAX_LENGTH, validators=[device_id_validator]
    )
    name = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(db_default=Now(), editable=False)

    class Meta:
        abstract = True
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.id} ({self.name})" if self.name else self.id


class Vehicle(Device):
    class Meta(Device.Meta):
        db_table = "fleet_vehicle"


class Meter(Device):
    class Meta(Device.Meta):
        db_table = "fleet_meter"


class MapQuerySet(models.QuerySet["VehicleMeterMap"]):
    """The map's predicates, each written once. A mapping holds during [valid_from, valid_to);
    valid_to NULL means it still holds (it is "current")."""

    def current(self) -> MapQuerySet:
        return self.filter(valid_to__isnull=True)

    def overlapping(self, start: datetime, end: datetime | None) -> MapQuerySet:
        """Rows that hold at some instant of [start, end); end None is open-ended."""
        rows = self.filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
        return rows if end is None else rows.filter(valid_from__lt=end)

    def at(self, instant: datetime) -> MapQuerySet:
        """Rows that hold at `instant` (valid_from <= instant < valid_to)."""
        return self.filter(valid_from__lte=instant).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gt=instant)
        )


class VehicleMeterMap(models.Model):
    """Which meter fed which vehicle, and when: [valid_from, valid_to), valid_to NULL = current.

    At any instant a vehicle has at most one meter and a meter at most one vehicle. The embedded
    PostgreSQL has no btree_gist, so that rule lives in fleet.registry.services.mappings under
    row locks; the partial unique indexes below are the database's last line for the "current"
    rows.
    """

    # A surrogate id because the Django admin does not support composite primary keys; the
    # contract's key (vehicle, valid_from) is a unique constraint.
    id = models.BigAutoField(primary_key=True)
    # No single-column FK indexes: the unique (vehicle, valid_from) and (meter, valid_from)
    # indexes lead with the device and serve every lookup by device.
    vehicle = models.ForeignKey(
        Vehicle, on_delete=models.PROTECT, related_name="mappings", db_index=False
    )
    meter = models.ForeignKey(
        Meter, on_delete=models.PROTECT, related_name="mappings", db_index=False
    )
    valid_from = models.DateTimeField()
    valid_to = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MapQuerySet.as_manager()

    class Meta:
        db_table = "vehicle_meter_map"
        ordering = ["vehicle_id", "-valid_from"]
        constraints = [
            models.UniqueConstraint(fields=["vehicle", "valid_from"], name="vmm_vehicle_from_uniq"),
            models.UniqueConstraint(fields=["meter", "valid_from"], name="vmm_meter_from_uniq"),
            models.CheckConstraint(
                condition=Q(valid_to__isnull=True) | Q(valid_to__gt=F("valid_from")),
                name="vmm_valid_to_after_from",
            ),
            models.UniqueConstraint(
                fields=["vehicle"], condition=Q(valid_to__isnull=True), name="vmm_one_current_meter"
            ),
            models.UniqueConstraint(
                fields=["meter"], condition=Q(valid_to__isnull=True), name="vmm_one_current_vehicle"
            ),
        ]

    def __str__(self) -> str:
        until = self.valid_to.isoformat() if self.valid_to else "now"
        return f"{self.vehicle_id} ← {self.meter_id} [{self.valid_from.isoformat()}, {until})"

    def validate_constraints(self, exclude: Collection[str] | None = None) -> None:
        """Model validation (the admin form's) leaves the map's constraints to the map service.

        A re-map's new row conflicts with the current row until the service closes that row in
        the same transaction, so Django's check would refuse every re-map, naming a constraint.
        The service checks the same rules and says them as sentences
        (fleet.registry.services.mappings); the constraints stay the database's last line.
        """


class ApiKey(AbstractAPIKey):
    """An API key, stored hashed (sha512 of a high-entropy secret; the plain key is shown once)."""

    class Role(models.TextChoices):
        DEVICE = "device", "Device (posts telemetry)"
        ANALYST = "analyst", "Analyst (reads analytics and status)"

    role = models.CharField(max_length=16, choices=Role.choices)
    # A key bound to one device may post only that device's readings. Unbound device keys are for
    # gateways that relay many devices.
    vehicle = models.ForeignKey(
        Vehicle, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    meter = models.ForeignKey(
        Meter, null=True, blank=True, on_delete=models.CASCADE, related_name="api_keys"
    )
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta(AbstractAPIKey.Meta):
        db_table = "fleet_api_key"
        verbose_name = "API key"
        verbose_name_plural = "API keys"
        constraints = [
            models.CheckConstraint(
                condition=Q(vehicle__isnull=True) | Q(meter__isnull=True),
                name="api_key_bound_to_one_device",
            ),
            models.CheckConstraint(
                condition=Q(role="device") | (Q(vehicle__isnull=True) & Q(meter__isnull=True)),
                name="api_key_only_device_keys_bound",
            ),
        ]

    def clean(self) -> None:
        # The same rules as the check constraints, as form errors instead of IntegrityErrors.
        super().clean()
        if self.vehicle_id and self.meter_id:
            raise ValidationError("A key can be bound to a vehicle or to a meter, not both.")
        if (self.vehicle_id or self.meter_id) and self.role != self.Role.DEVICE:
            raise ValidationError("Only device keys can be bound to a device.")

    @property
    def bound_device(self) -> tuple[str, str] | None:
        """("vehicle"|"meter", id) for a bound key, None for an unbound one."""
        if self.vehicle_id:
            return ("vehicle", self.vehicle_id)
        if self.meter_id:
            return ("meter", self.meter_id)
        return None
