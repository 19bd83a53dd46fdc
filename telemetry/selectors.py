"""Reads of the hot status tables (never history)."""

from __future__ import annotations

from telemetry.models import CurrentMeterStatus, CurrentVehicleStatus


def vehicle_status(vehicle_id: str) -> CurrentVehicleStatus | None:
    return CurrentVehicleStatus.objects.filter(pk=vehicle_id).first()


def meter_status(meter_id: str) -> CurrentMeterStatus | None:
    return CurrentMeterStatus.objects.filter(pk=meter_id).first()
