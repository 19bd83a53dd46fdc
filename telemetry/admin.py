"""The device lists gain their hot status (newest reading, staleness): telemetry's data, so it
is added here, on top of the registry's device admin, never looked up by the registry."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from fleet.plumbing.admin import replace_registration
from fleet.registry.admin import MeterAdmin, VehicleAdmin
from fleet.registry.models import Meter, Vehicle

# A device reports once a minute; ten silent minutes means it is offline, not just late.
STALE_AFTER = timedelta(minutes=10)


class StaleFilter(admin.SimpleListFilter):
    title = "reporting"
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Stale (no reading for 10 min)"), ("no", "Reporting")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        cutoff = timezone.now() - STALE_AFTER
        if self.value() == "yes":
            return queryset.exclude(status__ts__gte=cutoff)
        if self.value() == "no":
            return queryset.filter(status__ts__gte=cutoff)
        return queryset


def _status(obj: Any, field: str) -> Any:
    # `status` is the reverse one-to-one of the status tables, joined into the list query
    # (select_related) rather than read per row; a device that never reported has none.
    status = getattr(obj, "status", None)
    return getattr(status, field) if status else None


def _kwh(value: Decimal | None) -> str | None:
    # Stored to 6 places (exact sums); an operator reads Wh: "12.300", not "12.300000".
    return None if value is None else f"{value:.3f}"


class StatusColumns:
    @admin.display(description="last reading", ordering="status__ts")
    def last_reading(self, obj: Any) -> Any:
        return _status(obj, "ts")

    # A green tick for a device that reports, a red cross for one silent for STALE_AFTER (the
    # column once said "stale" and ticked the silent ones, which read backwards).
    @admin.display(boolean=True, description="reporting")
    def reporting(self, obj: Any) -> bool:
        ts = _status(obj, "ts")
        return ts is not None and ts >= timezone.now() - STALE_AFTER


class VehicleStatusAdmin(StatusColumns, VehicleAdmin):
    list_display = (
        *VehicleAdmin.list_display,
        "last_reading",
        "soc",
        "kwh_delivered_dc",
        "battery_temp",
        "reporting",
    )
    list_filter = (*VehicleAdmin.list_filter, StaleFilter)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Vehicle]:
        return super().get_queryset(request).select_related("status")

    @admin.display(description="SoC %")
    def soc(self, obj: Vehicle) -> Any:
        return _status(obj, "soc")

    @admin.display(description="last kWh DC")
    def kwh_delivered_dc(self, obj: Vehicle) -> str | None:
        return _kwh(_status(obj, "kwh_delivered_dc"))

    @admin.display(description="battery °C")
    def battery_temp(self, obj: Vehicle) -> Any:
        return _status(obj, "battery_temp")


class MeterStatusAdmin(StatusColumns, MeterAdmin):
    list_display = (
        *MeterAdmin.list_display,
        "last_reading",
        "kwh_consumed_ac",
        "voltage",
        "reporting",
    )
    list_filter = (*MeterAdmin.list_filter, StaleFilter)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Meter]:
        return super().get_queryset(request).select_related("status")

    @admin.display(description="last kWh AC")
    def kwh_consumed_ac(self, obj: Meter) -> str | None:
        return _kwh(_status(obj, "kwh_consumed_ac"))

    @admin.display(description="voltage")
    def voltage(self, obj: Meter) -> Any:
        return _status(obj, "voltage")


replace_registration(Vehicle, VehicleStatusAdmin)
replace_registration(Meter, MeterStatusAdmin)
