"""Raw SQL of the telemetry app: one typed function per statement.

Identifiers come from the models' db_table through psycopg.sql; values are always bound, except
partition bounds, which DDL cannot bind and which go in as sql.Literal (quoted by psycopg).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection, models
from psycopg import sql

from telemetry.models import (
    CurrentMeterStatus,
    CurrentVehicleStatus,
    MeterHourly,
    MeterTelemetry,
    VehicleHourly,
    VehicleTelemetry,
)

_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the DEFAULT partition
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


def _parse_timestamp(text: str) -> datetime:
    # pg_get_expr renders timestamptz in the session's TimeZone, which Django sets to UTC.
    text = text.replace(" ", "T")
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return datetime.fromisoformat(text)


def list_partitions(table: str) -> list[Partition]:
    """Partitions of `table` with their ranges, as the catalog records them."""
    query = """
        SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
        FROM pg_inherits
        JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        JOIN pg_namespace ns ON ns.oid = parent.relnamespace
        WHERE parent.relname = %s AND ns.nspname = current_schema()
        ORDER BY child.relname
    """
    partitions = []
    with connection.cursor() as cursor:
        cursor.execute(query, [table])
        for name, bound in cursor.fetchall():
            match = _BOUND.search(bound)
            if match:
                start, end = (_parse_timestamp(g) for g in match.groups())
                partitions.append(Partition(name, start, end))
            else:
                partitions.append(Partition(name, None, None))
    ranged = sorted((p for p in partitions if not p.is_default), key=lambda p: p.start)
    return ranged + [p for p in partitions if p.is_default]  # in time order, DEFAULT last


def create_partition(table: str, name: str, start: datetime, end: datetime) -> None:
    query = sql.SQL(
        "CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({s}) TO ({e})"
    ).format(
        name=sql.Identifier(name),
        table=sql.Identifier(table),
        s=sql.Literal(start),
        e=sql.Literal(end),
    )
    with connection.cursor() as cursor:
        cursor.execute(query)


def drop_partition(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE {name}").format(name=sql.Identifier(name)))


def lock_table_exclusively(table: str) -> None:
    """Hold off writers while rows move out of the DEFAULT partition.

    Creating a partition takes this lock on the parent anyway; taking it first means no reading
    can land in DEFAULT between moving its rows out and creating the partition that covers them.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE").format(
                table=sql.Identifier(table)
            )
        )


def default_partition_starts(
    default_partition: str, size: timedelta, origin: datetime
) -> list[datetime]:
    """Start of every partition-sized range that has rows sitting in the DEFAULT partition."""
    query = sql.SQL(
        "SELECT DISTINCT date_bin(%s, ts, %s) AS start FROM {default} ORDER BY start"
    ).format(default=sql.Identifier(default_partition))
    with connection.cursor() as cursor:
        cursor.execute(query, [size, origin])
        return [row[0] for row in cursor.fetchall()]


def stash_default_rows(default_partition: str, start: datetime, end: datetime) -> int:
    """Move DEFAULT rows in [start, end) into a transaction-scoped temp table; returns the count."""
    query = sql.SQL(
        "CREATE TEMP TABLE partition_move ON COMMIT DROP AS "
        "WITH moved AS (DELETE FROM {default} WHERE ts >= %s AND ts < %s RETURNING *) "
        "SELECT * FROM moved"
    ).format(default=sql.Identifier(default_partition))
    with connection.cursor() as cursor:
        cursor.execute(query, [start, end])
        cursor.execute("SELECT count(*) FROM partition_move")
        count = int(cursor.fetchone()[0])
        if not count:
            # Dropped now rather than at COMMIT: the caller's transaction may go on (tests).
            cursor.execute("DROP TABLE partition_move")
        return count


def restore_stashed_rows(table: str) -> int:
    """Insert the stashed rows through the parent (so they route to the new partition)."""
    query = sql.SQL(
        "WITH ins AS (INSERT INTO {table} SELECT * FROM partition_move RETURNING 1) "
        "SELECT count(*) FROM ins"
    ).format(table=sql.Identifier(table))
    with connection.cursor() as cursor:
        cursor.execute(query)
        count = int(cursor.fetchone()[0])
        cursor.execute("DROP TABLE partition_move")
        return count


# --- ingestion -------------------------------------------------------------------------------
# Each statement ships a whole batch as parallel arrays through unnest(): one round trip per
# statement however many readings. Rows are ordered by key in the SELECT, so two concurrent
# batches take their index and row locks in the same order and cannot deadlock.


def _t(model: type[models.Model]) -> sql.Identifier:
    return sql.Identifier(model._meta.db_table)


def insert_vehicle_history(
    vehicle_ids: list[str],
    tss: list[datetime],
    socs: list[float],
    kwhs: list[Decimal],
    temps: list[float],
) -> set[tuple[str, datetime]]:
    """Append readings; returns the keys actually stored (a stored key is a duplicate).

    Counted with RETURNING, not rowcount: on Citus rowcount of INSERT ... SELECT reports the
    source rows.
    """
    query = sql.SQL(
        "INSERT INTO {table} (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp) "
        "SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::float8[], %s::numeric[], "
        "%s::float8[]) ORDER BY 1, 2 "
        "ON CONFLICT (vehicle_id, ts) DO NOTHING RETURNING vehicle_id, ts"
    ).format(table=_t(VehicleTelemetry))
    with connection.cursor() as cursor:
        cursor.execute(query, [vehicle_ids, tss, socs, kwhs, temps])
        return set(cursor.fetchall())


