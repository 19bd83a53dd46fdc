"""The operators' back-office: devices, the vehicle-meter map, API keys and fleet health."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.utils import timezone
from import_export.admin import ImportExportModelAdmin
from rest_framework_api_key.admin import APIKeyModelAdmin
from rest_framework_api_key.models import APIKey as LibraryAPIKey

from analytics.selectors import fleet_efficiency, vehicle_series
from analytics.windows import parse_hour_window
from fleet import charts, services
from fleet.forms import VehicleMeterMapForm
from fleet.models import ApiKey, Meter, Vehicle, VehicleMeterMap
from fleet.resources import VehicleMeterMapResource

admin.site.site_header = "Fleet telemetry"
admin.site.site_title = "Fleet telemetry"
admin.site.index_template = "admin/fleet_index.html"

# The library registers its own concrete key model; ours (with roles and bound devices) replaces it.
admin.site.unregister(LibraryAPIKey)

STALE_AFTER = timedelta(minutes=10)


def _current(side: str) -> Subquery:
    """The open mapping's other device, as a correlated subquery: one query for a whole page."""
    if side == "meter":
        rows = VehicleMeterMap.objects.filter(vehicle_id=OuterRef("pk"), valid_to__isnull=True)
        return Subquery(rows.values("meter_id")[:1])
    rows = VehicleMeterMap.objects.filter(meter_id=OuterRef("pk"), valid_to__isnull=True)
    return Subquery(rows.values("vehicle_id")[:1])


class MappedFilter(admin.SimpleListFilter):
    title = "mapping"
    parameter_name = "mapped"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Mapped now"), ("no", "Not mapped")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        field = "vehicle_id" if queryset.model is Vehicle else "meter_id"
        current = Exists(
            VehicleMeterMap.objects.filter(**{field: OuterRef("pk")}, valid_to__isnull=True)
        )
        if self.value() == "yes":
            return queryset.filter(current)
        if self.value() == "no":
            return queryset.exclude(current)
        return queryset


class StaleFilter(admin.SimpleListFilter):
    title = "reporting"
    parameter_name = "stale"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Stale (no reading for 10 min)"), ("no", "Reporting")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        cutoff = timezone.now() - STALE_AFTER
        if self.value() == "yes":
            return queryset.exclude(status__ts__gte=cutoff)
        if self.value() == "no":
            return queryset.filter(status__ts__gte=cutoff)
        return queryset


class MappingHistoryInline(admin.TabularInline):
    """A vehicle's mappings, newest first. Read-only: change the map through the map admin."""

    model = VehicleMeterMap
    fk_name = "vehicle"
    fields = ["meter", "valid_from", "valid_to", "created_at"]
    readonly_fields = fields
    ordering = ["-valid_from"]
    extra = 0
    max_num = 0
    can_delete = False
    verbose_name_plural = "Meter mapping history"
    show_change_link = True


