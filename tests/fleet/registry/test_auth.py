from collections.abc import Callable
from datetime import timedelta

import pytest
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory

from fleet.registry.auth import IsAnalystKey, IsDeviceKey
from fleet.registry.models import ApiKey
from fleet.registry.services.keys import revoke_api_key
from tests.factories import make_key

pytestmark = pytest.mark.django_db
factory = APIRequestFactory()


@api_view(["GET"])
@permission_classes([IsDeviceKey])
def device_only(request: Request) -> Response:
    assert isinstance(request.auth, ApiKey)  # IsDeviceKey let only an API key in
    return Response({"key": request.auth.name})


@api_view(["GET"])
@permission_classes([IsAnalystKey])
def analyst_only(request: Request) -> Response:
    assert isinstance(request.auth, ApiKey)  # IsAnalystKey let only an API key in
    return Response({"key": request.auth.name})


def call(
    view: Callable[[HttpRequest], Response], key: str | None = None, header: str | None = None
) -> Response:
    headers: dict[str, str] = {}
    if key is not None:
        headers["HTTP_AUTHORIZATION"] = f"Api-Key {key}"
    if header is not None:
        headers["HTTP_AUTHORIZATION"] = header
    return view(factory.get("/x", None, **headers))


def test_keys_are_stored_hashed_never_in_plain() -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    stored = ApiKey.objects.get(pk=row.pk)
    assert key not in stored.hashed_key and key not in stored.id
    assert stored.hashed_key.startswith("sha512$$")
    assert key.startswith(stored.prefix + ".")


def test_a_valid_key_of_the_right_role_is_let_in_and_its_use_recorded() -> None:
    row, key = make_key(ApiKey.Role.DEVICE, name="gateway-7")
    response = call(device_only, key)
    assert response.status_code == 200
    assert response.data == {"key": "gateway-7"}
    assert ApiKey.objects.get(pk=row.pk).last_used_at is not None


def test_missing_key_is_401_with_the_scheme_named() -> None:
    response = call(device_only)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Api-Key"
    assert response.data["status"] == 401


def test_a_wrong_secret_with_a_real_prefix_is_401() -> None:
    row, _ = make_key(ApiKey.Role.DEVICE)
    response = call(device_only, row.prefix + ".wrongsecretwrongsecretwrongsecret")
    assert response.status_code == 401
    assert response.data["message"] == "The API key is not valid."


def test_a_bearer_header_is_401_with_a_hint() -> None:
    _, key = make_key(ApiKey.Role.DEVICE)
    response = call(device_only, header=f"Bearer {key}")
    assert response.status_code == 401
    assert "Api-Key <key>" in response.data["message"]


def test_a_revoked_key_is_refused() -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    revoke_api_key(key_id=row.pk)
    assert call(device_only, key).status_code == 401


def test_an_expired_key_is_refused() -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    ApiKey.objects.filter(pk=row.pk).update(expiry_date=timezone.now() - timedelta(seconds=1))
    response = call(device_only, key)
    assert response.status_code == 401
    assert response.data["message"] == "The API key has expired."


def test_roles_do_not_cross() -> None:
    _, device_key = make_key(ApiKey.Role.DEVICE)
    _, analyst_key = make_key(ApiKey.Role.ANALYST)
    assert call(analyst_only, device_key).status_code == 403
    assert call(device_only, analyst_key).status_code == 403
    assert call(analyst_only, analyst_key).status_code == 200
    forbidden = call(analyst_only, device_key)
    assert forbidden.data == {
        "status": 403,
        "message": "This endpoint needs an analyst API key.",
        "errors": {},
    }


def test_last_used_is_not_rewritten_on_every_request() -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    call(device_only, key)
    first = ApiKey.objects.get(pk=row.pk).last_used_at
    call(device_only, key)
    assert ApiKey.objects.get(pk=row.pk).last_used_at == first
