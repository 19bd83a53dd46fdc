"""Whatever a client puts in a path or a query string, the answer is a 4xx in the error shape
(or a 200), never a 500: property-based, over every analytics and status parameter."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db

# Text that breaks things: control characters (NUL first), surrogates are not sendable, very
# long values, and ISO-8601 look-alikes at the ends of the calendar.
hostile_text = st.one_of(
    st.text(min_size=0, max_size=40),
    st.text(alphabet=st.characters(max_codepoint=0x1F), min_size=1, max_size=5),
    st.text(min_size=300, max_size=2000),
    st.sampled_from(
        [
            "\x00",
            "VH\x00001",
            "0001-01-01T00:00:00+01:00",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59Z",
            "9999-12-31T23:59:59-14:00",
            "9999-12-31T23:00:00+00:00",
            "1969-12-31T23:59:59Z",
            "2026-02-30T00:00:00Z",
            "2026-13-01T00:00:00Z",
            "nan",
            "-1",
            "1e309",
            "99999999999999999999999",
            "٣",
        ]
    ),
)
PARAMETERS = ("hours", "from", "to", "flagged", "page", "page_size", "bucket")
ENDPOINTS = (
    "/v1/analytics/performance/{id}",
    "/v1/analytics/performance/{id}/series",
    "/v1/analytics/fleet",
    "/v1/vehicles/{id}/status",
    "/v1/meters/{id}/status",
)


@pytest.fixture
def analyst_client() -> APIClient:
    _, key = make_key(ApiKey.Role.ANALYST)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    return client


def assert_not_a_server_error(response: Any) -> None:
    assert response.status_code < 500, response.content[:500]
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"status", "message", "errors"}
        assert body["status"] == response.status_code
        assert isinstance(body["message"], str) and body["message"]


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    endpoint=st.sampled_from(ENDPOINTS),
    device=hostile_text,
    query=st.dictionaries(st.sampled_from(PARAMETERS), hostile_text, max_size=4),
)
def test_no_path_or_query_value_makes_a_server_error(
    analyst_client: APIClient, endpoint: str, device: str, query: dict[str, str]
) -> None:
    path = endpoint.format(id=quote(device, safe="")) if "{id}" in endpoint else endpoint
    if "\x00" in "".join(query.values()):
        # A NUL cannot travel in a real query string unencoded; encode everything as a client
        # library would.
        path += "?" + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in query.items())
        response = analyst_client.get(path)
    else:
        response = analyst_client.get(path, query)
    assert_not_a_server_error(response)


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "9999-12-31T23:59:59Z"}, "'from' must be between 1970-01-01 and 9000-01-01"),
        ({"from": "0001-01-01T00:00:00+01:00"}, "'from' must be between 1970-01-01"),
        (
            {"from": "2026-02-01T00:00:00Z", "to": "9999-12-31T23:30:00Z"},
            "'to' must be between 1970-01-01",
        ),
    ],
)
@pytest.mark.parametrize(
    "endpoint",
    [
        "/v1/analytics/performance/VH1",
        "/v1/analytics/performance/VH1/series",
        "/v1/analytics/fleet",
    ],
)
def test_windows_at_the_ends_of_the_calendar_are_400(
    analyst_client: APIClient, endpoint: str, query: dict[str, str], message: str
) -> None:
    response = analyst_client.get(endpoint, query)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)


@pytest.mark.parametrize(
    ("endpoint", "kind"),
    [
        ("/v1/analytics/performance/VH%00001", "vehicle"),
        ("/v1/analytics/performance/VH%00001/series", "vehicle"),
        ("/v1/vehicles/VH%00001/status", "vehicle"),
        ("/v1/meters/MT%00001/status", "meter"),
    ],
)
def test_a_nul_byte_in_a_device_id_is_400_naming_the_rule(
    analyst_client: APIClient, endpoint: str, kind: str
) -> None:
    response = analyst_client.get(endpoint)
    assert response.status_code == 400
    message = response.json()["message"]
    assert "\\x00" in message and f"is not a {kind} id: a {kind} id is 1-64 characters" in message
