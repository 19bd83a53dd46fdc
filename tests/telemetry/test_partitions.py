import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from pytest_django.fixtures import Settings

from fleet.plumbing.citus import citus_installed
from telemetry import queries
from telemetry.models import MeterHourly, MeterTelemetry, VehicleHourly, VehicleTelemetry
from telemetry.partitions import maintain_partitions

pytestmark = [pytest.mark.django_db, pytest.mark.citus]
NOW = datetime(2026, 2, 10, 12, 30, tzinfo=UTC)
DAY = timedelta(days=1)


def day(n: int) -> datetime:
    return datetime(2026, 2, 10, tzinfo=UTC) + n * DAY


def ranges(table: str) -> list[tuple[str, datetime | None, datetime | None]]:
    return [(p.name, p.start, p.end) for p in queries.list_partitions(table)]


def add_vehicle_reading(vehicle_id: str, ts: datetime, kwh: str = "1.5") -> None:
    VehicleTelemetry.objects.create(
        vehicle_id=vehicle_id, ts=ts, soc=50.0, kwh_delivered_dc=Decimal(kwh), battery_temp=20.0
    )


def rows_by_partition(table: str) -> dict[str, int]:
    """Rows per partition. On Citus tableoid names the shard (vehicle_telemetry_default_102019),
    so the shard suffix is dropped and the shards of one partition add up."""
    counts: Counter[str] = Counter()
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT tableoid::regclass::text, count(*) FROM {table} GROUP BY 1")
        for name, count in cursor.fetchall():
            if citus_installed():
                name = re.sub(r"_\d+$", "", name)
            counts[name] += count
    return dict(counts)


def test_a_fresh_schema_has_only_the_default_partitions() -> None:
    assert ranges("vehicle_telemetry") == [("vehicle_telemetry_default", None, None)]
    assert ranges("meter_telemetry") == [("meter_telemetry_default", None, None)]


def test_daily_partitions_are_made_from_the_backfill_age_to_the_days_ahead() -> None:
    report = maintain_partitions(now=NOW, days_back=2, days_ahead=1, retention_days=None)
    expected = [
        (f"vehicle_telemetry_p202602{d:02d}", day(d - 10), day(d - 9)) for d in (8, 9, 10, 11)
    ] + [("vehicle_telemetry_default", None, None)]
    assert ranges("vehicle_telemetry") == expected
    assert len(ranges("meter_telemetry")) == 5
    assert len(report.created) == 8


def test_maintenance_is_idempotent() -> None:
    maintain_partitions(now=NOW, days_back=2, days_ahead=1, retention_days=None)
    again = maintain_partitions(now=NOW, days_back=2, days_ahead=1, retention_days=None)
    assert again.created == [] and again.moved == {} and again.dropped == []


def test_rows_in_the_default_partition_are_moved_into_their_own_partitions() -> None:
    add_vehicle_reading("VH1", day(0) + timedelta(hours=1))
    add_vehicle_reading("VH1", day(0) + timedelta(hours=2))
    add_vehicle_reading("VH2", day(1) - timedelta(microseconds=1))
    add_vehicle_reading("VH2", day(1))  # exactly on a boundary: belongs to the next day
    add_vehicle_reading("VH3", day(30))  # far outside the window: gets its own partition
    MeterTelemetry.objects.create(
        meter_id="MT1", ts=day(0), kwh_consumed_ac=Decimal("2.25"), voltage=230.0
    )
    before = (VehicleTelemetry.objects.count(), MeterTelemetry.objects.count())
    dc_before = sorted(VehicleTelemetry.objects.values_list("vehicle_id", "ts", "kwh_delivered_dc"))
    assert rows_by_partition("vehicle_telemetry") == {"vehicle_telemetry_default": 5}

    report = maintain_partitions(now=NOW, days_back=1, days_ahead=1, retention_days=None)

    assert (VehicleTelemetry.objects.count(), MeterTelemetry.objects.count()) == before
    assert (
        sorted(VehicleTelemetry.objects.values_list("vehicle_id", "ts", "kwh_delivered_dc"))
        == dc_before
    )
    assert rows_by_partition("vehicle_telemetry") == {
        "vehicle_telemetry_p20260210": 3,
        "vehicle_telemetry_p20260211": 1,
        "vehicle_telemetry_p20260312": 1,
    }
    assert rows_by_partition("meter_telemetry") == {"meter_telemetry_p20260210": 1}
    assert report.moved == {
        "vehicle_telemetry_p20260210": 3,
        "vehicle_telemetry_p20260211": 1,
        "vehicle_telemetry_p20260312": 1,
        "meter_telemetry_p20260210": 1,
    }


