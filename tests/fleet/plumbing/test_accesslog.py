"""The access log names a request's API key by its public prefix, and never logs secrets."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest

from fleet.plumbing.accesslog import key_prefix


@pytest.mark.parametrize(
    ("header", "logged"),
    [
        ("Api-Key Ab3dE6gH.s3cr3tS3cr3tS3cr3tS3cr3tS3cr3t", "Ab3dE6gH"),
        ("api-key Ab3dE6gH.s3cr3t", "Ab3dE6gH"),  # the scheme in any case, as auth accepts it
        ("Bearer metrics-token-that-is-all-secret", "-"),
        ("Api-Key no-dot-so-it-might-be-all-secret", "-"),
        ("Api-Key ../../etc.passwd", "-"),
        ("", "-"),
    ],
)
def test_the_log_shows_only_the_public_prefix(header: str, logged: str) -> None:
    assert key_prefix(header) == logged
    secret = header.partition(".")[2] or header.partition(" ")[2]
    if secret:
        assert secret not in key_prefix(header)


def test_the_fast_line_is_what_gunicorns_own_formatting_writes(tmp_path: Any) -> None:
    from gunicorn.config import Config

    from fleet.plumbing.accesslog import ACCESS_FORMAT, AccessLogger

    environ = {
        "REMOTE_ADDR": "203.0.113.7",
        "REQUEST_METHOD": "POST",
        "RAW_URI": "/v1/telemetry?x=%41",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_AUTHORIZATION": "Api-Key Ab3dE6gH.s3cr3tS3cr3t",
    }
    response = SimpleNamespace(status="200 OK", sent=87, headers=[])
    request = SimpleNamespace(headers=[("AUTHORIZATION", environ["HTTP_AUTHORIZATION"])])
    lines = []
    for fast in (True, False):
        config = Config()
        config.set("accesslog", str(tmp_path / f"{fast}.log"))
        # The same format either way; the generic path is taken for any other format string.
        config.set("access_log_format", ACCESS_FORMAT if fast else ACCESS_FORMAT + " ")
        logger = AccessLogger(config)
        logger.access(response, request, environ, timedelta(seconds=1, microseconds=234_567))
        lines.append((tmp_path / f"{fast}.log").read_text().rstrip(" \n"))
    assert lines[0] == lines[1]
    assert lines[0] == '203.0.113.7 "POST /v1/telemetry?x=%41 HTTP/1.1" 200 87 1234ms key=Ab3dE6gH'
