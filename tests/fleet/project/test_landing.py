"""/ is a small landing page with links to the admin, the API docs and the health endpoints."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_the_root_links_to_the_admin_the_docs_and_health() -> None:
    response = Client().get("/")
    assert response.status_code == 200
    page = response.content.decode()
    for link in ('href="/admin/"', 'href="/v1/docs"', 'href="/healthz"', 'href="/readyz"'):
        assert link in page
