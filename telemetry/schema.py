"""The OpenAPI description of a posted reading, written from telemetry.readings' declaration.

A postprocessing hook (SPECTACULAR_SETTINGS["POSTPROCESSING_HOOKS"]) rather than an argument of
@extend_schema: a decorator's arguments are fixed when the module is imported, and the limits
here (the energy maximum, the batch size, the timestamp window) are settings, read each time a
schema is generated.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import msgspec
import msgspec.inspect
from django.conf import settings

from telemetry.readings import ReadingKind, declare
from telemetry.services import current_limits

# The view's operation_id, so the hook finds the operation whatever its path.
INGEST_OPERATION_ID = "ingest_telemetry"
READING = "ReadingRequest"

_BOUNDS: tuple[tuple[str, str], ...] = (
    ("ge", "minimum"),
    ("gt", "exclusiveMinimum"),
    ("le", "maximum"),
    ("lt", "exclusiveMaximum"),
)
_LENGTHS: tuple[tuple[str, str], ...] = (
    ("min_length", "minLength"),
    ("max_length", "maxLength"),
    ("pattern", "pattern"),
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _property(rule: msgspec.inspect.Type) -> dict[str, Any]:
    documented: dict[str, Any] = {}
    while isinstance(rule, msgspec.inspect.Metadata):
        documented |= rule.extra_json_schema or {}
        rule = rule.type
    if isinstance(rule, msgspec.inspect.FloatType):
        schema: dict[str, Any] = {"type": "number", "format": "double"}
        constraints = _BOUNDS
    elif isinstance(rule, msgspec.inspect.StrType):
        schema, constraints = {"type": "string"}, _LENGTHS
    else:
        raise TypeError(f"no OpenAPI form for {rule!r}")
    for attribute, keyword in constraints:
        if (value := getattr(rule, attribute)) is not None:
            schema[keyword] = value
    # The declaration's own words win: a description, a format, and a pattern in its ECMA-262
    # form where the check needs Python's anchors.
    return schema | documented


def _component(kind: ReadingKind) -> dict[str, Any]:
    info = msgspec.inspect.type_info(kind.struct)
    assert isinstance(info, msgspec.inspect.StructType)
    return {
        "type": "object",
        # Swagger UI labels the alternatives of a oneOf by their title.
        "title": kind.struct.__name__,
        "description": kind.struct.__doc__,
        "properties": {field.encode_name: _property(field.type) for field in info.fields},
        "required": [field.encode_name for field in info.fields if field.required],
        "additionalProperties": not info.forbid_unknown_fields,
    }


def _examples() -> dict[str, Any]:
    # A minute ago, so "Try it out" is accepted as it stands (inside the accepted window).
    ts = (current_limits().now - timedelta(minutes=1)).replace(second=0, microsecond=0)
    stamp = ts.isoformat().replace("+00:00", "Z")
    vehicle = {
        "vehicleId": "VH001",
        "soc": 85.5,
        "kwhDeliveredDc": 12.3,
        "batteryTemp": 25.0,
        "timestamp": stamp,
    }
    meter = {"meterId": "MT001", "kwhConsumedAc": 13.1, "voltage": 229.8, "timestamp": stamp}
    return {
        "vehicle": {"summary": "One vehicle reading", "value": vehicle},
        "meter": {"summary": "One meter reading", "value": meter},
        "batch": {"summary": "A batch (kinds mixed)", "value": [vehicle, meter]},
    }


def reading_schemas() -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """The components of the reading kinds, and the request body of POST /v1/telemetry, under
    the limits the settings give now."""
    declaration = declare(current_limits())
    # "Request", as drf-spectacular names request-side components (COMPONENT_SPLIT_REQUEST).
    kinds = {
        f"{kind.struct.__name__}Request": _component(kind)
        for kind in (declaration.vehicle, declaration.meter)
    }
    components = {
        **kinds,
        READING: {
            "title": "Reading",
            "description": "A vehicle's or a meter's reading: exactly one of vehicleId or meterId.",
            "oneOf": [_ref(name) for name in kinds],
        },
    }
    batch = settings.TELEMETRY_MAX_BATCH
    body = {
        "required": True,
        "description": f"One reading, or an array of 1-{batch:,} readings (kinds mixed). "
        "`Content-Encoding: gzip` is accepted.",
        "content": {
            "application/json": {
                # What Swagger UI pre-fills: valid bodies (its own guess was "[]", a 400).
                "examples": _examples(),
                "schema": {
                    "oneOf": [
                        _ref(READING),
                        {
                            "type": "array",
                            "title": "Batch",
                            "items": _ref(READING),
                            "minItems": 1,
                            "maxItems": batch,
                        },
                    ]
                },
            }
        },
    }
    return components, body


def add_reading_schemas(result: dict[str, Any], generator: Any, request: Any, public: Any) -> dict:
    """Postprocessing hook: the reading components, and the ingest operation's request body."""
    components, body = reading_schemas()
    for path in result.get("paths", {}).values():
        for operation in path.values():
            if operation.get("operationId") == INGEST_OPERATION_ID:
                operation["requestBody"] = body
                schemas = result.setdefault("components", {}).setdefault("schemas", {})
                schemas.update(components)
                result["components"]["schemas"] = dict(sorted(schemas.items()))
    return result
