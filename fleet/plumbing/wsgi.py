"""The WSGI application: API requests through a short middleware chain, the rest through all.

An API request authenticates with its key and answers JSON: it needs no session, no CSRF
check, no messages, no login lockout, no display time zone and no static files, yet every one
of those middleware ran on every request (a function call and its checks each). Django builds
one chain from settings.MIDDLEWARE, so there are two handlers: one with API_MIDDLEWARE for paths
under API_PATH_PREFIXES, the usual one for everything else (the admin keeps all of it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import django
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler


class _ChainHandler(WSGIHandler):
    """A WSGIHandler whose middleware chain is the given list, not settings.MIDDLEWARE."""

    def __init__(self, middleware: list[str]) -> None:
        self._chain = middleware
        super().__init__()

    def load_middleware(self, is_async: bool = False) -> None:
        # BaseHandler reads settings.MIDDLEWARE while building the chain, once, at start-up
        # (one thread, before any request): swap the list in for that and put it back.
        full = settings.MIDDLEWARE
        settings.MIDDLEWARE = self._chain
        try:
            super().load_middleware(is_async)
        finally:
            settings.MIDDLEWARE = full


WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def application() -> WSGIApp:
    django.setup(set_prefix=False)
    everything = WSGIHandler()
    api = _ChainHandler(list(settings.API_MIDDLEWARE))
    prefixes = tuple(settings.API_PATH_PREFIXES)

    def route(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = api if environ.get("PATH_INFO", "").startswith(prefixes) else everything
        return handler(environ, start_response)

    return route
