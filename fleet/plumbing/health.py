"""Liveness and readiness for load balancers and orchestrators."""

from __future__ import annotations

from django.db import InterfaceError, OperationalError, connection
from django.http import HttpRequest, JsonResponse

from fleet.plumbing.db import on_live_connection
from fleet.plumbing.errors import database_unavailable


def healthz(request: HttpRequest) -> JsonResponse:
    """The process is up and answering; says nothing about the database."""
    return JsonResponse({"status": "ok"})


def readyz(request: HttpRequest) -> JsonResponse:
    """The database answers a query; 503 with Retry-After when it does not."""

    def ping() -> None:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")

    try:
        on_live_connection(ping)  # a connection closed by a restart is not "not ready"
    except (OperationalError, InterfaceError):
        return database_unavailable()
    return JsonResponse({"status": "ok", "database": "ok"})
