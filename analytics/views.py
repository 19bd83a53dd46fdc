"""Analytics endpoints (analyst keys). Thin: parse the window, call a selector, serialize."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from analytics import selectors
from analytics.windows import parse_hour_window, parse_window
from fleet.api import ApiError
from fleet.auth import IsAnalystKey

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000


def _positive_int(params: dict[str, str], name: str, default: int, maximum: int) -> int:
    raw = params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if not 1 <= value <= maximum:
        raise ApiError(400, f"'{name}' must be a whole number from 1 to {maximum}.")
    return value


class PerformanceViewSet(viewsets.ViewSet):
    """GET /v1/analytics/performance/{vehicleId}[/series]."""

    permission_classes = [IsAnalystKey]

    def retrieve(self, request: Request, pk: str) -> Response:
        window = parse_window(request.query_params, timezone.now())
        return Response(selectors.vehicle_performance(pk, window))

    @action(detail=True, methods=["get"])
    def series(self, request: Request, pk: str) -> Response:
        if request.query_params.get("bucket", "hour") != "hour":
            raise ApiError(400, "'bucket' must be 'hour' (the only bucket size so far).")
        window = parse_hour_window(request.query_params, timezone.now())
        return Response(
            {
                "vehicleId": pk,
                "from": window.start,
                "to": window.end,
                "bucket": "hour",
                "results": selectors.vehicle_series(pk, window),
            }
        )


class FleetViewSet(viewsets.ViewSet):
    """GET /v1/analytics/fleet: every vehicle's efficiency, worst first, paginated."""

    permission_classes = [IsAnalystKey]

    def list(self, request: Request) -> Response:
        params = request.query_params
        window = parse_hour_window(params, timezone.now())
        flagged = params.get("flagged", "false").lower()
        if flagged not in ("true", "false", "1", "0"):
            raise ApiError(400, "'flagged' must be true or false.")
        page = _positive_int(params, "page", 1, 10**6)
        page_size = _positive_int(params, "page_size", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        result = selectors.fleet_efficiency(
            window, flagged_only=flagged in ("true", "1"), page=page, page_size=page_size
        )
        url = request.build_absolute_uri()
        has_next = page * page_size < result.count
        previous = None
        if page > 1:
            previous = (
                remove_query_param(url, "page")
                if page == 2
                else replace_query_param(url, "page", page - 1)
            )
        return Response(
            {
                "count": result.count,
                "next": replace_query_param(url, "page", page + 1) if has_next else None,
                "previous": previous,
                "from": window.start,
                "to": window.end,
                "threshold": settings.EFFICIENCY_ALERT_THRESHOLD,
                "results": result.results,
            }
        )
