"""deploy/nginx/fleet.conf in front of a real gunicorn: slow clients do not stall the service,
the body limit and nginx's own errors are the API's JSON, /metrics stays inside."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.support.clock import real_now
from tests.support.pgcluster import (
    App,
    Cluster,
    app_env,
    create_key,
    free_port,
    manage,
    prepare_database,
)

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
BODY_LIMIT = 5 * 1024 * 1024

pytestmark = [
    pytest.mark.nginx,
    # CI sets REQUIRE_NGINX=1 (and installs nginx) so a missing nginx fails there.
    pytest.mark.skipif(
        not os.path.exists(NGINX) and not os.environ.get("REQUIRE_NGINX"),
        reason="nginx is not installed: apt-get install nginx (.ci/run does)",
    ),
]


class Nginx:
    """nginx with our server block, in a folder of its own, on a free loopback port."""

    def __init__(self, upstream_port: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fleet-nginx-"))
        self.port = free_port()
        server = (ROOT / "deploy" / "nginx" / "fleet.conf").read_text()
        server = server.replace("${FLEET_LISTEN}", f"127.0.0.1:{self.port}")
        server = server.replace("${FLEET_UPSTREAM}", f"127.0.0.1:{upstream_port}")
        (self.dir / "fleet.conf").write_text(server)
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            (self.dir / sub).mkdir()
        os.chmod(self.dir, 0o777)
        (self.dir / "nginx.conf").write_text(
            f"""
            worker_processes 1;
            pid {self.dir}/nginx.pid;
            error_log {self.dir}/error.log warn;
            events {{ worker_connections 1024; }}
            http {{
                access_log off;
                client_body_temp_path {self.dir}/body;
                proxy_temp_path {self.dir}/proxy;
                fastcgi_temp_path {self.dir}/fastcgi;
                uwsgi_temp_path {self.dir}/uwsgi;
                scgi_temp_path {self.dir}/scgi;
                include {self.dir}/fleet.conf;
            }}
            """
        )
        for sub in ("body", "proxy", "fastcgi", "uwsgi", "scgi"):
            os.chmod(self.dir / sub, 0o777)
        self.process = subprocess.Popen(
            [NGINX, "-p", str(self.dir), "-c", str(self.dir / "nginx.conf"), "-g", "daemon off;"],
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                _, errors = self.process.communicate()
                raise RuntimeError(f"nginx did not start: {errors}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError("nginx did not listen in time")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def stack() -> Iterator[dict[str, Any]]:
    cluster = Cluster()
    env = app_env(cluster, TRUSTED_PROXIES="127.0.0.1/32")
    prepare_database(env)
    manage(env, "collectstatic", "--noinput", "--verbosity", "0")  # the admin's pages need it
    key = create_key(env, "proxy test", "device")
    app = App(env, workers=3)  # sync workers: the kind a slow client would tie up
    nginx = Nginx(app.port)
    try:
        yield {"app": app, "nginx": nginx, "key": key, "cluster": cluster}
    finally:
        nginx.stop()
        app.stop()
        cluster.destroy()


def request(
    port: int, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
    try:
        conn.request(method, path, body=body, headers=headers)
        response = conn.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        conn.close()


def reading_body(minute: int, pad_to: int | None = None) -> bytes:
    # Readings on the server's (real) clock, an hour back: inside the accepted window. gunicorn
    # runs in a subprocess, which the test's stopped (or FLEET_TEST_CLOCK's) clock never reaches.
    ts = real_now().replace(second=0, microsecond=0) - timedelta(hours=1, minutes=minute)
    body = json.dumps(
        {
            "vehicleId": "VH001",
            "soc": 50.0,
            "kwhDeliveredDc": 1.25,
            "batteryTemp": 20.0,
            "timestamp": ts.isoformat().replace("+00:00", "Z"),
        }
    ).encode()
    if pad_to is not None:
        body = b"[" + body + b"]"
        body += b" " * (pad_to - len(body))  # whitespace around JSON is still the same JSON
    return body


def dribble(port: int, stop: threading.Event) -> None:
    """A slow client: the headers of a 1,000-byte POST, then one body byte a second."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(
            b"POST /v1/telemetry HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
        )
        while not stop.wait(1.0):
            try:
                sock.sendall(b" ")
            except OSError:
                return


def test_thirty_two_slow_clients_do_not_stall_ordinary_requests(stack: dict[str, Any]) -> None:
    port, key = stack["nginx"].port, stack["key"]
    stop = threading.Event()
    slow = [threading.Thread(target=dribble, args=(port, stop), daemon=True) for _ in range(32)]
    for thread in slow:
        thread.start()
    time.sleep(1.0)  # every slow client has sent its headers and holds a connection
    latencies, statuses = [], []
    try:
        for i in range(60):
            started = time.monotonic()
            if i % 2:
                status, _, _ = request(port, "GET", "/healthz")
            else:
                status, _, _ = request(
                    port,
                    "POST",
                    "/v1/telemetry",
                    reading_body(minute=i),
                    **{"Content-Type": "application/json", "Authorization": f"Api-Key {key}"},
                )
            latencies.append(time.monotonic() - started)
            statuses.append(status)
    finally:
        stop.set()
    assert statuses == [200] * 60
    p99 = statistics.quantiles(latencies, n=100)[98]
    p50 = statistics.median(latencies)
    print(f"beside 32 slow clients: p50 {p50 * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms")
    assert p99 < 1.0


