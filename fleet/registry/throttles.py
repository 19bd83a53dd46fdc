"""Per-key request throttling: each API key gets its role's rate (settings, DRF style "N/min").

Counted in fixed windows (one counter per key and window): once for all workers when CACHE_URL
points at Redis (one INCR and EXPIRE, pipelined), per worker process with the default
local-memory cache, so the effective limit is the rate times the workers. For the local-memory
cache the counters are a dict of this process instead of cache entries: that cache is this
process's memory anyway, and its add() and incr() (a pickle, a lock and a key check each) cost
12 us a request against well under 1 us.

Not DRF's SimpleRateThrottle: it keeps the timestamp of every request in the window and
rewrites that list in the cache on each request, so at a gateway's rate (100,000 a minute, see
fleet.project.settings) every request would read and write a list of 100,000 floats.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.cache.backends.redis import RedisCache
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.settings import api_settings
from rest_framework.throttling import BaseThrottle

from fleet.registry.models import ApiKey

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60, "h": 3600}
PERIODS |= {"hour": 3600, "d": 86400, "day": 86400}


@dataclass(frozen=True)
class Rate:
    requests: int
    seconds: int
    text: str  # as configured, for the 429's message


@functools.lru_cache(maxsize=16)
def parse_rate(text: str) -> Rate:
    """ "3000/min" -> Rate(3000, 60); ValueError with what to write otherwise."""
    count, _, period = text.partition("/")
    seconds = PERIODS.get(period.strip().lower())
    if not count.strip().isdigit() or seconds is None or int(count) < 1:
        raise ValueError(
            f"{text!r} is not a rate: write N/s, N/min, N/hour or N/day with N at least 1."
        )
    return Rate(int(count), seconds, f"{int(count):,} requests per {period.strip()}")


class _ProcessCounters:
    """One counter per throttle identity, for its current window only (a new window starts it
    again at 0), so it holds one entry per key this process has seen."""

    def __init__(self) -> None:
        self._windows: dict[str, tuple[int, int]] = {}  # identity -> (window, count)
        self._lock = threading.Lock()  # gthread workers count from several threads

    def incr(self, identity: str, window: int) -> int:
        with self._lock:
            held, count = self._windows.get(identity, (window, 0))
            count = count + 1 if held == window else 1
            self._windows[identity] = (window, count)
            return count


_PROCESS_COUNTERS = _ProcessCounters()

# The windows' clock, a module attribute so tests can set the time instead of racing a window's
# end.
clock = time.time


def _count(identity: str, window: int, seconds: int) -> int | None:
    """Add one to the counter of `identity` in `window` and return it; None when the cache
    cannot be reached (the request is let through: a throttle must not take the API down with
    it)."""
    backend: Any = caches["default"]
    if isinstance(backend, LocMemCache):
        return _PROCESS_COUNTERS.incr(identity, window)
    cache_key = f"{identity}:{window}"
    try:
        if isinstance(backend, RedisCache):
            full_key = backend.make_and_validate_key(cache_key)
            client = backend._cache.get_client(full_key, write=True)
            pipe = client.pipeline(transaction=False)
            pipe.incr(full_key)
            pipe.expire(full_key, seconds + 1, nx=True)
            return int(pipe.execute()[0])
        # Another shared cache: add() creates the window's counter once, incr() counts.
        backend.add(cache_key, 0, timeout=seconds + 1)
        return int(backend.incr(cache_key))
    except Exception as exc:  # the cache server down, or the counter evicted between the calls
        logger.warning("throttle counter unavailable, request allowed: %s", exc)
        return None


class ApiKeyRateThrottle(BaseThrottle):
    """Counts requests per key (by its public prefix), at the rate of the key's role.

    Over the rate, a 429 that says the rate and carries Retry-After (until the window ends).
    Requests without a valid key never get here: authentication answers them first.
    """

    def allow_request(self, request: Request, view: Any) -> bool:
        key = request.auth
        if not isinstance(key, ApiKey):
            return True
        # Read on every request (not captured at import) so a settings change applies.
        text = api_settings.DEFAULT_THROTTLE_RATES.get(key.role)
        if text is None:
            return True
        rate = parse_rate(str(text))
        now = clock()
        window = int(now // rate.seconds)
        count = _count(f"throttle:{key.role}:{key.prefix}", window, rate.seconds)
        if count is None or count <= rate.requests:
            return True
        wait = max(1, math.ceil((window + 1) * rate.seconds - now))
        raise exceptions.Throttled(
            wait=wait,
            detail=f"This API key may make {rate.text} ({key.role} keys); slow down.",
        )
