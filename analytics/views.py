"""Analytics endpoints (analyst keys). Thin: parse the parameters, call a selector, serialize."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from analytics import selectors
from analytics.health import VERDICTS
from analytics.params import (
    ALERT_STATES,
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    parse_alert_query,
    parse_fleet_query,
    parse_series_query,
    parse_window,
)
from analytics.serializers import (
    WINDOW_PARAMETERS,
    AlertPageSerializer,
    FleetPageSerializer,
    PerformanceSerializer,
    SeriesSerializer,
)
from fleet.plumbing.openapi import COMMON_ERRORS, error
from fleet.registry import paths
from fleet.registry.auth import IsAnalystKey

BAD_WINDOW = error("Bad window or paging parameters, or a path id that is not a device id.")


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
        return Response(selectors.vehicle_performance(paths.device_id(pk, "vehicle"), window))

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
        window = parse_series_query(request.query_params, timezone.now())
        pk = paths.device_id(pk, "vehicle")
        return Response(
            {
                "vehicleId": pk,
                "from": window.start,
                "to": window.end,
                "bucket": "hour",
                "results": selectors.vehicle_series(pk, window),
            }
        )


PAGE_PARAMETERS = [
    OpenApiParameter("page", int, description="Page number, from 1."),
    OpenApiParameter(
        "page_size", int, description=f"1-{MAX_PAGE_SIZE}, default {DEFAULT_PAGE_SIZE}."
    ),
]


class FleetViewSet(viewsets.ViewSet):
    """GET /v1/analytics/fleet: every vehicle's efficiency, worst first, paginated."""

    permission_classes = [IsAnalystKey]

    @extend_schema(
        operation_id="fleet_efficiency",
        parameters=[
            *WINDOW_PARAMETERS,
            OpenApiParameter("flagged", bool, description="Only vehicles below the threshold."),
            OpenApiParameter(
                "health",
                str,
                description="Only these verdicts, a comma list of: " + ", ".join(VERDICTS),
            ),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: FleetPageSerializer,
            400: BAD_WINDOW,
            404: error("A page past the last one."),
            **COMMON_ERRORS,
        },
    )
    def efficiency(self, request: Request) -> Response:
        query = parse_fleet_query(request.query_params, timezone.now())
        result = selectors.fleet_efficiency(
            query.window, flagged_only=query.flagged_only, page=query.page, health_in=query.health
        )
        query.page.check_exists(result.count)
        return Response(
            query.page.body(
                request,
                result.count,
                result.results,
                **{
                    "from": query.window.start,
                    "to": query.window.end,
                    "threshold": settings.EFFICIENCY_ALERT_THRESHOLD,
                },
            )
        )


class AlertViewSet(viewsets.ViewSet):
    """GET /v1/alerts: health changes recorded by manage.py evaluate_health, newest first."""

    permission_classes = [IsAnalystKey]

    @extend_schema(
        operation_id="alerts",
        parameters=[
            OpenApiParameter("vehicle", str, description="Only this vehicle's alerts."),
            OpenApiParameter(
                "state", str, enum=list(ALERT_STATES), description="open or acknowledged."
            ),
            *PAGE_PARAMETERS,
        ],
        responses={
            200: AlertPageSerializer,
            400: error("Bad filter or paging parameters."),
            404: error("A page past the last one."),
            **COMMON_ERRORS,
        },
    )
    # Not "list": drf-spectacular would document a list action's page as a bare array.
    def recent(self, request: Request) -> Response:
        query = parse_alert_query(request.query_params)
        count, results = selectors.alerts_page(
            vehicle_id=query.vehicle_id, state=query.state, page=query.page
        )
        query.page.check_exists(count)
        return Response(query.page.body(request, count, results))
