"""API key authentication and role permissions for the HTTP API.

Header: `Authorization: Api-Key <prefix>.<secret>`. Keys are looked up by their prefix and
verified against a sha512 hash (djangorestframework-api-key): a high-entropy key needs no slow
password hash, and ingestion authenticates every request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import HTTP_HEADER_ENCODING, exceptions
from rest_framework.authentication import BaseAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from fleet.registry.keycache import usable_key
from fleet.registry.models import ApiKey

KEYWORD = "Api-Key"
# last_used_at is written at most this often per key, so a busy device does not turn every
# request into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


class KeyUser:
    """The "user" of a request authenticated by an API key (DRF wants something truthy)."""

    is_authenticated = True
    is_anonymous = False

    def __init__(self, key: ApiKey) -> None:
        self.key = key

    def __str__(self) -> str:
        return f"api-key:{self.key.prefix}"


def _authorization(request: Request) -> bytes:
    """The Authorization header, read from the environ: DRF's get_authorization_header goes
    through request.headers, which copies and renames every header of the request first (6 %
    of a single-reading POST's CPU in-process)."""
    value = request._request.META.get("HTTP_AUTHORIZATION", b"")
    return value.encode(HTTP_HEADER_ENCODING) if isinstance(value, str) else value


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[KeyUser, ApiKey] | None:
        header = _authorization(request).split()
        if not header:
            return None
        if len(header) == 1 and b"." in header[0]:
            # A bare "<prefix>.<secret>", as people paste a key into Swagger UI's Authorize
            # dialog (an apiKey header sends exactly what was pasted): no scheme has a dot.
            header = [KEYWORD.encode(), header[0]]
        # Scheme names are case-insensitive (RFC 9110 section 11.1): "api-key" is "Api-Key".
        scheme = header[0].decode(errors="replace")
        if scheme.casefold() != KEYWORD.casefold() or len(header) != 2:
            raise exceptions.AuthenticationFailed(
                f"Send the key as 'Authorization: {KEYWORD} <key>'."
            )
        raw = header[1].decode(errors="replace")
        prefix, dot, _ = raw.partition(".")
        key = usable_key(prefix) if dot else None
        if key is None or not key.is_valid(raw):
            raise exceptions.AuthenticationFailed("The API key is not valid.")
        if key.has_expired:
            raise exceptions.AuthenticationFailed("The API key has expired.")
        now = timezone.now()
        if key.last_used_at is None or now - key.last_used_at > LAST_USED_RESOLUTION:
            ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
            key.last_used_at = now  # the cached instance too, or it would write every request
        return KeyUser(key), key

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) when the key is missing or wrong.
        return KEYWORD


class _HasRole(BasePermission):
    role: str = ""
    message = ""

    def has_permission(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return False
        return key.role == self.role


class IsDeviceKey(_HasRole):
    role = ApiKey.Role.DEVICE
    message = "This endpoint needs a device API key."


class IsAnalystKey(_HasRole):
    role = ApiKey.Role.ANALYST
    message = "This endpoint needs an analyst API key."


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """The key in the OpenAPI schema (drf-spectacular finds it by its target class)."""

    target_class = ApiKeyAuthentication
    name = "ApiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <key>`, or the bare key (create one with "
            "`manage.py create_api_key`).",
        }
