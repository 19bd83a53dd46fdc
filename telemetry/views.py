"""HTTP endpoints of ingestion and device status. Thin: parse, call a service, serialize."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema
from rest_framework import viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from fleet import metrics
from fleet.api import ApiError
from fleet.auth import IsAnalystKey, IsDeviceKey
from fleet.openapi import COMMON_ERRORS, error
from telemetry import selectors, services
from telemetry.body import read_json_body
from telemetry.readings import parse_reading, parse_readings
from telemetry.serializers import (
    IngestResponseSerializer,
    MeterReadingSerializer,
    MeterStatusSerializer,
    VehicleReadingSerializer,
    VehicleStatusSerializer,
)


def _count_rejected(items: list[Any]) -> None:
    for item in items:
        kind = "vehicle" if isinstance(item, dict) and "vehicleId" in item else "meter"
        if not isinstance(item, dict) or ("vehicleId" in item) == ("meterId" in item):
            kind = "unknown"
        metrics.READINGS_REJECTED.labels(kind).inc()


class TelemetryViewSet(viewsets.ViewSet):
    """POST /v1/telemetry: one reading or a JSON array of up to TELEMETRY_MAX_BATCH."""

    permission_classes = [IsDeviceKey]
    # The body is read by read_json_body (limits, gzip, orjson), never by DRF's parsers.
    parser_classes: list[Any] = []

    @extend_schema(
        operation_id="ingest_telemetry",
        summary="Post one reading or a batch",
        # The body (one reading or an array) is written by fleet.openapi.postprocess; these
        # register the two reading components it refers to.
        request={
            "application/json": PolymorphicProxySerializer(
                component_name="Reading",
                serializers=[VehicleReadingSerializer, MeterReadingSerializer],
                resource_type_field_name=None,
            )
        },
        responses={
            200: IngestResponseSerializer,
            400: error(
                "Invalid JSON or readings; nothing stored. errors names each bad "
                "reading by its index and field."
            ),
            413: error("More than 5,000 readings, or the body is too large."),
            415: error("Not application/json, or an unsupported Content-Encoding."),
            **COMMON_ERRORS,
        },
    )
    def create(self, request: Request) -> Response:
        payload = read_json_body(request._request, settings.TELEMETRY_MAX_BODY_BYTES)
        limits = services.current_limits()
        if isinstance(payload, dict):
            reading, errors = parse_reading(payload, limits)
            if errors:
                _count_rejected([payload])
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
                _count_rejected(payload)
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
        metrics.INGEST_BATCH_SIZE.observe(len(readings))
        for kind, total, accepted in (
            ("vehicle", result.vehicle_readings, result.vehicle_accepted),
            ("meter", result.meter_readings, result.meter_accepted),
        ):
            if accepted:
                metrics.READINGS_ACCEPTED.labels(kind).inc(accepted)
            if total - accepted:
                metrics.READINGS_DUPLICATE.labels(kind).inc(total - accepted)
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
        responses={200: VehicleStatusSerializer, 404: error("Never reported."), **COMMON_ERRORS},
    )
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

    @extend_schema(
        operation_id="meter_status",
        responses={200: MeterStatusSerializer, 404: error("Never reported."), **COMMON_ERRORS},
    )
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
