"""The time zone pages are shown in: DISPLAY_TIME_ZONE (default UTC). Storage stays UTC."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone


class DisplayTimeZoneMiddleware:
    """Pages for people (the admin) show and read times in the display zone; the API always
    speaks UTC ISO-8601 and is left alone. The admin's date widgets compare the browser's zone
    with the page's, so with DISPLAY_TIME_ZONE set to the operators' zone the "you are N hours
    ahead of server time" note goes away."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/v1/"):
            return self.get_response(request)
        # Read per request (a cached lookup), so a changed setting takes effect in a running
        # server too: the browser test serves a Berlin operator from the one live server.
        with timezone.override(_zone(settings.DISPLAY_TIME_ZONE)):
            return self.get_response(request)


@functools.cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)
