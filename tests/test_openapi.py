"""/v1/schema describes the API as it really answers: real responses validate against it."""

from __future__ import annotations

import json
import math
import random
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from pytest_django import DjangoDbBlocker
from pytest_django.fixtures import Settings
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from rest_framework.test import APIClient

from analytics.models import HealthAlert
from fleet.registry.models import DEVICE_ID_PATTERN, ApiKey
from fleet.registry.services.mappings import assign_meter
from tests.factories import T0, at, auth_header, iso, make_key, meter, post, vehicle
from tests.telemetry.test_reading_rules import NOT_OBJECTS, oracle, random_reading

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker: DjangoDbBlocker) -> dict[str, Any]:
    with django_db_blocker.unblock():
        response = APIClient().get("/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def check(schema: dict[str, Any], path: str, method: str, response: Any) -> None:
    """Validate one real response (status, body, and headers we promise) against the schema."""
    operation = schema["paths"][path][method]
    documented = operation["responses"]
    assert str(response.status_code) in documented, (path, response.status_code, list(documented))
    spec = documented[str(response.status_code)]
    body_schema = spec["content"]["application/json"]["schema"]
    registry = Registry().with_resource(
        "urn:fleet", Resource.from_contents(schema, default_specification=DRAFT202012)
    )
    validator = Draft202012Validator(
        {"$ref": "urn:fleet#" + body_schema["$ref"][1:]} if "$ref" in body_schema else body_schema,
        registry=registry,
    )
    errors = sorted(validator.iter_errors(response.json()), key=str)
    assert not errors, f"{method.upper()} {path} {response.status_code}: {errors[0].message}"
    for header in spec.get("headers", {}):
        assert header in response, f"{path} {response.status_code} lacks {header}"


def test_every_endpoint_is_documented(schema: dict[str, Any]) -> None:
    assert set(schema["paths"]) == {
        "/v1/telemetry",
        "/v1/vehicles/{id}/status",
        "/v1/meters/{id}/status",
        "/v1/analytics/performance/{id}",
        "/v1/analytics/performance/{id}/series",
        "/v1/analytics/fleet",
        "/v1/alerts",
    }
    assert schema["components"]["securitySchemes"]["ApiKey"]["name"] == "Authorization"
    body = schema["paths"]["/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"]
    _single, batch = body["schema"]["oneOf"]
    assert batch["type"] == "array" and batch["maxItems"] == 5000
    assert schema["components"]["schemas"]["VehicleReadingRequest"]["additionalProperties"] is False


def test_real_responses_match_the_schema(schema: dict[str, Any]) -> None:
    client = APIClient()
    _, device = make_key(ApiKey.Role.DEVICE)
    _, analyst = make_key(ApiKey.Role.ANALYST)
    assign_meter(vehicle_id="VH001", meter_id="MT001", at=T0)
    telemetry = "/v1/telemetry"
    check(schema, telemetry, "post", post(client, device, [vehicle(ts=at(5)), meter(ts=at(5))]))
    check(schema, telemetry, "post", post(client, device, vehicle(ts=at(5))))  # duplicate
    check(schema, telemetry, "post", post(client, device, [vehicle(soc=900)]))
    check(schema, telemetry, "post", post(client, device, None, raw=b"{"))
    check(schema, telemetry, "post", post(client, device, vehicle(), content_type="text/plain"))
    check(schema, telemetry, "post", post(client, None, vehicle()))
    check(schema, telemetry, "post", post(client, analyst, vehicle()))

    def get(path: str, key: str | None = analyst, **params: str) -> Any:
        if not key:
            return client.get(path, params)
        return client.get(path, params, **auth_header(key))

    check(schema, "/v1/vehicles/{id}/status", "get", get("/v1/vehicles/VH001/status"))
    check(schema, "/v1/vehicles/{id}/status", "get", get("/v1/vehicles/NOPE/status"))
    check(schema, "/v1/meters/{id}/status", "get", get("/v1/meters/MT001/status"))
    check(schema, "/v1/meters/{id}/status", "get", get("/v1/meters/MT001/status", key=device))
    perf = "/v1/analytics/performance/{id}"
    check(schema, perf, "get", get("/v1/analytics/performance/VH001"))
    check(
        schema,
        perf,
        "get",
        get("/v1/analytics/performance/VH001", **{"from": iso(T0), "to": iso(T0)}),
    )
    check(schema, perf, "get", get("/v1/analytics/performance/NOPE"))
    check(schema, perf, "get", get("/v1/analytics/performance/MT001", hours="0"))
    series = "/v1/analytics/performance/{id}/series"
    check(schema, series, "get", get("/v1/analytics/performance/VH001/series", hours="3"))
    fleet = "/v1/analytics/fleet"
    check(schema, fleet, "get", get(fleet, page_size="1"))
    check(schema, fleet, "get", get(fleet, flagged="true"))
    check(schema, fleet, "get", get(fleet, page="0"))
    check(schema, fleet, "get", get(fleet, key=None))
    HealthAlert.objects.create(
        vehicle_id="VH001",
        kind="alert",
        verdict="leak",
        previous="",
        paired_efficiency=Decimal("0.7"),
        baseline_efficiency=None,
        window_start=T0,
        window_end=T0 + timedelta(hours=24),
        created_at=T0 + timedelta(hours=24),
    )
    check(schema, "/v1/alerts", "get", get("/v1/alerts"))
    check(schema, "/v1/alerts", "get", get("/v1/alerts", state="open", vehicle="VH001"))
    check(schema, "/v1/alerts", "get", get("/v1/alerts", state="shut"))
    check(schema, "/v1/alerts", "get", get("/v1/alerts", key=device))


def test_swagger_ui_is_served_from_our_own_static_files() -> None:
    page = APIClient().get("/v1/docs").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle" in page
    assert "cdn" not in page.lower()


def _fresh_schema() -> dict[str, Any]:
    response = APIClient().get("/v1/schema", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_follows_the_batch_size_and_timestamp_window_settings(
    settings: Settings,
) -> None:
    settings.TELEMETRY_MAX_BATCH = 1_234
    settings.TELEMETRY_BACKFILL_DAYS = 9
    settings.TELEMETRY_MAX_FUTURE_SECONDS = 600
    schema = _fresh_schema()
    body = schema["paths"]["/v1/telemetry"]["post"]["requestBody"]
    _single, batch = body["content"]["application/json"]["schema"]["oneOf"]
    assert (batch["minItems"], batch["maxItems"]) == (1, 1_234)
    assert "an array of 1-1,234 readings" in body["description"]
    for name in ("VehicleReadingRequest", "MeterReadingRequest"):
        timestamp = schema["components"]["schemas"][name]["properties"]["timestamp"]
        assert "at most 10 minutes ahead, at most 9 days old" in timestamp["description"]


def test_the_energy_maximum_in_the_schema_and_the_api_follow_the_interval_limit(
    settings: Settings,
) -> None:
    settings.TELEMETRY_MAX_INTERVAL_KWH = 250.0
    components = _fresh_schema()["components"]["schemas"]
    assert components["VehicleReadingRequest"]["properties"]["kwhDeliveredDc"]["maximum"] == 250
    assert components["MeterReadingRequest"]["properties"]["kwhConsumedAc"]["maximum"] == 250
    _, device = make_key(ApiKey.Role.DEVICE)
    response = post(APIClient(), device, [meter(ts=at(1), kwhConsumedAc=251)])
    assert response.status_code == 400
    assert "at most 250)" in response.json()["errors"]["0"]["kwhConsumedAc"][0]
    assert post(APIClient(), device, meter(ts=at(1), kwhConsumedAc=250)).status_code == 200


def test_the_request_schema_refuses_exactly_the_readings_the_api_refuses(
    schema: dict[str, Any],
) -> None:
    body = schema["paths"]["/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"]
    registry = Registry().with_resource(
        "urn:fleet", Resource.from_contents(schema, default_specification=DRAFT202012)
    )
    single = body["schema"]["oneOf"][0]
    validator = Draft202012Validator({"$ref": "urn:fleet#" + single["$ref"][1:]}, registry=registry)
    rng = random.Random(0)
    compared = 0
    for _ in range(3000):
        item = random_reading(rng)
        reading, errors = oracle(item, 1000.0)
        if "timestamp" in errors or not isinstance(item, dict):
            continue  # a schema states no time window; and non-objects are covered below
        if any(isinstance(v, str) and v.endswith("\n") for v in item.values()):
            continue  # Python's re lets `$` match before a final newline; ECMA-262's does not
        if any(isinstance(v, float) and not math.isfinite(v) for v in item.values()):
            continue  # not JSON
        assert validator.is_valid(item) == (reading is not None), (item, errors)
        compared += 1
    assert compared > 1000
    assert not any(validator.is_valid(item) for item in NOT_OBJECTS)
    # The pattern clients see is the ECMA-262 one (no Python-only \A or \Z).
    components = schema["components"]["schemas"]
    assert components["VehicleReadingRequest"]["properties"]["vehicleId"]["pattern"] == (
        DEVICE_ID_PATTERN
    )
    assert components["MeterReadingRequest"]["properties"]["meterId"]["pattern"] == (
        DEVICE_ID_PATTERN
    )
