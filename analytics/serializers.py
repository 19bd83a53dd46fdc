"""Response shapes of the analytics endpoints, for the OpenAPI schema."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from analytics import health
from analytics.models import ALERT_VERDICTS
from analytics.params import MAX_HOURS


class ReadingCountsSerializer(serializers.Serializer):
    vehicle = serializers.IntegerField()
    meter = serializers.IntegerField()


class CoverageSerializer(serializers.Serializer):
    vehicle = serializers.FloatField(help_text="share of the vehicle's expected readings, 0-1")
    meter = serializers.FloatField(
        allow_null=True,
        help_text="share of the expected meter readings while a meter was mapped, 0-1; null "
        "when none was",
    )


class PairedSerializer(serializers.Serializer):
    hours = serializers.IntegerField(help_text="hours in which both sides were covered")
    total_dc = serializers.FloatField()
    total_ac = serializers.FloatField()
    efficiency = serializers.FloatField(allow_null=True, help_text="4 places; null without AC")


class HealthFieldsSerializer(serializers.Serializer):
    coverage = CoverageSerializer()
    paired = PairedSerializer()
    baseline_efficiency = serializers.FloatField(
        allow_null=True,
        help_text="median daily paired efficiency of the days before; null with too few",
    )
    health = serializers.ChoiceField(choices=list(health.VERDICTS))


class PerformanceSerializer(HealthFieldsSerializer):
    total_dc = serializers.FloatField(help_text="kWh the vehicle's readings delivered (DC).")
    total_ac = serializers.FloatField(
        help_text="kWh of the meters mapped to the vehicle at each reading's time (AC)."
    )
    efficiency = serializers.FloatField(
        allow_null=True, help_text="total_dc / total_ac, 4 places; null without AC."
    )
    avg_battery_temp = serializers.FloatField(allow_null=True)
    vehicleId = serializers.CharField()
    # "from" is a Python keyword: declared below.
    to = serializers.DateTimeField()
    readings = ReadingCountsSerializer()
    meters = serializers.ListField(child=serializers.CharField())


PerformanceSerializer._declared_fields["from"] = serializers.DateTimeField()


class FleetRowSerializer(HealthFieldsSerializer):
    vehicleId = serializers.CharField()
    total_dc = serializers.FloatField()
    total_ac = serializers.FloatField()
    efficiency = serializers.FloatField(allow_null=True)
    avg_battery_temp = serializers.FloatField(allow_null=True)
    readings = ReadingCountsSerializer()
    flagged = serializers.BooleanField(help_text="efficiency below the alert threshold")


class FleetPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    to = serializers.DateTimeField()
    threshold = serializers.FloatField()
    results = FleetRowSerializer(many=True)


FleetPageSerializer._declared_fields["from"] = serializers.DateTimeField()


class SeriesPointSerializer(serializers.Serializer):
    hour = serializers.DateTimeField()
    dc = serializers.FloatField()
    ac = serializers.FloatField()
    efficiency = serializers.FloatField(allow_null=True)
    readings = ReadingCountsSerializer()


class SeriesSerializer(serializers.Serializer):
    vehicleId = serializers.CharField()
    to = serializers.DateTimeField()
    bucket = serializers.CharField()
    results = SeriesPointSerializer(many=True)


SeriesSerializer._declared_fields["from"] = serializers.DateTimeField()

WINDOW_PARAMETERS = [
    OpenApiParameter(
        "hours", int, description=f"Window length in hours, 1-{MAX_HOURS} (default 24)."
    ),
    # date-time, so fuzzers generate instants across the whole calendar (year 1 to 9999).
    OpenApiParameter(
        "from",
        OpenApiTypes.DATETIME,
        description="Window start, ISO-8601 with offset (inclusive).",
    ),
    OpenApiParameter(
        "to",
        OpenApiTypes.DATETIME,
        description="Window end, ISO-8601 with offset (exclusive); default now.",
    ),
]


class AlertSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    vehicleId = serializers.CharField()
    kind = serializers.ChoiceField(choices=["alert", "recovery"])
    health = serializers.ChoiceField(
        choices=list(ALERT_VERDICTS), help_text="the verdict the vehicle changed to"
    )
    previous = serializers.CharField(allow_null=True, help_text="its verdict before; null at first")
    paired_efficiency = serializers.FloatField(allow_null=True)
    baseline_efficiency = serializers.FloatField(allow_null=True)
    to = serializers.DateTimeField()
    created_at = serializers.DateTimeField()
    acknowledged_at = serializers.DateTimeField(allow_null=True)
    acknowledged_by = serializers.CharField(allow_null=True)


AlertSerializer._declared_fields["from"] = serializers.DateTimeField()


class AlertPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = AlertSerializer(many=True)
