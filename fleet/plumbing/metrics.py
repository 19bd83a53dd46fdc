"""Prometheus metrics: django-prometheus's request metrics plus the apps' own counters
(telemetry.metrics), served at /metrics.

Under gunicorn every worker counts on its own; gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR
at a fresh folder so /metrics adds up all workers (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import ipaddress
import os
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client import REGISTRY as DEFAULT_REGISTRY

from fleet.plumbing.errors import error_body


def _allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if token and header.startswith("Bearer ") and constant_time_compare(header[7:], token):
        return True
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(
        address in ipaddress.ip_network(network, strict=False)
        for network in settings.METRICS_ALLOWED_NETWORKS
    )


def metrics_view(request: HttpRequest) -> HttpResponse:
    """GET /metrics in Prometheus text format; 403 from outside METRICS_ALLOWED_NETWORKS
    unless the request carries METRICS_TOKEN as a bearer token."""
    if not _allowed(request):
        return JsonResponse(error_body(403, "Metrics are not public."), status=403)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = DEFAULT_REGISTRY
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)


# Per request: latency and status by view, under django-prometheus' names (dashboards keep
# working). Its pair of middleware updated about ten metrics a request, nine label look-ups
# among them: about a tenth of a single-reading POST's CPU (cProfile, bench/RESULTS.md). Here
# two updates, through children kept per label set (a labels() call costs more than the update).
LATENCY = Histogram(
    "django_http_requests_latency_seconds_by_view_method",
    "Request latency by view and method",
    ["view", "method"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
RESPONSES = Counter(
    "django_http_responses_total_by_status_view_method",
    "Responses by status, view and method",
    ["status", "view", "method"],
)
_latency: dict[tuple[str, str], Any] = {}
_responses: dict[tuple[str, str, int], Any] = {}


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        view = match.view_name if match is not None else "<unresolved>"
        method = request.method or ""
        latency = _latency.get((view, method))
        if latency is None:
            latency = _latency[(view, method)] = LATENCY.labels(view, method)
        latency.observe(time.perf_counter() - started)
        key = (view, method, response.status_code)
        responses = _responses.get(key)
        if responses is None:
            responses = _responses[key] = RESPONSES.labels(str(response.status_code), view, method)
        responses.inc()
        return response
