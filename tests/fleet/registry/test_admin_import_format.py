"""The map import and export offer CSV only: nothing to choose (it was "---" and five formats)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("page", ["import", "export"])
def test_the_format_is_csv_with_nothing_to_choose(page: str) -> None:
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    html = client.get(f"/admin/fleet/vehiclemetermap/{page}/").content.decode()
    assert '<select name="format"' not in html
    assert 'type="hidden" name="format" value="0"' in html
    shown = html.split('for="id_format"', 1)[1].split('name="format"', 1)[0]
    assert "csv" in shown and not any(f in shown for f in ("tsv", "json", "yaml", "html"))
