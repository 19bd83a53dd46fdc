"""The Authorization scheme name is matched case-insensitively (RFC 9110 section 11.1)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("scheme", ["Api-Key", "api-key", "API-KEY", "aPi-kEy"])
def test_any_case_of_the_scheme_name_authenticates(api_client: APIClient, scheme: str) -> None:
    _, key = make_key(ApiKey.Role.ANALYST)
    response = api_client.get("/v1/vehicles/VH404/status", HTTP_AUTHORIZATION=f"{scheme} {key}")
    assert response.status_code == 404  # authenticated: the vehicle is simply unknown
    assert response.json()["message"] == "Vehicle VH404 has never reported."


@pytest.mark.parametrize("scheme", ["Bearer", "Api-Keys", "ApiKey"])
def test_another_scheme_is_refused_with_the_expected_form(
    api_client: APIClient, scheme: str
) -> None:
    _, key = make_key(ApiKey.Role.ANALYST)
    response = api_client.get("/v1/vehicles/VH404/status", HTTP_AUTHORIZATION=f"{scheme} {key}")
    assert response.status_code == 401
    assert response.json()["message"] == "Send the key as 'Authorization: Api-Key <key>'."
