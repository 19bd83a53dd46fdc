"""The one-statement ingest runs its sub-statements in the order its lock-order comment states.

PostgreSQL documents the order in which the data-modifying sub-statements of one statement run
as unpredictable, and two concurrent batches that took their locks in different orders could
deadlock. So this test watches the order itself: a BEFORE STATEMENT trigger on every table the
statement writes logs when that table's INSERT starts. If a PostgreSQL upgrade (or an edit to
the statement) changes the order, this fails, not a busy production database.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import connection

from telemetry import queries
from telemetry.readings import MeterReading, VehicleReading

pytestmark = pytest.mark.django_db
TS = datetime(2026, 2, 10, 12, 0, tzinfo=UTC)

# The order telemetry.queries documents: devices, then each kind's history, status, roll-ups.
EXPECTED = [
    "fleet_vehicle",
    "fleet_meter",
    "vehicle_telemetry",
    "current_vehicle_status",
    "vehicle_hourly",
    "meter_telemetry",
    "current_meter_status",
    "meter_hourly",
]


@pytest.fixture
def statement_log() -> list[str]:
    """Install the logging triggers (rolled back with the test's transaction)."""
    with connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE ingest_order (n serial, tab text)")
        cursor.execute(
            "CREATE FUNCTION pg_temp.log_ingest_order() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN INSERT INTO ingest_order (tab) VALUES (TG_TABLE_NAME); RETURN NULL; END $$"
        )
        for table in EXPECTED:
            cursor.execute(
                f"CREATE TRIGGER log_order BEFORE INSERT ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION pg_temp.log_ingest_order()"
            )
    return EXPECTED


def logged() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tab FROM ingest_order ORDER BY n")
        return [row[0] for row in cursor.fetchall()]


def test_the_sub_statements_run_in_the_documented_lock_order(statement_log: list[str]) -> None:
    vehicles = queries.VehicleColumns.of([VehicleReading("VH1", TS, 50.0, Decimal("1.5"), 20.0)])
    meters = queries.MeterColumns.of([MeterReading("MT1", TS, Decimal("1.7"), 230.0)])
    assert queries.store_readings(vehicles, meters) == (1, 1)
    assert logged() == statement_log


def test_a_batch_of_one_kind_keeps_the_same_order_for_that_kind(
    statement_log: list[str],
) -> None:
    meters = queries.MeterColumns.of([MeterReading("MT1", TS, Decimal("1.7"), 230.0)])
    assert queries.store_readings(None, meters) == (0, 1)
    assert logged() == [
        t for t in statement_log if t == "fleet_meter" or t.startswith(("meter_", "current_meter"))
    ]
