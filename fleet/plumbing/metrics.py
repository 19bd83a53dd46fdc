"""Prometheus metrics: django-prometheus's request metrics plus the apps' own counters
(telemetry.metrics), served at /metrics.

Under gunicorn every worker counts on its own; gunicorn.conf.py points PROMETHEUS_MULTIPROC_DIR
at a fresh folder so /metrics adds up all workers (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import ipaddress
import os

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.crypto import constant_time_compare
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
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
