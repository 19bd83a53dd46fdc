"""The per-vehicle statement reads roll-ups, and history only for partial hours, by key."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from pytest_django.fixtures import Settings

from analytics.queries import explain_routed_vehicle_totals, explain_vehicle_totals
from fleet.plumbing.citus import citus_installed
from fleet.registry.models import Meter, Vehicle
from fleet.registry.services.mappings import assign_meter
from telemetry import queries
from telemetry.partitions import HISTORY_MODELS, maintain_partitions
from telemetry.readings import MeterReading, VehicleReading
from telemetry.services import ingest_readings

pytestmark = pytest.mark.django_db(transaction=True)
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


@pytest.fixture
def history() -> Iterator[dict[str, int]]:
    """Ten days of 200 vehicles and meters, V0 fed by M0 and from 2026-02-18 20:17 by M1; the
    tables' sizes in pages.

    Each step commits on its own (a transactional test): on Citus one transaction cannot both
    write a reference table and run partition DDL. The partitions are dropped afterwards, as
    flushing the tables leaves them.
    """
    Vehicle.objects.bulk_create([Vehicle(id=f"V{d}") for d in range(200)])
    Meter.objects.bulk_create([Meter(id=f"M{d}") for d in range(200)])
    assign_meter(vehicle_id="V0", meter_id="M0", at=NOW - timedelta(days=20))
    assign_meter(vehicle_id="V0", meter_id="M1", at=datetime(2026, 2, 18, 20, 17, tzinfo=UTC))
    maintain_partitions(now=NOW, days_back=10, days_ahead=1, retention_days=None)
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
    yield relpages()
    for model in HISTORY_MODELS:
        for partition in queries.list_partitions(model._meta.db_table):
            if not partition.is_default:
                queries.drop_partition(partition.name)


def test_per_vehicle_plan_reads_rollups_and_history_only_for_the_partial_hours(
    history: dict[str, int],
) -> None:
    pages = history
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


def remote_nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    """The plan nodes a Citus router plan runs on its worker."""
    [task] = plan["Plan"]["Distributed Query"]["Job"]["Tasks"]
    found = []
    for remote in task["Remote Plan"]:
        found += nodes(remote[0]["Plan"])
    return found


@pytest.fixture
def routed(settings: Settings) -> None:
    # Only the routed ingest may follow partition DDL in one transaction on Citus: it writes the
    # registry only for new devices (and there are none), the one-statement form always does.
    settings.DB_LAYOUT = "distributed"


@pytest.mark.citus
def test_the_routed_per_vehicle_statements_each_read_one_device(
    routed: None, history: dict[str, int]
) -> None:
    # The re-map mid-window gives one statement per meter.
    start = datetime(2026, 2, 18, 6, 30, tzinfo=UTC)
    end = datetime(2026, 2, 19, 5, 30, tzinfo=UTC)
    plans = explain_routed_vehicle_totals("V0", start, end)
    assert list(plans) == ["dc", "ac M0", "ac M1"]
    for name, plan in plans.items():
        if citus_installed():
            # A router plan: one task on one worker, nothing pulled to the coordinator first.
            top = plan["Plan"]
            assert top["Custom Plan Provider"] == "Citus Adaptive", name
            assert top["Distributed Query"]["Job"]["Task Count"] == 1, name
            assert "Subplans" not in top["Distributed Query"], name
            scans = [n for n in remote_nodes(plan) if "Relation Name" in n]
        else:
            scans = [n for n in nodes(plan["Plan"]) if "Relation Name" in n]
        relations = {n["Relation Name"] for n in scans}
        side = "vehicle_" if name == "dc" else "meter_"
        assert relations and all(r.startswith(side) for r in relations), (name, relations)
        for scan in scans:
            assert scan["Node Type"] in ("Index Scan", "Index Only Scan", "Bitmap Heap Scan"), (
                name,
                scan["Relation Name"],
            )
