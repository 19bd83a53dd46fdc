"""The site's own page: what a person who opens the service's address sees."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def landing(request: HttpRequest) -> HttpResponse:
    """/: links to the admin, the API docs and the health endpoints (it was a 404, and so was
    the admin's "View site" link)."""
    return render(request, "landing.html")
