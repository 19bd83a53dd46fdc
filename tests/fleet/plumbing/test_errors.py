"""Every error under /v1/ is JSON in the error shape, even those Django raises before a view."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client, RequestFactory

from fleet.plumbing.errors import csrf_failure, permission_denied
from fleet.registry.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def error_of(response: Any) -> tuple[int, str]:
    assert response["Content-Type"] == "application/json"
    body = json.loads(response.content)
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == response.status_code
    return response.status_code, body["message"]


def test_a_host_header_not_allowed_is_a_json_400_under_v1() -> None:
    response = Client().get("/v1/analytics/fleet", HTTP_HOST="attacker.example")
    assert error_of(response) == (
        400,
        "The Host header names a host this server does not serve.",
    )


def test_the_same_mistake_outside_the_api_keeps_djangos_page() -> None:
    response = Client().get("/admin/login/", HTTP_HOST="attacker.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_method_the_endpoint_does_not_have_is_a_json_405() -> None:
    _, key = make_key(ApiKey.Role.DEVICE)
    response = Client().delete("/v1/telemetry", HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert error_of(response) == (405, 'Method "DELETE" not allowed.')


def test_a_csrf_failure_under_v1_is_a_json_403() -> None:
    request = RequestFactory().post("/v1/anything")
    assert error_of(csrf_failure(request, "no token")) == (
        403,
        "CSRF verification failed; API requests authenticate with an API key.",
    )


def test_a_permission_denied_under_v1_is_a_json_403() -> None:
    request = RequestFactory().get("/v1/anything")
    assert error_of(permission_denied(request, None)) == (403, "Forbidden.")
