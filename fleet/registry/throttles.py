"""Per-key request throttling: each API key gets its role's rate (settings, DRF style "N/min")."""

from __future__ import annotations

from typing import Any

from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from fleet.registry.models import ApiKey


class ApiKeyRateThrottle(SimpleRateThrottle):
    """Counts requests per key (by its public prefix), at the rate of the key's role.

    A 429 carries Retry-After (DRF sets it from the window). Requests without a valid key never
    get here: authentication answers them first.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        self.scope = key.role
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)

    def get_rate(self) -> str | None:
        # Read on every request (not captured at import) so a settings change applies.
        rate = api_settings.DEFAULT_THROTTLE_RATES.get(getattr(self, "scope", ""))
        return None if rate is None else str(rate)

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        key = request.auth
        if not isinstance(key, ApiKey):
            return None
        return f"throttle:{key.role}:{key.prefix}"

    def __init__(self) -> None:
        # SimpleRateThrottle reads the rate in __init__, before the key (and so the scope) is
        # known; allow_request sets it per request instead.
        self.rate = None
        self.num_requests = self.duration = None
