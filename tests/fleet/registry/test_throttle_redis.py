"""Throttling with CACHE_URL=redis://...: one count per key, shared by every gunicorn worker."""

from __future__ import annotations

import http.client
import os
import socket
from collections import Counter
from collections.abc import Iterator

import pytest
import redis

from tests.support.pgcluster import App, served

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_answers() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=1).close()
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(
    not redis_answers() and not os.environ.get("REQUIRE_REDIS"),
    reason="no Redis at 127.0.0.1:6379 (CI has one; REQUIRE_REDIS=1 makes this fail instead)",
)


@pytest.fixture(scope="module")
def throttled_app() -> Iterator[tuple[App, str]]:
    store = redis.Redis.from_url(REDIS_URL)
    store.flushdb()  # database 15 is this test's own
    try:
        with served("analyst", CACHE_URL=REDIS_URL, THROTTLE_ANALYST_RATE="10/min") as running:
            yield running
    finally:
        store.flushdb()


def status_of(app: App, key: str) -> int:
    # A new connection each time, as sync workers close it anyway.
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=10)
    try:
        connection.request(
            "GET", "/v1/vehicles/VH404/status", headers={"Authorization": f"Api-Key {key}"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def test_two_workers_share_one_count_per_key_in_redis(throttled_app: tuple[App, str]) -> None:
    app, key = throttled_app
    statuses = Counter(status_of(app, key) for _ in range(40))
    # 10 a minute for the key: 10 through (the vehicle is unknown: 404), the other 30 refused.
    assert statuses == {404: 10, 429: 30}
    # And the count lives in Redis, where every worker reads it, not in a worker's memory (the
    # kernel may well hand sequential requests to one worker, so the figures alone would not
    # show that; without CACHE_URL this fails here).
    prefix = key.split(".", 1)[0]
    # redis types keys() as bytes | str for any client; one without decode_responses gets bytes.
    stored = [k.decode() for k in redis.Redis.from_url(REDIS_URL).keys("*throttle*")]  # type: ignore[union-attr]
    assert any(f"throttle:analyst:{prefix}" in k for k in stored), stored
