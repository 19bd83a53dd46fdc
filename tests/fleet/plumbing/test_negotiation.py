"""The negotiation shortcut answers exactly as DRF's for every Accept header, and skips the
Accept parsing only where DRF has nothing to choose."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import Http404
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework.exceptions import NotAcceptable
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from fleet.plumbing.negotiation import JsonFirstNegotiation

ACCEPTS = [
    None,
    "",
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html, */*;q=0.8",
    "application/xml",
]
QUERIES = ["", "format=json", "format=yaml", "page=2"]
ONE: list[BaseRenderer] = [JSONRenderer()]
SEVERAL: list[BaseRenderer] = [OpenApiYamlRenderer(), OpenApiJsonRenderer()]


def _request(accept: str | None, query: str) -> Request:
    factory = APIRequestFactory()
    path = f"/v1/analytics/fleet?{query}"
    raw = factory.get(path) if accept is None else factory.get(path, HTTP_ACCEPT=accept)
    return Request(raw)


def _answer(negotiation: Any, accept: str | None, query: str, renderers: list[BaseRenderer]) -> Any:
    try:
        renderer, media_type = negotiation.select_renderer(_request(accept, query), renderers)
    except NotAcceptable:
        return "406"
    except Http404:  # ?format= naming no renderer of the view
        return "404"
    return type(renderer), media_type


@pytest.mark.parametrize("renderers", [ONE, SEVERAL], ids=["one renderer", "several"])
@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_accept_header_gets_drfs_own_answer(
    accept: str | None, query: str, renderers: list[BaseRenderer]
) -> None:
    ours = _answer(JsonFirstNegotiation(), accept, query, renderers)
    assert ours == _answer(DefaultContentNegotiation(), accept, query, renderers)


def test_a_browser_asking_for_html_only_is_still_refused() -> None:
    assert _answer(JsonFirstNegotiation(), "text/html", "", ONE) == "406"


@pytest.mark.parametrize("accept", [None, "*/*", "application/json"])
def test_what_devices_send_is_answered_without_parsing_the_accept_header(
    accept: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def parse(*args: Any) -> Any:
        raise AssertionError("the Accept header was parsed")

    monkeypatch.setattr(DefaultContentNegotiation, "_get_parsed_accept_list", parse)
    renderer, media_type = JsonFirstNegotiation().select_renderer(_request(accept, ""), ONE)
    assert (type(renderer), media_type) == (JSONRenderer, "application/json")
