"""Health, readiness, metrics access, throttling, and a lost database outside DRF."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.cache import cache
from django.db import OperationalError
from django.http import HttpRequest, HttpResponse
from django.test import Client, RequestFactory
from pytest_django.fixtures import Settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient

from fleet.plumbing.middleware import DatabaseUnavailableMiddleware
from fleet.registry import throttles
from fleet.registry.models import ApiKey
from fleet.registry.throttles import parse_rate
from tests.factories import at, make_key, meter, post

pytestmark = pytest.mark.django_db


def test_healthz_and_readyz_answer_ok() -> None:
    client = Client()
    assert client.get("/healthz").json() == {"status": "ok"}
    assert client.get("/readyz").json() == {"status": "ok", "database": "ok"}


def test_a_lost_database_outside_drf_is_a_503_with_retry_after() -> None:
    def broken_view(request: HttpRequest) -> HttpResponse:
        raise OperationalError("connection refused")

    response = DatabaseUnavailableMiddleware(broken_view)(RequestFactory().get("/admin/"))
    assert response.status_code == 503
    assert response["Retry-After"] == "5"


class LosesTheDatabaseAfterTheView:
    """Stands for the session middleware failing to save in process_response: below our
    middleware and outside any view, where Django makes the exception a response itself."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        self.get_response(request)
        raise OperationalError("server closed the connection unexpectedly")


@pytest.mark.parametrize("path", ["/admin/login/", "/v1/telemetry"])
def test_a_lost_database_in_an_inner_middleware_is_a_503_not_a_500(
    settings: Settings, path: str
) -> None:
    settings.MIDDLEWARE = [
        *settings.MIDDLEWARE,
        f"{__name__}.{LosesTheDatabaseAfterTheView.__name__}",
    ]
    response = Client(raise_request_exception=False).get(path)
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["message"] == "The database is unavailable; retry shortly."


def test_any_other_error_is_still_a_500_in_the_api_error_shape(settings: Settings) -> None:
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, f"{__name__}.{RaisesABug.__name__}"]
    response = Client(raise_request_exception=False).get("/v1/telemetry")
    assert response.status_code == 500
    assert response.json() == {
        "status": 500,
        "message": "Internal error; it has been logged.",
        "errors": {},
    }


class RaisesABug(LosesTheDatabaseAfterTheView):
    def __call__(self, request: HttpRequest) -> HttpResponse:
        raise ZeroDivisionError("a bug")


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_count_accepted_duplicate_and_rejected_readings(api_client: APIClient) -> None:
    before = Client().get("/metrics").content.decode()
    _, key = make_key(ApiKey.Role.DEVICE)
    post(api_client, key, [meter("MT1", at(1)), meter("MT1", at(2))])
    post(api_client, key, [meter("MT1", at(1))])
    post(api_client, key, [meter("MT1", at(3), voltage=-1)])
    after = Client().get("/metrics").content.decode()
    name = 'fleet_readings_{}_total{{kind="meter"}}'
    assert metric(after, name.format("accepted")) - metric(before, name.format("accepted")) == 2
    assert metric(after, name.format("duplicate")) - metric(before, name.format("duplicate")) == 1
    assert metric(after, name.format("rejected")) - metric(before, name.format("rejected")) == 1
    assert "fleet_ingest_batch_size_bucket" in after
    latency = (
        'django_http_requests_latency_seconds_by_view_method_count{method="POST",view="telemetry"}'
    )
    assert metric(after, latency) - metric(before, latency) == 3
    refused = (
        "django_http_responses_total_by_status_view_method_total"
        '{method="POST",status="400",view="telemetry"}'
    )
    assert metric(after, refused) - metric(before, refused) == 1


def test_metrics_are_not_public(settings: Settings) -> None:
    outsider = Client(REMOTE_ADDR="203.0.113.9")
    assert outsider.get("/metrics").status_code == 403
    settings.METRICS_TOKEN = "s3cret-token"
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 403
    assert outsider.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token").status_code == 200
    assert Client(REMOTE_ADDR="127.0.0.1").get("/metrics").status_code == 200


def test_each_key_is_throttled_at_its_roles_rate(
    api_client: APIClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(throttles, "clock", lambda: 60 * 1_000_000 + 1.0)  # a window's start
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"device": "3/min", "analyst": "600/min"},
    }
    cache.clear()
    _, first = make_key(ApiKey.Role.DEVICE)
    _, second = make_key(ApiKey.Role.DEVICE)
    statuses = [post(api_client, first, meter("MT1", at(i))).status_code for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = post(api_client, first, meter("MT1", at(9)))
    assert limited["Retry-After"] == "59"
    assert limited.json()["status"] == 429
    assert limited.json()["message"].startswith(
        "This API key may make 3 requests per min (device keys); slow down."
    )
    assert post(api_client, second, meter("MT2", at(1))).status_code == 200  # its own budget
    cache.clear()


def test_a_throttle_cache_that_cannot_be_reached_lets_requests_through(
    api_client: APIClient, settings: Settings
) -> None:
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens there
        }
    }
    _, key = make_key(ApiKey.Role.DEVICE)
    assert [post(api_client, key, meter("MT1", at(i))).status_code for i in range(2)] == [200] * 2


def test_the_default_device_rate_leaves_a_gateways_bursts_alone() -> None:
    # 10,000 devices at one reading a minute through one gateway key, in a 10x burst.
    rate = parse_rate(api_settings.DEFAULT_THROTTLE_RATES["device"])
    assert rate.requests / rate.seconds >= 10 * 10_000 / 60


def test_an_unreadable_rate_is_refused_with_what_to_write() -> None:
    with pytest.raises(ValueError, match="write N/s, N/min, N/hour or N/day"):
        parse_rate("lots")


def test_an_unknown_api_path_is_a_json_404() -> None:
    response = Client().get("/v1/nope")
    assert response.status_code == 404
    assert response.json() == {
        "status": 404,
        "message": "No endpoint at /v1/nope; see /v1/docs.",
        "errors": {},
    }
    assert Client().get("/nope").status_code == 404


def test_the_per_worker_count_starts_again_in_each_window(
    api_client: APIClient, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"device": "2/min", "analyst": "600/min"},
    }
    _, key = make_key(ApiKey.Role.DEVICE)
    clock = [60 * 1_000_000 + 10.0]  # 10 s into a minute's window
    monkeypatch.setattr(throttles, "clock", lambda: clock[0])
    first = [post(api_client, key, meter("MT1", at(i))).status_code for i in range(3)]
    assert first == [200, 200, 429]
    clock[0] += 49.9  # still the same window
    assert post(api_client, key, meter("MT1", at(3))).status_code == 429
    clock[0] += 0.2  # the next one
    assert [post(api_client, key, meter("MT1", at(i))).status_code for i in (4, 5, 6)] == [
        200,
        200,
        429,
    ]
