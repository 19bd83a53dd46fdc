"""The client's address, as seen through a trusted front proxy (nginx) or directly."""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest


@cache
def _trusted(
    networks: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in networks)


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _trusted(tuple(settings.TRUSTED_PROXIES)))


def client_address(request: HttpRequest) -> str | None:
    """REMOTE_ADDR, unless it is a trusted proxy: then the nearest X-Forwarded-For address that
    is not one. Walked from the right, because everything left of the last address our own
    proxy appended was written by the client and proves nothing."""
    remote = request.META.get("REMOTE_ADDR") or None
    if remote is None or not _is_trusted(remote):
        return remote
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    for hop in reversed([part.strip() for part in forwarded.split(",") if part.strip()]):
        if not _is_trusted(hop):
            return hop
    return remote
