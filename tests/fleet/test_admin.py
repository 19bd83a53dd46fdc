import re

import pytest
from django.contrib.auth.models import User
from django.test import Client

from fleet.models import ApiKey

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff_client() -> Client:
    user = User.objects.create_superuser("op", "op@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/fleet/vehicle/",
        "/admin/fleet/meter/",
        "/admin/fleet/vehiclemetermap/",
        "/admin/fleet/apikey/",
    ],
)
def test_admin_pages_render_for_staff_and_refuse_anonymous_users(
    staff_client: Client, path: str
) -> None:
    assert staff_client.get(path).status_code == 200
    anonymous = Client().get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")


def test_an_api_key_created_in_the_admin_is_shown_once_and_stored_hashed(
    staff_client: Client,
) -> None:
    response = staff_client.post(
        "/admin/fleet/apikey/add/",
        {"name": "gateway", "role": "device", "vehicle": "", "meter": "", "expiry_date": ""},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    key = re.search(r"The API key for gateway is: (\S+)\.", messages[0]).group(1)
    row = ApiKey.objects.get()
    assert row.role == "device"
    assert row.is_valid(key)
    assert key not in row.hashed_key


def test_an_analyst_key_bound_to_a_device_is_a_form_error_not_a_500(staff_client: Client) -> None:
    staff_client.post("/admin/fleet/vehicle/add/", {"id": "VH1", "name": ""})
    response = staff_client.post(
        "/admin/fleet/apikey/add/",
        {"name": "x", "role": "analyst", "vehicle": "VH1", "meter": "", "expiry_date": ""},
    )
    assert response.status_code == 200
    assert "Only device keys can be bound to a device." in response.content.decode()
    assert ApiKey.objects.count() == 0
