"""What Swagger UI offers works as it stands: a bare key authorizes, the examples are valid."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db


def test_a_bare_key_pasted_into_authorize_authenticates(api_client: APIClient) -> None:
    _, key = make_key(ApiKey.Role.ANALYST)
    response = api_client.get("/v1/vehicles/VH404/status", HTTP_AUTHORIZATION=key)
    assert response.status_code == 404  # authenticated; the vehicle is unknown
    assert api_client.get("/v1/vehicles/VH404/status", HTTP_AUTHORIZATION="x.y").status_code == 401


def test_every_example_of_the_post_body_is_accepted_as_it_stands(api_client: APIClient) -> None:
    schema: dict[str, Any] = json.loads(
        api_client.get("/v1/schema", HTTP_ACCEPT="application/json").content
    )
    media = schema["paths"]["/v1/telemetry"]["post"]["requestBody"]["content"]["application/json"]
    _, key = make_key(ApiKey.Role.DEVICE)
    accepted = {}
    for name, example in media["examples"].items():
        response = api_client.post(
            "/v1/telemetry",
            json.dumps(example["value"]),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Api-Key {key}",
        )
        assert response.status_code == 200, (name, response.content)
        accepted[name] = response.json()["accepted"] + response.json()["duplicates"]
    assert accepted == {"vehicle": 1, "meter": 1, "batch": 2}
