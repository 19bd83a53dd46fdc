"""Per-vehicle totals come from roll-ups plus the raw partial hours: they must equal the sums
of the raw readings for any window, across re-maps, late readings and duplicates."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from django.db import connection

from analytics.queries import vehicle_totals
from fleet.registry.services.mappings import assign_meter, unassign_meter
from telemetry.readings import MeterReading, VehicleReading
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
M = timedelta(minutes=1)


def raw_totals(vehicle_id: str, start: datetime, end: datetime) -> tuple:
    """The sums straight from history: DC of the vehicle, AC of each meter while mapped."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(kwh_delivered_dc), 0), count(*), avg(battery_temp) "
            "FROM vehicle_telemetry WHERE vehicle_id = %s AND ts >= %s AND ts < %s",
            [vehicle_id, start, end],
        )
        dc_kwh, dc_n, temp = cursor.fetchone()
        cursor.execute(
            "SELECT coalesce(sum(t.kwh_consumed_ac), 0), count(*) FROM vehicle_meter_map m "
            "JOIN meter_telemetry t ON t.meter_id = m.meter_id AND t.ts >= m.valid_from "
            "AND (m.valid_to IS NULL OR t.ts < m.valid_to) "
            "WHERE m.vehicle_id = %s AND t.ts >= %s AND t.ts < %s",
            [vehicle_id, start, end],
        )
        ac_kwh, ac_n = cursor.fetchone()
    return dc_kwh, dc_n, temp, ac_kwh, ac_n


def test_rollup_totals_equal_raw_sums_for_any_window(store: Store) -> None:
    rng = random.Random(11)
    assign_meter(vehicle_id="V1", meter_id="M1", at=T0 - timedelta(days=1))
    assign_meter(vehicle_id="V2", meter_id="M2", at=T0 - timedelta(days=1))
    # Mid-hour re-maps: M1 moves to V2 at 04:17, V1 gets M3 at 04:17 and loses it at 09:41.
    assign_meter(vehicle_id="V2", meter_id="M1", at=T0 + 4 * 60 * M + 17 * M)
    assign_meter(vehicle_id="V1", meter_id="M3", at=T0 + 4 * 60 * M + 17 * M)
    unassign_meter(vehicle_id="V1", at=T0 + 9 * 60 * M + 41 * M)

    def batch(minutes: range) -> list[VehicleReading | MeterReading]:
        readings: list[VehicleReading | MeterReading] = []
        for m in minutes:
            ts = T0 + m * M
            for v in ("V1", "V2"):
                kwh = f"{rng.randrange(1, 500) / 1000:.3f}"
                readings.append(dc(v, ts, kwh, temp=rng.choice([18.3, 21.7, 25.05, 30.1])))
            for meter in ("M1", "M2", "M3"):
                readings.append(ac(meter, ts, f"{rng.randrange(1, 600) / 997:.6f}"))
        return readings

    store(*batch(range(0, 12 * 60, 3)))
    store(*batch(range(1, 12 * 60, 11)))  # late readings into old hours
    store(*batch(range(0, 12 * 60, 9)))  # duplicates: not stored again

    with_ac = 0
    for _ in range(60):
        start = T0 + rng.randrange(-90, 12 * 60) * M + timedelta(seconds=rng.randrange(60))
        end = start + rng.choice([1, 7, 59, 60, 61, 120, 300, 900]) * M
        if rng.random() < 0.3:
            start = start.replace(minute=0, second=0)
        for vehicle_id in ("V1", "V2"):
            got = vehicle_totals(vehicle_id, start, end)
            dc_kwh, dc_n, temp, ac_kwh, ac_n = raw_totals(vehicle_id, start, end)
            window = (vehicle_id, start, end)
            assert (got.dc.kwh, got.dc.readings) == (dc_kwh, dc_n), window
            assert (got.ac.kwh, got.ac.readings) == (ac_kwh, ac_n), window
            if temp is None:
                assert got.dc.avg_battery_temp is None, window
            else:  # a float average: summed in another order, equal to rounding
                assert abs(got.dc.avg_battery_temp - temp) < 1e-9, window
            assert isinstance(got.dc.kwh, Decimal)
            with_ac += ac_n > 0
    assert with_ac > 40  # most windows have readings on both sides
