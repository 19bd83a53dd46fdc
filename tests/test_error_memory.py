"""The worst invalid bodies a client can send leave gunicorn workers small and get small answers.

Measured on the real server (gunicorn, one worker, its own PostgreSQL): a 3.4 MB reading with
250,000 unknown fields and a 5 MB batch with 100 unknown fields per reading used to get 29 MB
and 57 MB answers and leave workers at 200-300 MB.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import psutil
import pytest

from tests.support.clock import real_now
from tests.support.pgcluster import App, served

RSS_LIMIT = 200 * 1024 * 1024
ANSWER_LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def server() -> Iterator[tuple[App, str]]:
    with served("device", workers=1) as running:
        yield running


def post(app: App, key: str, body: bytes) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", app.port, timeout=120)
    try:
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
        connection.request("POST", "/v1/telemetry", body, headers)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def reading(**extra: Any) -> dict[str, Any]:
    ts = real_now().replace(second=0, microsecond=0) - timedelta(hours=1)
    return {
        "vehicleId": "VH001",
        "soc": 50.0,
        "kwhDeliveredDc": 1.0,
        "batteryTemp": 20.0,
        "timestamp": ts.isoformat(),
        **extra,
    }


def worker_rss(app: App) -> int:
    return max(psutil.Process(pid).memory_info().rss for pid in app.worker_pids())


def test_the_worst_error_bodies_get_small_answers_and_leave_the_worker_small(
    server: tuple[App, str],
) -> None:
    app, key = server
    one = json.dumps(reading(**{f"u{i:05x}": 0 for i in range(250_000)})).encode()
    batch_item = reading(**{f"unknown_{i:03d}": 0 for i in range(100)})
    batch = json.dumps([batch_item] * 2_400).encode()
    assert 3_000_000 < len(one) < 5 * 1024 * 1024
    assert 4_500_000 < len(batch) < 5 * 1024 * 1024
    for body in (one, batch, one, batch):
        status, answer = post(app, key, body)
        assert status == 400
        assert len(answer) < ANSWER_LIMIT, len(answer)
    rss = worker_rss(app)
    print(f"worker RSS after the worst error bodies: {rss / 2**20:.0f} MB")
    assert rss < RSS_LIMIT
