"""Reads of the fleet registry."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from fleet.models import VehicleMeterMap


@dataclass(frozen=True)
class MeterSpan:
    """meter_id fed the vehicle during [start, end) (clipped to the asked window)."""

    meter_id: str
    start: datetime
    end: datetime


def meter_at(*, vehicle_id: str, at: datetime) -> str | None:
    """The meter that fed vehicle_id at instant `at` (valid_from <= at < valid_to), if any."""
    return (
        VehicleMeterMap.objects.filter(vehicle_id=vehicle_id, valid_from__lte=at)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=at))
        .values_list("meter_id", flat=True)
        .first()
    )


def meters_during(*, vehicle_id: str, start: datetime, end: datetime) -> list[MeterSpan]:
    """Every meter that fed vehicle_id during [start, end), each span clipped to the window."""
    rows = (
        VehicleMeterMap.objects.filter(vehicle_id=vehicle_id, valid_from__lt=end)
        .filter(Q(valid_to__isnull=True) | Q(valid_to__gt=start))
        .order_by("valid_from")
        .values_list("meter_id", "valid_from", "valid_to")
    )
    return [
        MeterSpan(meter_id, max(valid_from, start), min(valid_to or end, end))
        for meter_id, valid_from, valid_to in rows
    ]
