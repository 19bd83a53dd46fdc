"""Reads of the analytics side: per-vehicle performance, the fleet view, chart series."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from django.conf import settings

from analytics import health, queries
from analytics.models import HealthAlert
from analytics.params import Window
from fleet.plumbing.errors import ApiError
from fleet.plumbing.pagination import PageRequest
from fleet.registry.models import Vehicle

EFFICIENCY_PLACES = Decimal("0.0001")
TEMP_PLACES = Decimal("0.01")


def efficiency(dc: Decimal, ac: Decimal) -> float | None:
    """DC / AC to 4 places (banker's rounding, so the same sums always print the same), or
    None without AC. Not clamped: above 1 means a meter or mapping is wrong, and must show."""
    if not ac:
        return None
    return float((dc / ac).quantize(EFFICIENCY_PLACES, rounding=ROUND_HALF_EVEN))


def _kwh(value: Decimal) -> float:
    return float(value)


def _temp(value: float | None) -> float | None:
    if value is None:
        return None
    return float(Decimal(value).quantize(TEMP_PLACES, rounding=ROUND_HALF_EVEN))


def _unknown_vehicle(vehicle_id: str) -> ApiError:
    return ApiError(404, f"Vehicle {vehicle_id} is not known.")


def _require_vehicle(vehicle_id: str) -> None:
    if not Vehicle.objects.filter(pk=vehicle_id).exists():
        raise _unknown_vehicle(vehicle_id)


def vehicle_performance(vehicle_id: str, window: Window) -> dict[str, Any]:
    """Exact totals of one vehicle over the window: the hourly roll-ups for its whole hours,
    raw history (partition-pruned) for the partial hours at its ends."""
    totals = queries.vehicle_totals(vehicle_id, window.start, window.end)
    if not totals.known:
        raise _unknown_vehicle(vehicle_id)
    dc, ac = totals.dc, totals.ac
    return {
        **_health_fields(vehicle_health(vehicle_id, window.start, window.end)),
        "total_dc": _kwh(dc.kwh),
        "total_ac": _kwh(ac.kwh),
        "efficiency": efficiency(dc.kwh, ac.kwh),
        "avg_battery_temp": _temp(dc.avg_battery_temp),
        "vehicleId": vehicle_id,
        "from": window.start,
        "to": window.end,
        "readings": {"vehicle": dc.readings, "meter": ac.readings},
        "meters": totals.meters,
    }


def _four_places(value: Decimal | None) -> float | None:
    if value is None:
        return None
    return float(value.quantize(EFFICIENCY_PLACES, rounding=ROUND_HALF_EVEN))


def vehicle_health(vehicle_id: str, start: datetime, end: datetime) -> health.Health:
    """Coverage, paired efficiency, baseline and verdict of one vehicle over [start, end)."""
    base_start, base_end = health.baseline_window(start)
    # One read of the map for both periods: analytics.health clips the spans to each hour.
    _, spans = queries.vehicle_spans(vehicle_id, min(base_start, start), end)
    base_hours = queries.vehicle_hours(vehicle_id, base_start, base_end)
    base = health.baseline(base_hours, spans, base_start, base_end)
    hours = queries.vehicle_hours(vehicle_id, start, end)
    return health.assess(hours, spans, start, end, base)


def _health_fields(assessed: health.Health) -> dict[str, Any]:
    both = assessed.paired
    return {
        "coverage": {
            "vehicle": _four_places(assessed.vehicle_coverage),
            "meter": _four_places(assessed.meter_coverage),
        },
        "paired": {
            "hours": both.hours,
            "total_dc": _kwh(both.dc),
            "total_ac": _kwh(both.ac),
            "efficiency": efficiency(both.dc, both.ac),
        },
        "baseline_efficiency": _four_places(assessed.baseline),
        "health": assessed.verdict,
    }


@dataclass(frozen=True)
class FleetPage:
    count: int  # vehicles listed (all, or with flagged_only the flagged ones)
    flagged: int  # of those, how many are flagged
    results: list[dict[str, Any]]


def fleet_efficiency(
    window: Window,
    *,
    flagged_only: bool,
    page: PageRequest,
    health_in: list[str] | None = None,
) -> FleetPage:
    """Every vehicle with readings in the (whole-hour) window: leaks, then degraded, then the
    rest, each by paired efficiency (worst first)."""
    threshold = settings.EFFICIENCY_ALERT_THRESHOLD
    counts, rows = queries.fleet_page(
        window.start,
        window.end,
        threshold=threshold,
        flagged_only=flagged_only,
        limit=page.size,
        offset=page.offset,
        health=health_in,
        baseline_day=health.baseline_window(window.start)[1],
    )
    results = []
    for row in rows:
        vehicle_coverage, meter_coverage = health.coverage(
            row.vehicle_readings, row.meter_readings, window.start, window.end, row.mapped_seconds
        )
        assessed = health.Health(
            vehicle_coverage=vehicle_coverage,
            meter_coverage=meter_coverage,
            paired=health.Paired(row.paired_hours, row.paired_dc, row.paired_ac),
            baseline=row.baseline,
            verdict=row.health,
        )
        results.append(
            {
                **_health_fields(assessed),
                "vehicleId": row.vehicle_id,
                "total_dc": _kwh(row.total_dc),
                "total_ac": _kwh(row.total_ac),
                "efficiency": efficiency(row.total_dc, row.total_ac),
                "avg_battery_temp": _temp(row.avg_battery_temp),
                "readings": {"vehicle": row.vehicle_readings, "meter": row.meter_readings},
                "flagged": row.ratio is not None and row.ratio < Decimal(str(threshold)),
            }
        )
    return FleetPage(counts.vehicles, counts.flagged, results)


def vehicle_series(vehicle_id: str, window: Window) -> list[dict[str, Any]]:
    """Per-hour dc, ac and efficiency of one vehicle for charts (every hour, zeros included)."""
    _require_vehicle(vehicle_id)
    return [
        {
            "hour": hour,
            "dc": _kwh(dc),
            "ac": _kwh(ac),
            "efficiency": efficiency(dc, ac),
            "readings": {"vehicle": n_dc, "meter": n_ac},
        }
        for hour, dc, ac, n_dc, n_ac in queries.vehicle_hourly_series(
            vehicle_id, window.start, window.end
        )
    ]


def alerts_page(
    *, vehicle_id: str | None, state: str | None, page: PageRequest
) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, one page of them), newest first."""
    alerts = HealthAlert.objects.select_related("acknowledged_by")
    if vehicle_id is not None:
        alerts = alerts.filter(vehicle_id=vehicle_id)
    if state is not None:
        alerts = alerts.filter(acknowledged_at__isnull=state == "open")
    count = alerts.count()
    return count, [alert_item(alert) for alert in alerts[page.offset : page.offset + page.size]]


def alert_item(alert: HealthAlert) -> dict[str, Any]:
    """An alert as GET /v1/alerts and the webhook bodies show it."""
    return {
        "id": alert.pk,
        "vehicleId": alert.vehicle_id,
        "kind": alert.kind,
        "health": alert.verdict,
        "previous": alert.previous or None,
        "paired_efficiency": _four_places(alert.paired_efficiency),
        "baseline_efficiency": _four_places(alert.baseline_efficiency),
        "from": alert.window_start,
        "to": alert.window_end,
        "created_at": alert.created_at,
        "acknowledged_at": alert.acknowledged_at,
        "acknowledged_by": alert.acknowledged_by.get_username() if alert.acknowledged_by else None,
    }