def test_a_body_of_exactly_the_limit_passes_and_one_byte_more_is_our_json_413(
    stack: dict[str, Any],
) -> None:
    port, key = stack["nginx"].port, stack["key"]
    headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
    status, _, body = request(
        port, "POST", "/v1/telemetry", reading_body(90, BODY_LIMIT), **headers
    )
    assert (status, json.loads(body)["accepted"]) == (200, 1)
    status, response_headers, body = request(
        port, "POST", "/v1/telemetry", reading_body(91, BODY_LIMIT + 1), **headers
    )
    assert status == 413
    assert response_headers["Content-Type"] == "application/json"
    assert json.loads(body) == {
        "status": 413,
        "message": (
            "The body is larger than the limit of 5242880 bytes (5 MiB); send smaller batches."
        ),
        "errors": {},
    }


def test_an_over_long_url_is_a_json_414(stack: dict[str, Any]) -> None:
    status, _, body = request(stack["nginx"].port, "GET", "/v1/analytics/fleet?x=" + "a" * 9000)
    assert status == 414
    assert json.loads(body)["status"] == 414


def test_an_app_that_is_down_is_a_json_503_with_retry_after() -> None:
    nginx = Nginx(upstream_port=free_port())  # nothing listens there
    try:
        status, headers, body = request(nginx.port, "GET", "/v1/analytics/fleet")
    finally:
        nginx.stop()
    assert (status, headers["Retry-After"], json.loads(body)["status"]) == (503, "5", 503)


def test_metrics_are_not_reachable_through_the_proxy(stack: dict[str, Any]) -> None:
    assert request(stack["nginx"].port, "GET", "/metrics")[0] == 404
    assert request(stack["app"].port, "GET", "/metrics")[0] == 200  # the app's port, inside


def failed_login(port: int, username: str, spoofed_address: str) -> int:
    """One wrong password through the proxy, claiming to come from spoofed_address."""
    spoof = {"X-Forwarded-For": spoofed_address}
    status, headers, page = request(port, "GET", "/admin/login/", None, **spoof)
    assert status == 200
    cookie = headers["Set-Cookie"].split(";", 1)[0]
    token = page.decode().split('name="csrfmiddlewaretoken" value="', 1)[1].split('"', 1)[0]
    form = f"csrfmiddlewaretoken={token}&username={username}&password=wrong".encode()
    status, _, _ = request(
        port,
        "POST",
        "/admin/login/?next=/admin/",
        form,
        **spoof,
        Cookie=cookie,
        Referer=f"http://127.0.0.1:{port}/admin/login/",
        **{"Content-Type": "application/x-www-form-urlencoded"},
    )
    return status


def test_a_spoofed_forwarded_for_does_not_reach_the_app(stack: dict[str, Any]) -> None:
    # Five failures, each claiming another address. nginx replaces X-Forwarded-For with the
    # address it saw, so the app (which trusts only the proxy's header) counts all five against
    # one client, 127.0.0.1, and locks it out. Had nginx passed the claims on, no address would
    # have reached five failures.
    port = stack["nginx"].port
    statuses = [failed_login(port, f"user{i}", f"203.0.113.{i}") for i in range(5)]
    assert statuses == [200, 200, 200, 200, 429]
    assert failed_login(port, "someone-else", "198.51.100.1") == 429


def post_chunked(port: int, key: str, body: bytes) -> tuple[int, dict[str, Any]]:
    """POST with Transfer-Encoding: chunked and no Content-Length, 64 KB a chunk."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        chunks = (body[i : i + 65536] for i in range(0, len(body), 65536))
        headers = {"Content-Type": "application/json", "Authorization": f"Api-Key {key}"}
        conn.request("POST", "/v1/telemetry", body=chunks, headers=headers, encode_chunked=True)
        response = conn.getresponse()
        return response.status, json.loads(response.read())
    finally:
        conn.close()


@pytest.mark.parametrize("through", ["gunicorn", "nginx"])
def test_a_chunked_body_is_read_whole_and_one_over_the_limit_is_413(
    stack: dict[str, Any], through: str
) -> None:
    port = stack["app"].port if through == "gunicorn" else stack["nginx"].port
    minute = 120 if through == "gunicorn" else 121
    status, answer = post_chunked(port, stack["key"], reading_body(minute, 3 * 65536))
    assert (status, answer["accepted"]) == (200, 1)
    status, answer = post_chunked(port, stack["key"], reading_body(minute + 10, BODY_LIMIT + 1))
    assert (status, answer["status"]) == (413, 413)
