"""The API's shapes for the OpenAPI schema. Requests are validated by telemetry.readings
(hand-written, for speed); these serializers describe the same rules."""

from __future__ import annotations

from rest_framework import serializers

from fleet.registry.models import DEVICE_ID_PATTERN


class VehicleReadingSerializer(serializers.Serializer):
    vehicleId = serializers.RegexField(DEVICE_ID_PATTERN, max_length=64)
    soc = serializers.FloatField(min_value=0, max_value=100, help_text="State of charge, %.")
    kwhDeliveredDc = serializers.FloatField(
        min_value=0,
        max_value=1000,
        help_text="kWh delivered into the battery since the previous reading.",
    )
    batteryTemp = serializers.FloatField(min_value=-50, max_value=150, help_text="°C.")
    timestamp = serializers.DateTimeField(
        help_text="ISO-8601 with a UTC offset; at most 5 minutes ahead, at most 35 days old."
    )


class MeterReadingSerializer(serializers.Serializer):
    meterId = serializers.RegexField(DEVICE_ID_PATTERN, max_length=64)
    kwhConsumedAc = serializers.FloatField(
        min_value=0, max_value=1000, help_text="kWh drawn from the grid since the previous reading."
    )
    voltage = serializers.FloatField(min_value=0, max_value=2000, help_text="V, above 0.")
    timestamp = serializers.DateTimeField(
        help_text="ISO-8601 with a UTC offset; at most 5 minutes ahead, at most 35 days old."
    )


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
