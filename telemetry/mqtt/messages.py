"""One MQTT message: its readings under the HTTP API's rules, or the refusal to publish.

A message is judged on its own, exactly as a POST /v1/telemetry body would be (the same limits,
gzip, JSON and reading rules, the same 400 and 413 bodies), plus the topic's own rule: on a
vehicle's or a meter's topic the reading is that device's, so its id may be left out and, if
given, must be the topic's.
"""

from __future__ import annotations

import base64
import codecs
import zlib
from typing import Any

import orjson

from fleet.plumbing.errors import ApiError, error_body
from telemetry import services
from telemetry.body import gunzip, parse_json
from telemetry.mqtt.topics import Topic
from telemetry.readings import Limits, Reading

GZIP_MAGIC = b"\x1f\x8b"

# The kind of reading a device's topic carries: (its id field, the other kind's id field).
_ID_FIELDS = {"vehicles": ("vehicleId", "meterId"), "meters": ("meterId", "vehicleId")}
_NOUN = {"vehicles": "vehicle", "meters": "meter"}


def decode(payload: bytes, limit: int) -> Any:
    """The parsed JSON of a payload (gzip when it starts with gzip's magic bytes), with the
    size rules and error texts of the HTTP body reader (telemetry.body.read_json_body)."""
    if len(payload) > limit:
        raise ApiError(413, f"The body is {len(payload)} bytes; the limit is {limit} bytes.")
    data = gunzip(payload, limit) if payload[:2] == GZIP_MAGIC else payload
    return parse_json(data)


def _invalid(field: str, problem: str) -> ApiError:
    return ApiError(400, "The reading is invalid; nothing was stored.", {field: [problem]})


def _device_reading(topic: Topic, item: Any) -> dict[str, Any]:
    """The reading a device published on its own topic, with the topic's id filled in."""
    noun = _NOUN[topic.kind]
    if not isinstance(item, dict):
        raise ApiError(
            400,
            f"A {noun}'s topic takes one reading object; a gateway publishes arrays on "
            "fleet/v1/gateways/<gatewayId>/telemetry.",
        )
    own, other = _ID_FIELDS[topic.kind]
    if other in item:
        other_kind = "meters" if topic.kind == "vehicles" else "vehicles"
        raise _invalid(
            other,
            f"is not allowed on a {noun}'s topic; publish it on "
            f"fleet/v1/{other_kind}/<id>/telemetry",
        )
    if own in item and item[own] != topic.device_id:
        raise _invalid(own, f"must be this topic's {noun} id, {topic.device_id!r}, or be left out")
    return {**item, own: topic.device_id}


def readings(topic: Topic, payload: bytes, limits: Limits, max_bytes: int) -> list[Reading]:
    """The valid readings of one message, or ApiError (400, 413) with the HTTP API's body."""
    parsed = decode(payload, max_bytes)
    if topic.kind == "gateways":
        # A batch like an HTTP one (an array of up to TELEMETRY_MAX_BATCH readings of any
        # devices; a lone object is a batch of one, as over HTTP), all valid or none stored.
        return services.parse_payload(parsed, limits)
    return services.parse_payload(_device_reading(topic, parsed), limits)


def rejection(error: ApiError, payload: bytes, echo_bytes: int) -> bytes:
    """The message published on fleet/v1/rejected/<topic>: the error body the HTTP API would
    answer, and what was published, so an operator can see, fix and replay it.

    payloadEncoding says how `payload` holds it: "utf-8" (the published bytes are that text),
    "gzip" (they are gzip, and this is the text they inflate to), or "base64" (anything else,
    the published bytes in base64). At most echo_bytes of it are kept (of the text, or of the
    published bytes), so that a refused 5 MiB message does not make a 5 MiB refusal;
    payloadTruncated says whether it was cut, payloadBytes is the published size.
    """
    text, encoding, truncated = _display(payload, echo_bytes)
    return orjson.dumps(
        {
            "error": error_body(error.status_code, error.message, error.errors),
            "payload": text,
            "payloadEncoding": encoding,
            "payloadTruncated": truncated,
            "payloadBytes": len(payload),
        }
    )


def _text(data: bytes, limit: int) -> tuple[str, bool] | None:
    """data[:limit] as UTF-8 text (a character cut at the limit dropped), and whether it was
    cut; None when it is not UTF-8."""
    cut = len(data) > limit
    try:
        return codecs.getincrementaldecoder("utf-8")().decode(data[:limit], final=not cut), cut
    except UnicodeDecodeError:
        return None


def _display(payload: bytes, limit: int) -> tuple[str, str, bool]:
    if payload[:2] == GZIP_MAGIC:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            inflated = inflater.decompress(payload, limit + 1)
        except zlib.error:
            inflated = None
        if inflated:
            shown = _text(inflated, limit)
            if shown is not None:
                # More to come than was inflated (or another gzip member) counts as cut too.
                more = bool(inflater.unconsumed_tail or inflater.unused_data)
                return shown[0], "gzip", shown[1] or more
    shown = _text(payload, limit)
    if shown is not None:
        return shown[0], "utf-8", shown[1]
    return base64.b64encode(payload[:limit]).decode("ascii"), "base64", len(payload) > limit
