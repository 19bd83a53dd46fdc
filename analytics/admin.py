"""The analytics pages of the back-office: the fleet health page, and the energy chart on each
vehicle's page (added on top of the device admin of the apps below)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from analytics import charts
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
            extra_context["hourly_totals"] = vehicle_performance(object_id, window)
        return super().change_view(request, object_id, form_url, extra_context)


replace_registration(Vehicle, VehicleEnergyAdmin)


def fleet_health(request: HttpRequest) -> HttpResponse:
    """Every vehicle's efficiency over the last 24 hours (roll-ups), flagged ones first."""
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
        "window": window,
        # The window runs to the end of the current hour's bucket; what has happened is "now".
        "now": timezone.now(),
        "chart": charts.efficiency_bars(bars, threshold),
        "page_obj": Paginator(range(result.count), HEALTH_PAGE_SIZE).get_page(page.number),
    }
    return TemplateResponse(request, "admin/fleet_health.html", context)
