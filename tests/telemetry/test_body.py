"""Request bodies as devices and proxies really send them: chunked, and multi-member gzip."""

from __future__ import annotations

import gzip
import io
import json
from typing import Any

import pytest
from django.test import RequestFactory

from fleet.plumbing.errors import ApiError
from telemetry.body import read_json_body
from tests.factories import meter, vehicle

LIMIT = 10_000


def chunked_request(body: bytes) -> Any:
    """A request as gunicorn hands over a chunked body: decoded chunks on wsgi.input, no
    Content-Length."""
    request = RequestFactory().generic("POST", "/v1/telemetry", b"")
    request.META.pop("CONTENT_LENGTH", None)
    request.META["CONTENT_TYPE"] = "application/json"
    request.META["HTTP_TRANSFER_ENCODING"] = "chunked"
    request.META["wsgi.input"] = io.BytesIO(body)
    return request


def test_a_chunked_body_without_content_length_is_read_whole() -> None:
    readings = [vehicle("VH1"), meter("MT1")]
    assert read_json_body(chunked_request(json.dumps(readings).encode()), LIMIT) == readings


def test_a_chunked_body_over_the_limit_is_413_while_it_streams() -> None:
    body = io.BytesIO(b"[" + b" " * (LIMIT * 100) + b"]")
    request = chunked_request(b"")
    request.META["wsgi.input"] = body
    with pytest.raises(ApiError) as refused:
        read_json_body(request, LIMIT)
    assert refused.value.status_code == 413
    assert refused.value.message == f"The body is larger than the limit of {LIMIT} bytes."
    assert body.tell() <= LIMIT + 64 * 1024  # stopped reading soon after the limit


def gzip_request(data: bytes) -> Any:
    return RequestFactory().generic(
        "POST",
        "/v1/telemetry",
        data,
        content_type="application/json",
        HTTP_CONTENT_ENCODING="gzip",
    )


def test_every_member_of_a_multi_member_gzip_body_is_decoded() -> None:
    first, second = b'[{"a": 1},', b' {"b": 2}]'
    assert read_json_body(gzip_request(gzip.compress(first) + gzip.compress(second)), LIMIT) == [
        {"a": 1},
        {"b": 2},
    ]


def test_the_size_limit_counts_all_members_together() -> None:
    half = b" " * (LIMIT // 2 + 10)
    body = gzip.compress(b"[" + half) + gzip.compress(half + b"]")
    with pytest.raises(ApiError) as refused:
        read_json_body(gzip_request(body), LIMIT)
    assert refused.value.status_code == 413


def test_a_truncated_second_member_is_400() -> None:
    body = gzip.compress(b"[1,") + gzip.compress(b"2]")[:-6]
    with pytest.raises(ApiError) as refused:
        read_json_body(gzip_request(body), LIMIT)
    assert (refused.value.status_code, refused.value.message) == (
        400,
        "The gzip body is truncated.",
    )