def insert_meter_history(
    meter_ids: list[str], tss: list[datetime], kwhs: list[Decimal], voltages: list[float]
) -> set[tuple[str, datetime]]:
    """Append readings; returns the keys actually stored (see insert_vehicle_history)."""
    query = sql.SQL(
        "INSERT INTO {table} (meter_id, ts, kwh_consumed_ac, voltage) "
        "SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::numeric[], %s::float8[]) "
        "ORDER BY 1, 2 "
        "ON CONFLICT (meter_id, ts) DO NOTHING RETURNING meter_id, ts"
    ).format(table=_t(MeterTelemetry))
    with connection.cursor() as cursor:
        cursor.execute(query, [meter_ids, tss, kwhs, voltages])
        return set(cursor.fetchall())


def upsert_vehicle_status(
    vehicle_ids: list[str],
    tss: list[datetime],
    socs: list[float],
    kwhs: list[Decimal],
    temps: list[float],
) -> None:
    """Move each vehicle's hot row forward to its newest reading; never backwards.

    The input must hold one row per vehicle (ON CONFLICT DO UPDATE cannot touch a row twice in
    one statement). The WHERE guard makes a late reading a no-op.
    """
    query = sql.SQL(
        "INSERT INTO {table} AS cur "
        "(vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, updated_at) "
        "SELECT *, now() FROM unnest(%s::text[], %s::timestamptz[], %s::float8[], "
        "%s::numeric[], %s::float8[]) ORDER BY 1 "
        "ON CONFLICT (vehicle_id) DO UPDATE SET ts = EXCLUDED.ts, soc = EXCLUDED.soc, "
        "kwh_delivered_dc = EXCLUDED.kwh_delivered_dc, battery_temp = EXCLUDED.battery_temp, "
        "updated_at = EXCLUDED.updated_at "
        "WHERE cur.ts < EXCLUDED.ts"
    ).format(table=_t(CurrentVehicleStatus))
    with connection.cursor() as cursor:
        cursor.execute(query, [vehicle_ids, tss, socs, kwhs, temps])


def upsert_meter_status(
    meter_ids: list[str], tss: list[datetime], kwhs: list[Decimal], voltages: list[float]
) -> None:
    """Move each meter's hot row forward (see upsert_vehicle_status)."""
    query = sql.SQL(
        "INSERT INTO {table} AS cur (meter_id, ts, kwh_consumed_ac, voltage, updated_at) "
        "SELECT *, now() FROM unnest(%s::text[], %s::timestamptz[], %s::numeric[], "
        "%s::float8[]) ORDER BY 1 "
        "ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts, "
        "kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage, "
        "updated_at = EXCLUDED.updated_at "
        "WHERE cur.ts < EXCLUDED.ts"
    ).format(table=_t(CurrentMeterStatus))
    with connection.cursor() as cursor:
        cursor.execute(query, [meter_ids, tss, kwhs, voltages])


def add_vehicle_hourly(
    vehicle_ids: list[str],
    hours: list[datetime],
    kwhs: list[Decimal],
    temp_sums: list[float],
    counts: list[int],
) -> None:
    """Add newly stored readings to their hour's roll-up (one row per (vehicle, hour) in)."""
    query = sql.SQL(
        "INSERT INTO {table} AS h (vehicle_id, hour, kwh_dc, battery_temp_sum, readings) "
        "SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::numeric[], %s::float8[], "
        "%s::int[]) ORDER BY 1, 2 "
        "ON CONFLICT (vehicle_id, hour) DO UPDATE SET kwh_dc = h.kwh_dc + EXCLUDED.kwh_dc, "
        "battery_temp_sum = h.battery_temp_sum + EXCLUDED.battery_temp_sum, "
        "readings = h.readings + EXCLUDED.readings"
    ).format(table=_t(VehicleHourly))
    with connection.cursor() as cursor:
        cursor.execute(query, [vehicle_ids, hours, kwhs, temp_sums, counts])


def add_meter_hourly(
    meter_ids: list[str], hours: list[datetime], kwhs: list[Decimal], counts: list[int]
) -> None:
    """Add newly stored readings to their hour's roll-up (see add_vehicle_hourly)."""
    query = sql.SQL(
        "INSERT INTO {table} AS h (meter_id, hour, kwh_ac, readings) "
        "SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::numeric[], %s::int[]) "
        "ORDER BY 1, 2 "
        "ON CONFLICT (meter_id, hour) DO UPDATE SET kwh_ac = h.kwh_ac + EXCLUDED.kwh_ac, "
        "readings = h.readings + EXCLUDED.readings"
    ).format(table=_t(MeterHourly))
    with connection.cursor() as cursor:
        cursor.execute(query, [meter_ids, hours, kwhs, counts])
