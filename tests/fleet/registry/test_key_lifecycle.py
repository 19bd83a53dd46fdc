"""API key lifecycle from the command line: list, revoke by prefix, expire, rotate; and the
admin never offers to delete a key (a revoked key stays for the audit trail)."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from tests.factories import make_key

pytestmark = pytest.mark.django_db
STATUS = "/v1/vehicles/VH404/status"  # 404 once authenticated: the vehicle never reported


def run(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def answer(key: str) -> int:
    return APIClient().get(STATUS, HTTP_AUTHORIZATION=f"Api-Key {key}").status_code


def device_answer(key: str) -> int:
    # A device key may not read status; an empty POST is a 4xx other than 401 once the key
    # authenticates (415: no JSON), and 401 when it does not.
    return APIClient().post("/v1/telemetry", HTTP_AUTHORIZATION=f"Api-Key {key}").status_code


def test_list_api_keys_shows_prefixes_roles_and_states_but_no_secret() -> None:
    active, active_key = make_key(ApiKey.Role.ANALYST, name="ops")
    revoked, _ = make_key(ApiKey.Role.DEVICE, name="old box", vehicle_id="VH9")
    run("revoke_api_key", revoked.prefix)
    listed, _ = run("list_api_keys")
    assert active.prefix in listed and "ops" in listed and "active" in listed
    assert revoked.prefix not in listed
    everything, _ = run("list_api_keys", "--all")
    assert revoked.prefix in everything and "vehicle VH9" in everything and "revoked" in everything
    assert active_key.split(".", 1)[1] not in everything


def test_revoking_by_prefix_stops_the_key_at_once() -> None:
    row, key = make_key(ApiKey.Role.ANALYST)
    assert answer(key) == 404
    out, _ = run("revoke_api_key", row.prefix)
    assert out.strip() == f"revoked analyst key 'test key' (prefix {row.prefix})"
    assert answer(key) == 401
    with pytest.raises(CommandError, match="No API key has the prefix 'nope'"):
        run("revoke_api_key", "nope")


def test_a_key_created_with_an_expiry_stops_working_then(clock: time_machine.Traveller) -> None:
    expires = (timezone.now() + timedelta(hours=1)).isoformat()
    out, _ = run("create_api_key", "--name", "temp", "--role", "analyst", "--expires", expires)
    key = out.strip().splitlines()[-1]
    assert answer(key) == 404
    clock.shift(timedelta(hours=1, seconds=1))
    assert answer(key) == 401


def test_rotation_gives_a_new_key_while_the_old_one_works_until_the_given_time(
    clock: time_machine.Traveller,
) -> None:
    old_row, old_key = make_key(ApiKey.Role.DEVICE, name="VH7 box", vehicle_id="VH7")
    until = timezone.now() + timedelta(days=1)
    out, err = run("rotate_api_key", old_row.prefix, "--old-valid-until", until.isoformat())
    new_key = out.strip().splitlines()[-1]
    new_row = ApiKey.objects.exclude(pk=old_row.pk).get()
    assert (new_row.name, new_row.role, new_row.vehicle_id) == ("VH7 box", "device", "VH7")
    assert f"the old key {old_row.prefix} works until" in err
    assert (device_answer(old_key), device_answer(new_key)) == (415, 415)
    clock.shift(timedelta(days=1, seconds=1))
    assert (device_answer(old_key), device_answer(new_key)) == (401, 415)


def test_the_admin_offers_revoke_but_never_delete() -> None:
    row, _ = make_key(ApiKey.Role.ANALYST)
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    page = client.get("/admin/fleet/apikey/").content.decode()
    assert 'value="revoke"' in page and 'value="delete_selected"' not in page
    assert client.get(f"/admin/fleet/apikey/{row.pk}/delete/").status_code == 403
