"""Content negotiation without parsing the Accept header when there is nothing to choose.

Every API view renders JSON only, and devices send no Accept header, `*/*` or
`application/json`. DRF's negotiation still builds `request.headers` from the whole environ,
parses the Accept list and ranks it on every request: about a seventh of a single-reading
POST's CPU in-process (cProfile, bench/RESULTS.md "Fourth round"). For those three headers
on a one-renderer view, without a ?format= override, the answer is always the renderer and its
own media type, which is what DRF would return; anything else (a browser's text/html, the
schema view's several renderers) goes to DRF unchanged, so a 406 is still a 406.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request

# The Accept values for which DRF's ranking cannot pick anything but the only renderer: absent
# (DRF reads it as */*), */* and application/json. Not an empty header: DRF answers that 406.
_TRIVIAL_ACCEPT = frozenset({None, "*/*", "application/json"})


class JsonFirstNegotiation(DefaultContentNegotiation):
    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: Any = None
    ) -> tuple[BaseRenderer, str]:
        renderers = list(renderers)  # DRF passes the view's list; a copy costs nothing here
        if len(renderers) == 1 and format_suffix is None:
            renderer = renderers[0]
            meta = request._request.META
            trivial = meta.get("HTTP_ACCEPT") in _TRIVIAL_ACCEPT
            override = self.settings.URL_FORMAT_OVERRIDE
            if (
                trivial
                and renderer.media_type == "application/json"
                and not (override and override in meta.get("QUERY_STRING", ""))
            ):
                return renderer, renderer.media_type
        return super().select_renderer(request, renderers, format_suffix)
