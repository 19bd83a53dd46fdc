"""The time zone pages are shown in: DISPLAY_TIME_ZONE (default UTC). Storage stays UTC."""

from __future__ import annotations

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
        self.zone = zoneinfo.ZoneInfo(settings.DISPLAY_TIME_ZONE)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.path.startswith("/v1/"):
            return self.get_response(request)
        with timezone.override(self.zone):
            return self.get_response(request)
