"""Reading a JSON request body within limits: content type, gzip, size before and after."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from django.http import HttpRequest

from fleet.plumbing.errors import ApiError

_READ_CHUNK = 64 * 1024


def _stream(request: HttpRequest) -> Any:
    """Where the body comes from.

    With a Content-Length, Django's own stream, which stops there. A chunked body has none, and
    Django then reads it as empty; the server (gunicorn) hands the decoded chunks to
    wsgi.input, which ends where the body ends, so read that instead, under the same limit.
    """
    if request.META.get("CONTENT_LENGTH"):
        return request
    if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return request.META["wsgi.input"]
    return request


def _read_limited(request: HttpRequest, limit: int) -> bytes:
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        length = int(declared)
    except ValueError:
        raise ApiError(400, "Content-Length is not a number.") from None
    if length > limit:
        raise ApiError(413, f"The body is {length} bytes; the limit is {limit} bytes.")
    # Read through the stream (not request.body) so the limit is ours, not
    # DATA_UPLOAD_MAX_MEMORY_SIZE's, and never more than limit + 1 bytes are buffered; a chunked
    # body, whose size nobody declared, is cut off the moment it passes the limit.
    stream = _stream(request)
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(_READ_CHUNK)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    if size > limit:
        raise ApiError(413, f"The body is larger than the limit of {limit} bytes.")
    return b"".join(chunks)


def gunzip(data: bytes, limit: int) -> bytes:
    """Every member of a gzip body (RFC 1952 allows several, as `cat a.gz b.gz` makes), never
    inflating more than limit + 1 bytes in all."""
    out: list[bytes] = []
    size = 0
    while True:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            part = inflater.decompress(data, limit + 1 - size)
        except zlib.error as exc:
            raise ApiError(400, f"The body is not valid gzip ({exc}).") from None
        out.append(part)
        size += len(part)
        if size > limit or inflater.unconsumed_tail:
            raise ApiError(
                413,
                f"The body decompresses to more than the limit of {limit} bytes; "
                "send smaller batches.",
            )
        if not inflater.eof:
            raise ApiError(400, "The gzip body is truncated.")
        data = inflater.unused_data
        if not data:
            return b"".join(out)


def read_json_body(request: HttpRequest, limit: int) -> Any:
    """The parsed JSON body, or an ApiError (400, 413, 415) a device engineer can act on."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise ApiError(
            415, f"Send Content-Type: application/json (got {content_type or 'none'!r})."
        )
    encoding = request.META.get("HTTP_CONTENT_ENCODING", "identity").strip().lower()
    if encoding not in ("identity", "gzip"):
        raise ApiError(415, f"Content-Encoding {encoding!r} is not supported; use gzip or none.")
    data = _read_limited(request, limit)
    if encoding == "gzip":
        data = gunzip(data, limit)
    return parse_json(data)


def parse_json(data: bytes) -> Any:
    """The parsed JSON of a body (HTTP) or payload (MQTT), or the 400 a device engineer can act
    on; one place for both transports' texts."""
    if not data.strip():
        raise ApiError(400, "The body is empty; send one reading object or an array of them.")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"The body is not valid JSON ({exc}). NaN and Infinity are not JSON numbers.",
        ) from None
