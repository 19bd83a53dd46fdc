"""HTTP endpoints of ingestion and device status. Thin: parse, call a service, serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from fleet.api import ApiError
from fleet.auth import IsAnalystKey, IsDeviceKey
from telemetry import selectors, services
from telemetry.body import read_json_body
from telemetry.readings import parse_reading, parse_readings


class TelemetryViewSet(viewsets.ViewSet):
    """POST /v1/telemetry: one reading or a JSON array of up to TELEMETRY_MAX_BATCH."""

    permission_classes = [IsDeviceKey]
    # The body is read by read_json_body (limits, gzip, orjson), never by DRF's parsers.
    parser_classes: list[Any] = []

    def create(self, request: Request) -> Response:
        payload = read_json_body(request._request, settings.TELEMETRY_MAX_BODY_BYTES)
        limits = services.current_limits()
        if isinstance(payload, dict):
            reading, errors = parse_reading(payload, limits)
            if errors:
                raise ApiError(400, "The reading is invalid; nothing was stored.", errors)
            readings = [reading]
        elif isinstance(payload, list):
            if not payload:
                raise ApiError(400, "The array is empty; send at least one reading.")
            if len(payload) > settings.TELEMETRY_MAX_BATCH:
                raise ApiError(
                    413,
                    f"The batch has {len(payload)} readings; the limit is "
                    f"{settings.TELEMETRY_MAX_BATCH}. Split it.",
                )
            readings, bad = parse_readings(payload, limits)
            if bad:
                raise ApiError(
                    400,
                    f"{len(bad)} of {len(payload)} readings are invalid; nothing was stored.",
                    bad,
                )
        else:
            raise ApiError(
                400, "The body must be one reading object or an array of reading objects."
            )
        services.check_key_may_post(request.auth, readings)  # type: ignore[arg-type]
        result = services.ingest_readings(readings)  # type: ignore[arg-type]
        return Response(
            {
                "status": 200,
                "message": "Telemetry ingested successfully",
                "accepted": result.accepted,
                "duplicates": result.duplicates,
            }
        )


def _energy(value: Any) -> float:
    return float(value)


class VehicleStatusViewSet(viewsets.ViewSet):
    """GET /v1/vehicles/{id}/status: the newest reading of a vehicle (hot table)."""

    permission_classes = [IsAnalystKey]

    def retrieve(self, request: Request, pk: str) -> Response:
        status = selectors.vehicle_status(pk)
        if status is None:
            raise ApiError(404, f"Vehicle {pk} has never reported.")
        return Response(
            {
                "vehicleId": status.vehicle_id,
                "timestamp": status.ts,
                "soc": status.soc,
                "kwhDeliveredDc": _energy(status.kwh_delivered_dc),
                "batteryTemp": status.battery_temp,
                "updatedAt": status.updated_at,
            }
        )


class MeterStatusViewSet(viewsets.ViewSet):
    """GET /v1/meters/{id}/status: the newest reading of a meter (hot table)."""

    permission_classes = [IsAnalystKey]

    def retrieve(self, request: Request, pk: str) -> Response:
        status = selectors.meter_status(pk)
        if status is None:
            raise ApiError(404, f"Meter {pk} has never reported.")
        return Response(
            {
                "meterId": status.meter_id,
                "timestamp": status.ts,
                "kwhConsumedAc": _energy(status.kwh_consumed_ac),
                "voltage": status.voltage,
                "updatedAt": status.updated_at,
            }
        )
