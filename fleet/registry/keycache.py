"""Usable API keys by prefix, cached per process for API_KEY_CACHE_SECONDS.

The key lookup was a quarter of a single-reading POST's wall time (a round trip per request,
py-spy, bench/RESULTS.md). A key revoked (or expired by a rotation) is refused by every worker
within that many seconds, and by the process that revoked it at once.
"""

from __future__ import annotations

import time

from django.conf import settings

from fleet.plumbing.db import on_live_connection
from fleet.registry import queries
from fleet.registry.models import ApiKey

_cached: dict[str, tuple[float, ApiKey]] = {}
CACHED_KEYS_MAX = 10_000  # far more than a process sees; past it the cache starts over


def usable_key(prefix: str) -> ApiKey | None:
    """The unrevoked key with this prefix, from the cache while it is fresh."""
    now = time.time()
    hit = _cached.get(prefix)
    if hit is not None and hit[0] > now:
        return hit[1]
    # A request's first statement: it also finds a connection the server has closed.
    key = on_live_connection(lambda: queries.usable_api_key(prefix))
    seconds = settings.API_KEY_CACHE_SECONDS
    if key is None or not seconds:
        _cached.pop(prefix, None)
        return key
    if len(_cached) >= CACHED_KEYS_MAX:
        _cached.clear()
    _cached[prefix] = (now + seconds, key)
    return key


def forget_keys() -> None:
    """Empty this process's cache: a key revoked here stops working here at once."""
    _cached.clear()
