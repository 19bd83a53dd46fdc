"""HTTP endpoints of ingestion and device status. Thin: parse, call a service, serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from fleet.plumbing.errors import ApiError
from fleet.plumbing.openapi import COMMON_ERRORS, error
from fleet.registry import paths
from fleet.registry.auth import IsAnalystKey, IsDeviceKey
from fleet.registry.models import ApiKey
from telemetry import selectors, services
from telemetry.body import read_json_body
from telemetry.schema import INGEST_OPERATION_ID
from telemetry.serializers import (
    IngestResponseSerializer,
    MeterStatusSerializer,
    VehicleStatusSerializer,
)

BAD_ID = error("The id in the path breaks the device-id rule (1-64 of A-Z a-z 0-9 . _ : -).")


class TelemetryViewSet(viewsets.ViewSet):
    """POST /v1/telemetry: one reading or a JSON array of up to TELEMETRY_MAX_BATCH."""

    permission_classes = [IsDeviceKey]
    # The body is read by read_json_body (limits, gzip, orjson), never by DRF's parsers.
    parser_classes: list[Any] = []

    @extend_schema(
        operation_id=INGEST_OPERATION_ID,
        summary="Post one reading or a batch",
        # None here: the body (one reading or an array) is written at schema generation by
        # telemetry.schema, from the readings' declaration, so its limits follow the settings.
        request=None,
        responses={
            200: IngestResponseSerializer,
            400: error(
                "Invalid JSON or readings; nothing stored. errors names each bad "
                "reading by its index and field."
            ),
            413: error("More readings than the batch limit, or the body is too large."),
            415: error("Not application/json, or an unsupported Content-Encoding."),
            **COMMON_ERRORS,
        },
    )
    def create(self, request: Request) -> Response:
        payload = read_json_body(request._request, settings.TELEMETRY_MAX_BODY_BYTES)
        key = request.auth
        assert isinstance(key, ApiKey)  # IsDeviceKey let the request through
        result = services.ingest_payload(payload, key)
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

    @extend_schema(
        operation_id="vehicle_status",
        responses={
            200: VehicleStatusSerializer,
            400: BAD_ID,
            404: error("Never reported."),
            **COMMON_ERRORS,
        },
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        status = selectors.vehicle_status(paths.device_id(pk, "vehicle"))
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

    @extend_schema(
        operation_id="meter_status",
        responses={
            200: MeterStatusSerializer,
            400: BAD_ID,
            404: error("Never reported."),
            **COMMON_ERRORS,
        },
    )
    def retrieve(self, request: Request, pk: str) -> Response:
        status = selectors.meter_status(paths.device_id(pk, "meter"))
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