def store_vehicle_reading(ts: datetime) -> None:
    """Through the ingest statement itself, which runs as a prepared statement."""
    queries.store_readings(
        queries.VehicleColumns(["VH1"], [ts], [50.0], [Decimal("1.5")], [20.0]), None
    )


def test_the_prepared_ingest_statement_routes_to_partitions_created_after_it_was_planned() -> None:
    # Seven executions: past the five custom plans, so PostgreSQL has a generic plan cached.
    for minute in range(7):
        store_vehicle_reading(day(0) + timedelta(hours=1, minutes=minute))
    assert rows_by_partition("vehicle_telemetry") == {"vehicle_telemetry_default": 7}

    maintain_partitions(now=NOW, days_back=1, days_ahead=1, retention_days=None)
    store_vehicle_reading(day(0) + timedelta(hours=3))

    assert rows_by_partition("vehicle_telemetry") == {"vehicle_telemetry_p20260210": 8}


def test_retention_drops_only_partitions_that_ended_before_the_cutoff() -> None:
    maintain_partitions(now=NOW, days_back=5, days_ahead=0, retention_days=None)
    add_vehicle_reading("VH1", day(-5) + timedelta(hours=3))  # in a partition to be dropped
    add_vehicle_reading("VH1", day(-2) + timedelta(hours=3))  # kept

    report = maintain_partitions(now=NOW, days_back=5, days_ahead=0, retention_days=3)

    # cutoff = 2026-02-07 12:30: partitions ending on or before it go (the 5th and 6th).
    assert sorted(report.dropped) == [
        "meter_telemetry_p20260205",
        "meter_telemetry_p20260206",
        "vehicle_telemetry_p20260205",
        "vehicle_telemetry_p20260206",
    ]
    names = [name for name, _, _ in ranges("vehicle_telemetry")]
    assert names == [
        "vehicle_telemetry_p20260207",
        "vehicle_telemetry_p20260208",
        "vehicle_telemetry_p20260209",
        "vehicle_telemetry_p20260210",
        "vehicle_telemetry_default",
    ]
    assert list(VehicleTelemetry.objects.values_list("ts", flat=True)) == [
        day(-2) + timedelta(hours=3)
    ]


def test_retention_prunes_the_roll_ups_of_the_hours_it_dropped() -> None:
    maintain_partitions(now=NOW, days_back=5, days_ahead=0, retention_days=None)
    hours = [day(-5) + timedelta(hours=3), day(-3) - timedelta(hours=1), day(-3), day(-2)]
    for hour in hours:
        VehicleHourly.objects.create(
            vehicle_id="VH1", hour=hour, kwh_dc=Decimal("1.5"), battery_temp_sum=20.0, readings=1
        )
        MeterHourly.objects.create(meter_id="MT1", hour=hour, kwh_ac=Decimal("2"), readings=1)

    maintain_partitions(now=NOW, days_back=5, days_ahead=0, retention_days=3)

    # The 5th and 6th are dropped, so every hour before the 7th goes; the 7th's first hour stays.
    kept = [day(-3), day(-2)]
    assert list(VehicleHourly.objects.order_by("hour").values_list("hour", flat=True)) == kept
    assert list(MeterHourly.objects.order_by("hour").values_list("hour", flat=True)) == kept


def test_retention_is_off_by_default(settings: Settings) -> None:
    assert settings.TELEMETRY_RETENTION_DAYS is None
    maintain_partitions(now=NOW - 100 * DAY, days_back=0, days_ahead=0)
    report = maintain_partitions(now=NOW, days_back=0, days_ahead=0)
    assert report.dropped == []
    assert "vehicle_telemetry_p20251102" in [n for n, _, _ in ranges("vehicle_telemetry")]


def test_the_command_reports_what_it_did() -> None:
    out = StringIO()
    call_command("maintain_partitions", "--days-back", "0", "--days-ahead", "0", stdout=out)
    lines = out.getvalue().splitlines()
    assert lines[-1] == "partitions: 2 created, 0 rows moved out of DEFAULT, 0 dropped"
    assert any(line.startswith("created vehicle_telemetry_p") for line in lines)
