"""The analytics pages of the back-office: the fleet health page, and the energy chart on each
vehicle's page (added on top of the device admin of the apps below)."""

from __future__ import annotations

from typing import Any, ClassVar

from django.conf import settings
from django.contrib import admin, messages
from django.core.paginator import Paginator
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics import charts, services
from analytics.models import HealthAlert, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from analytics.params import parse_hour_window
from analytics.selectors import fleet_efficiency, vehicle_performance, vehicle_series
from fleet.plumbing.admin import replace_registration
from fleet.plumbing.errors import ApiError
from fleet.plumbing.pagination import PageRequest
from fleet.registry.models import Vehicle
from telemetry.admin import VehicleStatusAdmin

# The admin index links to the fleet health page.
admin.site.index_template = "admin/fleet_index.html"

HEALTH_PAGE_SIZE = 200
HEALTH_CHART_BARS = 40
LAST_DAY = {"hours": "24"}


class VehicleEnergyAdmin(VehicleStatusAdmin):
    """The vehicle page shows its energy per hour over the last 24 hours, with the totals the
    performance API gives for the same window (rounded the same way)."""

    change_form_template = "admin/fleet/vehicle/change_form.html"

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if Vehicle.objects.filter(pk=object_id).exists():
            window = parse_hour_window(LAST_DAY, timezone.now())
            series = vehicle_series(object_id, window)
            # The bars are UTC hours; the axis shows them in the display zone, with its name.
            extra_context["hourly_chart"] = charts.hourly_energy(
                [(timezone.localtime(row["hour"]), row["dc"], row["ac"]) for row in series]
            )
            totals = vehicle_performance(object_id, window)
            extra_context["hourly_totals"] = totals
            extra_context["efficiency_chart"] = charts.hourly_efficiency(
                [(timezone.localtime(row["hour"]), row["efficiency"]) for row in series],
                totals["baseline_efficiency"],
                settings.EFFICIENCY_ALERT_THRESHOLD,
            )
        return super().change_view(request, object_id, form_url, extra_context)


replace_registration(Vehicle, VehicleEnergyAdmin)


def fleet_health(request: HttpRequest) -> HttpResponse:
    """Every vehicle's health over the last 24 hours (roll-ups): leaks, then degraded, then the
    rest, with paired efficiency, baseline and coverage."""
    window = parse_hour_window(LAST_DAY, timezone.now())
    try:
        page = PageRequest.from_query(
            {"page": request.GET.get("page", "1")},
            default_size=HEALTH_PAGE_SIZE,
            max_size=HEALTH_PAGE_SIZE,
        )
    except ApiError:
        page = PageRequest(1, HEALTH_PAGE_SIZE)  # a hand-edited URL gets the first page
    result = fleet_efficiency(window, flagged_only=False, page=page)
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
        "flagged_count": result.flagged,
        "threshold": threshold,
        "min_coverage_percent": round(settings.EFFICIENCY_MIN_COVERAGE * 100),
        "window": window,
        # The window runs to the end of the current hour's bucket; what has happened is "now".
        "now": timezone.now(),
        "chart": charts.efficiency_bars(bars, threshold),
        "page_obj": Paginator(range(result.count), HEALTH_PAGE_SIZE).get_page(page.number),
    }
    return TemplateResponse(request, "admin/fleet_health.html", context)


class RecordAdmin(admin.ModelAdmin):
    """A record the system writes and operators read: no adding, editing or deleting."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(HealthAlert)
class HealthAlertAdmin(RecordAdmin):
    """Alerts and recoveries recorded by evaluate_health; operators acknowledge them. Kept, not
    deleted: they are the record of what the fleet went through."""

    list_display = (
        "created_at",
        "vehicle",
        "kind",
        "verdict",
        "previous",
        "paired",
        "baseline",
        "acknowledged_at",
        "acknowledged_by",
    )
    list_filter = ("kind", "verdict", ("acknowledged_at", admin.EmptyFieldListFilter))
    search_fields = ("vehicle__id",)
    list_select_related = ("acknowledged_by",)
    actions = ["acknowledge"]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.display(description="paired efficiency")
    def paired(self, obj: HealthAlert) -> str:
        return "-" if obj.paired_efficiency is None else f"{obj.paired_efficiency:.4f}"

    @admin.display(description="baseline")
    def baseline(self, obj: HealthAlert) -> str:
        return "-" if obj.baseline_efficiency is None else f"{obj.baseline_efficiency:.4f}"

    @admin.action(description="Acknowledge the selected alerts", permissions=["view"])
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[HealthAlert]) -> None:
        user_id = request.user.pk
        assert user_id is not None  # the admin serves signed-in staff only
        count = services.acknowledge_alerts(queryset.values_list("pk", flat=True), user_id=user_id)
        self.message_user(request, f"Acknowledged {count} alert(s).", messages.SUCCESS)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    """Where alerts go. Only http(s) URLs; the secret signs every body (README, "Alerts")."""

    list_display = ("url", "description", "active", "created_at")
    list_filter = ("active",)
    fields = ("url", "secret", "description", "active")
    # A URL typed without a scheme is taken as https (Django 6's default, chosen now).
    formfield_overrides: ClassVar[dict[Any, dict[str, Any]]] = {
        models.URLField: {"assume_scheme": "https"}
    }


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    fields = ("at", "status", "error", "milliseconds")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(RecordAdmin):
    """The outbox, read-only: each alert's delivery to each endpoint, with every attempt."""

    list_display = (
        "created_at",
        "alert",
        "endpoint",
        "attempts",
        "last_status",
        "delivered_at",
        "next_attempt_at",
        "given_up_at",
    )
    list_filter = (
        ("delivered_at", admin.EmptyFieldListFilter),
        ("given_up_at", admin.EmptyFieldListFilter),
        "endpoint",
    )
    list_select_related = ("alert", "endpoint")
    inlines = [WebhookAttemptInline]

    @admin.display(description="last status")
    def last_status(self, obj: WebhookDelivery) -> str:
        last = obj.tries.order_by("-at", "-id").first()
        if last is None:
            return "-"
        return str(last.status) if last.status is not None else (last.error or "no answer")
