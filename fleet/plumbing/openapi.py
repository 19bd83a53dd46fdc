"""OpenAPI pieces shared by the apps: the error shape and the responses every endpoint has."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import serializers

ErrorSerializer = inline_serializer(
    name="Error",
    fields={
        "status": serializers.IntegerField(help_text="The HTTP status again."),
        "message": serializers.CharField(help_text="What went wrong, as a sentence."),
        "errors": serializers.DictField(
            help_text="Per field, or per reading index then field: a list of messages."
        ),
    },
)


def error(description: str) -> OpenApiResponse:
    return OpenApiResponse(ErrorSerializer, description=description)


# Every authenticated endpoint can answer these.
COMMON_ERRORS: dict[int, OpenApiResponse] = {
    401: error("No API key, or one that is invalid, revoked or expired."),
    403: error("The key's role (or bound device) does not allow this."),
    429: error("Too many requests for this key; see Retry-After."),
    503: error("The database is unavailable; retry after Retry-After seconds."),
}


def postprocess(result: dict[str, Any], generator: Any, request: Any, public: Any) -> dict:
    """What no view says of itself: the 414 of an over-long URL, and Retry-After on 429 and 503.
    (A posted reading's schema comes from its declaration: telemetry.schema.)"""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            # gunicorn itself refuses a request line over 4 KiB, before Django sees it.
            operation.setdefault("responses", {})["414"] = {
                "description": "The URL (request line) is longer than 4,094 bytes.",
                "content": {"text/html": {"schema": {"type": "string"}}},
            }
            for code, response in operation.get("responses", {}).items():
                if code in ("429", "503"):
                    response.setdefault("headers", {})["Retry-After"] = {
                        "schema": {"type": "integer"},
                        "description": "Seconds to wait before retrying.",
                    }
    return result
