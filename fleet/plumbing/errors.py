"""The API's error shape: {"status": <code>, "message": "<sentence>", "errors": {...}}."""

from __future__ import annotations

import logging
import sys
from typing import Any

from django.core.exceptions import DisallowedHost, PermissionDenied, SuspiciousOperation
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.csrf import csrf_failure as default_csrf_failure
from django.views.defaults import bad_request as default_bad_request
from django.views.defaults import page_not_found
from django.views.defaults import permission_denied as default_permission_denied
from django.views.defaults import server_error as default_server_error
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)

# How long a client should wait before retrying while the database is unreachable.
RETRY_AFTER_SECONDS = 5


class ApiError(exceptions.APIException):
    """An error with an explicit status, message and per-field (or per-index) details."""

    def __init__(self, status_code: int, message: str, errors: dict[str, Any] | None = None):
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.errors = errors or {}


def error_body(status_code: int, message: str, errors: Any = None) -> dict[str, Any]:
    return {"status": status_code, "message": message, "errors": errors or {}}


def database_unavailable() -> JsonResponse:
    response = JsonResponse(
        error_body(503, "The database is unavailable; retry shortly."), status=503
    )
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def _message(detail: Any) -> str:
    if isinstance(detail, list) and detail:
        return _message(detail[0])
    if isinstance(detail, dict) and detail:
        return _message(next(iter(detail.values())))
    return str(detail)


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApiError):
        return Response(
            error_body(exc.status_code, exc.message, exc.errors), status=exc.status_code
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        # Connection refused, server restarting, statement timeout: the client can retry.
        logger.warning("database unavailable: %s", exc)
        return Response(
            error_body(503, "The database is unavailable; retry shortly."),
            status=503,
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found.")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    detail = response.data
    if isinstance(exc, exceptions.ValidationError):
        message = "The request is invalid; see errors."
        errors = detail if isinstance(detail, dict) else {"non_field_errors": detail}
    else:
        message = _message(detail.get("detail", detail) if isinstance(detail, dict) else detail)
        errors = {}
    response.data = error_body(response.status_code, message, errors)
    return response


def _is_api(request: HttpRequest) -> bool:
    # Devices and scripts parse JSON: everything under /v1/ answers in the error shape, even
    # what Django raises before (or instead of) a view. The admin keeps Django's pages.
    return request.path.startswith("/v1/")


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400 for what Django refuses before a view: a Host header not in ALLOWED_HOSTS, a
    malformed cookie or multipart body (SuspiciousOperation)."""
    if _is_api(request):
        message = "The request is malformed."
        if isinstance(exception, DisallowedHost):
            message = "The Host header names a host this server does not serve."
        return JsonResponse(error_body(400, message), status=400)
    return default_bad_request(request, exception or SuspiciousOperation())


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        message = str(exception) if exception is not None and str(exception) else "Forbidden."
        return JsonResponse(error_body(403, message), status=403)
    return default_permission_denied(request, exception or PermissionDenied())


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """CSRF_FAILURE_VIEW: the API authenticates by key and never needs a CSRF token, but a
    form POST to a non-API URL under /v1/ would get Django's HTML page."""
    if _is_api(request):
        message = "CSRF verification failed; API requests authenticate with an API key."
        return JsonResponse(error_body(403, message), status=403)
    return default_csrf_failure(request, reason)


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """404 in the API's error shape under /v1/ (devices parse JSON), Django's page elsewhere."""
    if _is_api(request):
        return JsonResponse(
            error_body(404, f"No endpoint at {request.path}; see /v1/docs."), status=404
        )
    return page_not_found(request, exception or Http404())


def server_error(request: HttpRequest) -> HttpResponse:
    """500 in the API's error shape under /v1/ (it is a bug: it is logged with its traceback).

    Django turns an exception into a response at every middleware layer, so a lost database
    met below DatabaseUnavailableMiddleware outside a view (the session middleware saving in
    process_response, say) never reaches it: it arrives here, still being handled, and is a
    503 like any other lost connection.
    """
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return database_unavailable()
    if _is_api(request):
        return JsonResponse(error_body(500, "Internal error; it has been logged."), status=500)
    return default_server_error(request)
