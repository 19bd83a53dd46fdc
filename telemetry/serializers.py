"""The API's response shapes for the OpenAPI schema. A posted reading is described from its
declaration in telemetry.readings (see telemetry.schema), not here."""

from __future__ import annotations

from rest_framework import serializers


class IngestResponseSerializer(serializers.Serializer):
    status = serializers.IntegerField()
    message = serializers.CharField()
    accepted = serializers.IntegerField(help_text="Readings stored.")
    duplicates = serializers.IntegerField(
        help_text="Readings whose (device, timestamp) was already stored; nothing changed."
    )


class VehicleStatusSerializer(serializers.Serializer):
    vehicleId = serializers.CharField()
    timestamp = serializers.DateTimeField(help_text="Time of the newest reading.")
    soc = serializers.FloatField()
    kwhDeliveredDc = serializers.FloatField()
    batteryTemp = serializers.FloatField()
    updatedAt = serializers.DateTimeField(help_text="When that reading arrived.")


class MeterStatusSerializer(serializers.Serializer):
    meterId = serializers.CharField()
    timestamp = serializers.DateTimeField()
    kwhConsumedAc = serializers.FloatField()
    voltage = serializers.FloatField()
    updatedAt = serializers.DateTimeField()
