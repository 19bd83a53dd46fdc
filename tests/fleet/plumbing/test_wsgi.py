"""The WSGI application routes API paths through the short middleware chain and the rest
(the admin) through all of it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pytest
from django.conf import settings
from django.test import RequestFactory

from fleet.plumbing.wsgi import application
from fleet.registry.models import ApiKey
from telemetry.models import MeterTelemetry
from tests.factories import at, iso, make_key

Answer = tuple[str, dict[str, str], bytes]


def call(app: Any, environ: dict[str, Any]) -> Answer:
    got: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        got["status"], got["headers"] = status, dict(headers)

    body: Iterable[bytes] = app(environ, start_response)
    return got["status"], got["headers"], b"".join(body)


@pytest.fixture(scope="module")
def app() -> Any:
    return application()


def test_the_api_chain_is_the_full_one_without_the_back_offices_middleware() -> None:
    assert settings.API_MIDDLEWARE == [
        "fleet.plumbing.metrics.RequestMetricsMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "fleet.plumbing.middleware.DatabaseUnavailableMiddleware",
        "django.middleware.common.CommonMiddleware",
    ]


@pytest.mark.django_db(transaction=True)
def test_an_api_request_skips_the_back_offices_middleware(app: Any) -> None:
    status, headers, _ = call(app, RequestFactory().get("/healthz").environ)
    assert status.startswith("200")
    assert "X-Frame-Options" not in headers  # clickjacking middleware: back office only
    assert "Vary" not in headers  # no session or CSRF cookie considered


@pytest.mark.django_db(transaction=True)
def test_the_admin_keeps_every_middleware(app: Any) -> None:
    status, headers, _ = call(app, RequestFactory().get("/admin/login/").environ)
    assert status.startswith("200")
    assert headers["X-Frame-Options"] == "DENY"
    assert "csrftoken=" in headers.get("Set-Cookie", "")


@pytest.mark.django_db(transaction=True)
def test_a_reading_posted_through_the_api_chain_is_stored(app: Any) -> None:
    _, key = make_key(ApiKey.Role.DEVICE)
    body = (
        f'{{"meterId": "MT1", "timestamp": "{iso(at(1))}", "kwhConsumedAc": 1.5, "voltage": 230}}'
    )
    environ = (
        RequestFactory()
        .post(
            "/v1/telemetry",
            data=body,
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        .environ
    )
    status, _, answer = call(app, environ)
    assert status.startswith("200"), answer
    assert MeterTelemetry.objects.filter(meter_id="MT1").count() == 1
