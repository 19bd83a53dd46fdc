"""The per-vehicle statement reads roll-ups, and history only for partial hours, by key."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from analytics.queries import explain_vehicle_totals
from fleet.registry.services.mappings import assign_meter
from telemetry.partitions import maintain_partitions
from telemetry.readings import MeterReading, VehicleReading
from telemetry.services import ingest_readings

pytestmark = pytest.mark.django_db
NOW = datetime(2026, 2, 20, 12, tzinfo=UTC)


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


def relpages() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, relpages FROM pg_class WHERE relkind = 'r'")
        return dict(cursor.fetchall())


def test_per_vehicle_plan_reads_rollups_and_history_only_for_the_partial_hours() -> None:
    maintain_partitions(now=NOW, days_back=10, days_ahead=1, retention_days=None)
    assign_meter(vehicle_id="V0", meter_id="M0", at=NOW - timedelta(days=20))
    # 10 days x 200 devices x 12 readings a day, so a sequential scan would be expensive.
    readings: list[VehicleReading | MeterReading] = []
    for day in range(10):
        for n in range(12):
            ts = NOW - timedelta(days=day, hours=2 * n)
            for d in range(200):
                readings.append(VehicleReading(f"V{d}", ts, 50.0, Decimal("1"), 20.0))
                readings.append(MeterReading(f"M{d}", ts, Decimal("1.1"), 230.0))
    for i in range(0, len(readings), 5000):
        ingest_readings(readings[i : i + 5000])
    with connection.cursor() as cursor:
        cursor.execute(
            "ANALYZE vehicle_telemetry; ANALYZE meter_telemetry; ANALYZE vehicle_meter_map; "
            "ANALYZE vehicle_hourly; ANALYZE meter_hourly"
        )
    pages = relpages()

    # Whole hours from the roll-ups; raw history only for 06:30-07:00 and 05:00-05:30, in the
    # partitions of those two ends, by primary key.
    start = datetime(2026, 2, 18, 6, 30, tzinfo=UTC)
    end = datetime(2026, 2, 19, 5, 30, tzinfo=UTC)
    plan = explain_vehicle_totals("V0", start, end)
    scans = [n for n in nodes(plan["Plan"]) if "Relation Name" in n]
    relations = {n["Relation Name"] for n in scans}
    assert {"vehicle_hourly", "meter_hourly"} <= relations
    assert {r for r in relations if "telemetry" in r} == {
        "vehicle_telemetry_p20260218",
        "vehicle_telemetry_p20260219",
        "meter_telemetry_p20260218",
        "meter_telemetry_p20260219",
    }
    for scan in scans:
        if scan["Node Type"] == "Seq Scan":
            assert pages[scan["Relation Name"]] <= 2, scan["Relation Name"]
    for scan in scans:
        if "telemetry" in scan["Relation Name"] or "hourly" in scan["Relation Name"]:
            assert scan["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan")

    # On whole hours the vehicle's own history is not read at all.
    plan = explain_vehicle_totals("V0", start.replace(minute=0), end.replace(minute=0))
    relations = {n["Relation Name"] for n in nodes(plan["Plan"]) if "Relation Name" in n}
    assert not {r for r in relations if r.startswith("vehicle_telemetry")}
