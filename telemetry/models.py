"""Telemetry storage: partitioned append-only history and one hot status row per device.

History tables are range-partitioned by day on ts (see telemetry.partitions); their primary key
(device id, ts) contains the partition key, as PostgreSQL requires, and is the dedupe key: a
repeated (device, ts) is a duplicate. It is led by the device id so the same key works when the
table is distributed by device id (Citus).
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Now
from psqlextra.models import PostgresPartitionedModel
from psqlextra.types import PostgresPartitioningMethod

from fleet.registry.models import DEVICE_ID_MAX_LENGTH, Meter, Vehicle

# kWh of one interval. NUMERIC, not float: the AC side is what the operator is billed for, and
# sums over millions of readings must come out exact.
ENERGY_MAX_DIGITS = 12
ENERGY_DECIMAL_PLACES = 6


def energy_field() -> models.DecimalField:
    return models.DecimalField(max_digits=ENERGY_MAX_DIGITS, decimal_places=ENERGY_DECIMAL_PLACES)


class VehicleTelemetry(PostgresPartitionedModel):
    """One vehicle / DC charger reading: energy delivered into the battery in that interval."""

    pk = models.CompositePrimaryKey("vehicle_id", "ts")
    # No foreign key: history is append-only at volume and an FK check per row costs a lookup;
    # ingestion registers the device in the same transaction.
    vehicle_id = models.CharField(max_length=DEVICE_ID_MAX_LENGTH)
    ts = models.DateTimeField()
    soc = models.FloatField()
    kwh_delivered_dc = energy_field()
    battery_temp = models.FloatField()
    received_at = models.DateTimeField(db_default=Now())

    class PartitioningMeta:
        method = PostgresPartitioningMethod.RANGE
        key = ["ts"]

    class Meta:
        db_table = "vehicle_telemetry"


class MeterTelemetry(PostgresPartitionedModel):
    """One smart meter reading: AC energy drawn from the grid in that interval (billing source)."""

    pk = models.CompositePrimaryKey("meter_id", "ts")
    meter_id = models.CharField(max_length=DEVICE_ID_MAX_LENGTH)
    ts = models.DateTimeField()
    kwh_consumed_ac = energy_field()
    voltage = models.FloatField()
    received_at = models.DateTimeField(db_default=Now())

    class PartitioningMeta:
        method = PostgresPartitioningMethod.RANGE
        key = ["ts"]

    class Meta:
        db_table = "meter_telemetry"


class CurrentVehicleStatus(models.Model):
    """The newest reading of each vehicle: operational reads never touch history."""

    vehicle = models.OneToOneField(
        Vehicle, primary_key=True, on_delete=models.CASCADE, related_name="status"
    )
    ts = models.DateTimeField()
    soc = models.FloatField()
    kwh_delivered_dc = energy_field()
    battery_temp = models.FloatField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "current_vehicle_status"
        verbose_name_plural = "current vehicle status"

    def __str__(self) -> str:
        return f"{self.vehicle_id} at {self.ts.isoformat()}"


class CurrentMeterStatus(models.Model):
    """The newest reading of each meter."""

    meter = models.OneToOneField(
        Meter, primary_key=True, on_delete=models.CASCADE, related_name="status"
    )
    ts = models.DateTimeField()
    kwh_consumed_ac = energy_field()
    voltage = models.FloatField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "current_meter_status"
        verbose_name_plural = "current meter status"

    def __str__(self) -> str:
        return f"{self.meter_id} at {self.ts.isoformat()}"


class VehicleHourly(models.Model):
    """Per vehicle and hour: DC energy, battery temperature sum and reading count.

    Maintained by ingestion in the same transaction as the history INSERT, from the rows that
    INSERT actually stored, so duplicates are never added twice and late readings land in their
    own hour. The fleet view reads these instead of scanning raw history.
    """

    pk = models.CompositePrimaryKey("vehicle_id", "hour")
    vehicle_id = models.CharField(max_length=DEVICE_ID_MAX_LENGTH)
    hour = models.DateTimeField()
    kwh_dc = models.DecimalField(max_digits=18, decimal_places=ENERGY_DECIMAL_PLACES)
    battery_temp_sum = models.FloatField()
    readings = models.IntegerField()

    class Meta:
        db_table = "vehicle_hourly"
        indexes = [
            # The fleet view sums every vehicle over a range of hours: an index-only scan on
            # hour instead of a walk of the whole (vehicle_id, hour) primary key.
            models.Index(
                fields=["hour"],
                include=["vehicle_id", "kwh_dc", "battery_temp_sum", "readings"],
                name="vehicle_hourly_hour_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.vehicle_id} {self.hour.isoformat()}"


class MeterHourly(models.Model):
    """Per meter and hour: AC energy and reading count (see VehicleHourly)."""

    pk = models.CompositePrimaryKey("meter_id", "hour")
    meter_id = models.CharField(max_length=DEVICE_ID_MAX_LENGTH)
    hour = models.DateTimeField()
    kwh_ac = models.DecimalField(max_digits=18, decimal_places=ENERGY_DECIMAL_PLACES)
    readings = models.IntegerField()

    class Meta:
        db_table = "meter_hourly"

    def __str__(self) -> str:
        return f"{self.meter_id} {self.hour.isoformat()}"
