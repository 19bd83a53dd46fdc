"""The application's URLs plus POST /bench/floor, mounted only by bench.settings.

The floor is the cheapest DRF POST there is: the same middleware, DRF request, JSON parse and
JSON response as ingestion, but no API key lookup and no database. Single-reading ingestion is
measured against it.
"""

from __future__ import annotations

from django.urls import path
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from bench import app


class FloorView(APIView):
    """Parse the JSON body (DRF's JSONParser) and answer 200 without touching the database."""

    authentication_classes: list[type] = []
    permission_classes = [AllowAny]

    def post(self, request: Request) -> Response:
        data = request.data  # forces the parse
        return Response(
            {
                "status": 200,
                "message": "Telemetry ingested successfully",
                "accepted": 1 if isinstance(data, dict) else len(data),
                "duplicates": 0,
            }
        )


urlpatterns = [
    path("bench/floor", FloorView.as_view()),
    *app.resolve(f"{app.URLCONF}.urlpatterns"),
]
