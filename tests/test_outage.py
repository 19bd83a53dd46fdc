"""The database stops under a running service and comes back: 503 with Retry-After in time,
never a 500 or a hang, and recovery without restarting the app."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.support.clock import real_now
from tests.support.pgcluster import App, Cluster, app_env, create_key, prepare_database


def call(url: str, body: Any = None, key: str | None = None) -> tuple[int, dict, dict]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    request.add_header("Content-Type", "application/json")
    if key:
        request.add_header("Authorization", f"Api-Key {key}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"{}")


def an_hour_ago_on_the_servers_clock() -> datetime:
    """A whole minute an hour back, read once: every reading is that plus n minutes.

    gunicorn runs in a subprocess on the machine's real clock, which neither the test's stopped
    clock nor FLEET_TEST_CLOCK reaches, so this reads the real clock too. An hour back and a
    few minutes on, no reading comes near the five minutes "in the future" the server refuses,
    at whatever minute of the hour the test runs.
    """
    return real_now().replace(second=0, microsecond=0) - timedelta(hours=1)


def reading(start: datetime, minute: int) -> dict[str, Any]:
    return {
        "meterId": "MT-OUTAGE",
        "kwhConsumedAc": 0.5,
        "voltage": 230.0,
        "timestamp": (start + timedelta(minutes=minute)).isoformat(),
    }


@pytest.fixture(scope="module")
def service() -> Iterator[tuple[Cluster, App, str]]:
    cluster = Cluster()
    app = None
    try:
        env = app_env(cluster)
        prepare_database(env)
        key = create_key(env, "outage", "device")
        app = App(env)
        yield cluster, app, key
    finally:
        if app is not None:
            app.stop()
        cluster.destroy()


def test_api_answers_503_with_retry_after_while_the_database_is_down_then_recovers(
    service: tuple[Cluster, App, str],
) -> None:
    cluster, app, key = service
    start = an_hour_ago_on_the_servers_clock()
    assert call(f"{app.url}/v1/telemetry", reading(start, 1), key)[0] == 200

    cluster.stop()
    try:
        for path, body in (
            ("/v1/telemetry", reading(start, 2)),
            ("/v1/telemetry", reading(start, 3)),
        ):
            started = time.monotonic()
            status, headers, payload = call(app.url + path, body, key)
            assert time.monotonic() - started < 5
            assert status == 503
            assert headers["Retry-After"] == "5"
            assert payload["message"] == "The database is unavailable; retry shortly."
        status, headers, _ = call(f"{app.url}/readyz")
        assert (status, headers["Retry-After"]) == (503, "5")
        assert call(f"{app.url}/healthz")[0] == 200  # the process itself is fine
    finally:
        cluster.start()

    # Back without restarting the app: stale connections are detected and replaced.
    statuses = [call(f"{app.url}/v1/telemetry", reading(start, 4 + i), key)[0] for i in range(4)]
    assert statuses == [200] * 4
    assert call(f"{app.url}/readyz")[0] == 200
    assert cluster.query("SELECT count(*) FROM meter_telemetry") == [(5,)]