class DeviceAdmin(admin.ModelAdmin):
    search_fields = ["id", "name"]
    list_filter = [MappedFilter, StaleFilter]
    list_per_page = 100
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # A device id is the key its readings are stored under: it never changes.
        return ["id", "created_at"] if obj else ["created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its history and mappings refer to it; devices are never deleted here

    @admin.display(description="last reading", ordering="status__ts")
    def last_reading(self, obj: Any) -> Any:
        status = getattr(obj, "status", None)
        return status.ts if status else None

    @admin.display(boolean=True, description="stale")
    def stale(self, obj: Any) -> bool:
        status = getattr(obj, "status", None)
        return status is None or status.ts < timezone.now() - STALE_AFTER


@admin.register(Vehicle)
class VehicleAdmin(DeviceAdmin):
    list_display = [
        "id",
        "name",
        "current_meter",
        "last_reading",
        "soc",
        "kwh_delivered_dc",
        "battery_temp",
        "stale",
    ]
    inlines = [MappingHistoryInline]
    change_form_template = "admin/fleet/vehicle/change_form.html"

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        # status is the reverse one-to-one of the hot table: joined, not queried per row.
        return (
            super()
            .get_queryset(request)
            .select_related("status")
            .annotate(current_meter_id=_current("meter"))
        )

    @admin.display(description="current meter", ordering="current_meter_id")
    def current_meter(self, obj: Vehicle) -> str | None:
        return obj.current_meter_id  # type: ignore[attr-defined]

    @admin.display(description="SoC %")
    def soc(self, obj: Vehicle) -> float | None:
        status = getattr(obj, "status", None)
        return status.soc if status else None

    @admin.display(description="last kWh DC")
    def kwh_delivered_dc(self, obj: Vehicle) -> Any:
        status = getattr(obj, "status", None)
        return status.kwh_delivered_dc if status else None

    @admin.display(description="battery °C")
    def battery_temp(self, obj: Vehicle) -> float | None:
        status = getattr(obj, "status", None)
        return status.battery_temp if status else None

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if Vehicle.objects.filter(pk=object_id).exists():
            window = parse_hour_window({"hours": "24"}, timezone.now())
            series = vehicle_series(object_id, window)
            extra_context["hourly_chart"] = charts.hourly_energy(
                [(row["hour"], row["dc"], row["ac"]) for row in series]
            )
            dc = sum(row["dc"] for row in series)
            ac = sum(row["ac"] for row in series)
            extra_context["hourly_totals"] = {"dc": dc, "ac": ac, "eff": dc / ac if ac else None}
        return super().change_view(request, object_id, form_url, extra_context)


@admin.register(Meter)
class MeterAdmin(DeviceAdmin):
    list_display = [
        "id",
        "name",
        "current_vehicle",
        "last_reading",
        "kwh_consumed_ac",
        "voltage",
        "stale",
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return (
            super()
            .get_queryset(request)
            .select_related("status")
            .annotate(current_vehicle_id=_current("vehicle"))
        )

    @admin.display(description="current vehicle", ordering="current_vehicle_id")
    def current_vehicle(self, obj: Meter) -> str | None:
        return obj.current_vehicle_id  # type: ignore[attr-defined]

    @admin.display(description="last kWh AC")
    def kwh_consumed_ac(self, obj: Meter) -> Any:
        status = getattr(obj, "status", None)
        return status.kwh_consumed_ac if status else None

    @admin.display(description="voltage")
    def voltage(self, obj: Meter) -> float | None:
        status = getattr(obj, "status", None)
        return status.voltage if status else None


class CurrentMappingFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "open"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Current"), ("no", "Closed")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        if self.value() == "yes":
            return queryset.filter(valid_to__isnull=True)
        if self.value() == "no":
            return queryset.filter(valid_to__isnull=False)
        return queryset


@admin.register(VehicleMeterMap)
class VehicleMeterMapAdmin(ImportExportModelAdmin):
    """Create (a re-map closes the current mappings), close, import and export as CSV.

    Every change goes through fleet.services, and the admin log records who made it.
    """

    form = VehicleMeterMapForm
    resource_classes = [VehicleMeterMapResource]
    list_display = ["vehicle", "meter", "valid_from", "valid_to", "created_at"]
    list_filter = [CurrentMappingFilter, "valid_from"]
    search_fields = ["vehicle__id", "meter__id"]
    list_select_related = ["vehicle", "meter"]
    autocomplete_fields = ["vehicle", "meter"]
    date_hierarchy = "valid_from"
    actions = ["close_now"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        if obj is None:
            return []
        if obj.valid_to is None:
            return ["vehicle", "meter", "valid_from", "created_at"]
        return ["vehicle", "meter", "valid_from", "valid_to", "created_at"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history is never rewritten; close a mapping instead

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        # VehicleMeterMapForm.clean already wrote the change through the map service, in this
        # request's transaction; saving the instance again would only repeat it.
        pass

    @admin.action(description="Close the selected mappings now")
    def close_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        closed = 0
        for mapping in queryset.filter(valid_to__isnull=True).order_by("vehicle_id"):
            try:
                row = services.close_mapping(mapping_id=mapping.pk)
            except ValidationError as exc:
                self.message_user(request, " ".join(exc.messages), messages.ERROR)
                continue
            self.log_change(request, row, f"Closed at {row.valid_to.isoformat()}")
            closed += 1
        self.message_user(request, f"Closed {closed} mapping(s).", messages.SUCCESS)

    def get_import_data_kwargs(self, **kwargs: Any) -> dict[str, Any]:
        # The confirm step re-validates against the database as it is then: any invalid row
        # rolls the whole import back.
        return {**super().get_import_data_kwargs(**kwargs), "rollback_on_validation_errors": True}

    def process_result(self, result: Any, request: HttpRequest) -> HttpResponse:
        if result.has_errors() or result.has_validation_errors():
            rows = ", ".join(str(row.number) for row in result.invalid_rows) or "see errors"
            self.message_user(
                request,
                f"Nothing was imported: the map changed since the preview and rows {rows} are "
                "no longer valid. Run the import again to see why.",
                messages.ERROR,
            )
            return redirect("admin:fleet_vehiclemetermap_changelist")
        return super().process_result(result, request)


@admin.register(ApiKey)
class ApiKeyAdmin(APIKeyModelAdmin):
    """Create (the key is shown once, in a message), revoke, role, bound device, last used."""

    list_display = [
        "prefix",
        "name",
        "role",
        "vehicle",
        "meter",
        "created",
        "last_used_at",
        "revoked",
    ]
    list_filter = ["role", "revoked", "created"]
    search_fields = ["name", "prefix", "vehicle__id", "meter__id"]
    autocomplete_fields = ["vehicle", "meter"]
    fields = [
        "name",
        "role",
        "vehicle",
        "meter",
        "expiry_date",
        "revoked",
        "prefix",
        "last_used_at",
    ]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return (*super().get_readonly_fields(request, obj), "last_used_at")

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: QuerySet) -> None:
        for key in queryset.filter(revoked=False):
            services.revoke_api_key(key_id=key.pk)
            self.log_change(request, key, "Revoked")
        self.message_user(request, "Revoked.", messages.SUCCESS)


HEALTH_PAGE_SIZE = 200
HEALTH_CHART_BARS = 40


def fleet_health(request: HttpRequest) -> HttpResponse:
    """Every vehicle's efficiency over the last 24 hours (roll-ups), flagged ones first."""
    window = parse_hour_window({"hours": "24"}, timezone.now())
    page_number = request.GET.get("page", "1")
    page = int(page_number) if page_number.isdigit() and int(page_number) > 0 else 1
    result = fleet_efficiency(window, flagged_only=False, page=page, page_size=HEALTH_PAGE_SIZE)
    paginator = Paginator(range(result.count), HEALTH_PAGE_SIZE)
    flagged = fleet_efficiency(window, flagged_only=True, page=1, page_size=1).count
    threshold = settings.EFFICIENCY_ALERT_THRESHOLD
    bars = [
        charts.Bar(row["vehicleId"], row["efficiency"], row["flagged"])
        for row in result.results[:HEALTH_CHART_BARS]
    ]
    context = {
        **admin.site.each_context(request),
        "title": "Fleet health (last 24 hours)",
        "rows": result.results,
        "count": result.count,
        "flagged_count": flagged,
        "threshold": threshold,
        "window": window,
        "chart": charts.efficiency_bars(bars, threshold),
        "page_obj": paginator.get_page(page),
    }
    return TemplateResponse(request, "admin/fleet_health.html", context)
