"""Analytics endpoints (analyst keys). Thin: parse the window, call a selector, serialize."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from analytics import selectors
from analytics.serializers import (
    WINDOW_PARAMETERS,
    FleetPageSerializer,
    PerformanceSerializer,
    SeriesSerializer,
)
from analytics.windows import parse_hour_window, parse_window
from fleet.api import ApiError
from fleet.auth import IsAnalystKey
from fleet.openapi import COMMON_ERRORS, error

BAD_WINDOW = error("Bad window or paging parameters.")

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

    @extend_schema(
        operation_id="vehicle_performance",
        parameters=WINDOW_PARAMETERS,
        responses={
            200: PerformanceSerializer,
            400: BAD_WINDOW,
            404: error("Unknown vehicle."),
            **COMMON_ERRORS,
        },
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        window = parse_window(request.query_params, timezone.now())
        return Response(selectors.vehicle_performance(pk, window))

    @extend_schema(
        operation_id="vehicle_performance_series",
        parameters=[
            *WINDOW_PARAMETERS,
            OpenApiParameter("bucket", str, enum=["hour"], description="Bucket size."),
        ],
        responses={
            200: SeriesSerializer,
            400: BAD_WINDOW,
            404: error("Unknown vehicle."),
            **COMMON_ERRORS,
        },
    )
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

    @extend_schema(
        operation_id="fleet_efficiency",
        parameters=[
            *WINDOW_PARAMETERS,
            OpenApiParameter("flagged", bool, description="Only vehicles below the threshold."),
            OpenApiParameter("page", int, description="Page number, from 1."),
            OpenApiParameter("page_size", int, description="1-1000, default 50."),
        ],
        responses={200: FleetPageSerializer, 400: BAD_WINDOW, **COMMON_ERRORS},
    )
    def efficiency(self, request: Request) -> Response:
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
