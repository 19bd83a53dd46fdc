"""Raw SQL of the telemetry app: one typed function per statement.

Identifiers come from the models' db_table through psycopg.sql; values are always bound, except
partition bounds, which DDL cannot bind and which go in as sql.Literal (quoted by psycopg).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from django.db import connection, models
from psycopg import sql

from fleet.plumbing.db import fetch_all_bound, fetch_one_prepared
from fleet.plumbing.sql import identifier
from fleet.registry.models import Meter, Vehicle
from telemetry.models import (
    CurrentMeterStatus,
    CurrentVehicleStatus,
    MeterHourly,
    MeterTelemetry,
    VehicleHourly,
    VehicleTelemetry,
)
from telemetry.readings import MeterReading, VehicleReading

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
    starts = {p.name: p.start for p in partitions if p.start is not None}
    ranged = sorted((p for p in partitions if p.name in starts), key=lambda p: starts[p.name])
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


def delete_rollups_before(rollup: type[models.Model], end: datetime) -> int:
    """Delete the hourly roll-ups of hours that end by `end` (their raw rows are gone)."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DELETE FROM {t} WHERE hour <= %(last)s").format(t=identifier(rollup)),
            {"last": end - timedelta(hours=1)},
        )
        return cursor.rowcount


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
        "SELECT DISTINCT date_bin(%(size)s, ts, %(origin)s) AS start FROM {default} ORDER BY start"
    ).format(default=sql.Identifier(default_partition))
    with connection.cursor() as cursor:
        params: dict[str, Any] = {"size": size, "origin": origin}
        cursor.execute(query, params)
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
# A whole batch is ONE statement: the readings as one JSON parameter per kind, and
# data-modifying CTEs for device registration, the history INSERT, the hot-status UPSERT and
# the hourly roll-ups. One statement is one round trip and, in autocommit, its own transaction:
# a single-reading request used to make six (BEGIN, four statements, COMMIT), each costing
# both processes a wake-up on a busy machine. Status and roll-ups are computed from the
# INSERT's RETURNING, i.e. from the rows actually stored, so duplicates and late readings count
# once.
#
# Lock order: rows are ordered by key inside each sub-statement, and the sub-statements run one
# after another in a fixed order (vehicle devices, meter devices, vehicle history, status,
# roll-ups, then the meter ones), so two concurrent batches take their index and row locks in
# the same order and cannot deadlock. PostgreSQL documents the order in which data-modifying
# sub-statements run as unpredictable; ours rests on how its executor behaves: each CTE runs
# when it is first read, and the final SELECT reads them through scalar subqueries evaluated
# left to right (_store_order). An implementation detail, so a test watches it:
# tests/telemetry/test_ingest_statement_order.py logs each table's INSERT as it starts (BEFORE
# STATEMENT triggers) and fails if the order ever changes; tests/telemetry/test_concurrency.py
# shuffles overlapping batches across threads and fails on a deadlock.


@dataclass(frozen=True)
class VehicleColumns:
    """Vehicle readings as parallel arrays, one per (vehicle_id, ts), sorted by that key."""

    vehicle_ids: list[str]
    tss: list[datetime]
    socs: list[float]
    kwhs: list[Decimal]
    temps: list[float]

    @classmethod
    def of(cls, readings: Sequence[VehicleReading]) -> VehicleColumns | None:
        if not readings:
            return None
        return cls(
            [r.vehicle_id for r in readings],
            [r.ts for r in readings],
            [r.soc for r in readings],
            [r.kwh_delivered_dc for r in readings],
            [r.battery_temp for r in readings],
        )


@dataclass(frozen=True)
class MeterColumns:
    """Meter readings as parallel arrays, one per (meter_id, ts), sorted by that key."""

    meter_ids: list[str]
    tss: list[datetime]
    kwhs: list[Decimal]
    voltages: list[float]

    @classmethod
    def of(cls, readings: Sequence[MeterReading]) -> MeterColumns | None:
        if not readings:
            return None
        return cls(
            [r.meter_id for r in readings],
            [r.ts for r in readings],
            [r.kwh_consumed_ac for r in readings],
            [r.voltage for r in readings],
        )


_VEHICLE_CTES = """
    v_in AS (
        SELECT r->>0 AS vehicle_id, (r->>1)::timestamptz AS ts, (r->>2)::float8 AS soc,
            (r->>3)::numeric AS kwh, (r->>4)::float8 AS temp
        FROM jsonb_array_elements(%(vehicles)s::jsonb) AS r
    ),
    v_dev AS (
        INSERT INTO {vehicle} (id, name, created_at)
        SELECT DISTINCT vehicle_id, '', now() FROM v_in ORDER BY 1
        ON CONFLICT (id) DO NOTHING RETURNING 1
    ),
    v_hist AS (
        INSERT INTO {vt} (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp)
        SELECT * FROM v_in ORDER BY 1, 2
        ON CONFLICT (vehicle_id, ts) DO NOTHING
        RETURNING vehicle_id, ts, soc, kwh_delivered_dc, battery_temp
    ),
    -- The newest stored reading per vehicle; the WHERE guard makes a late one a no-op.
    v_status AS (
        INSERT INTO {vs} AS cur
            (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, updated_at)
        SELECT DISTINCT ON (vehicle_id) vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, now()
        FROM v_hist ORDER BY vehicle_id, ts DESC
        ON CONFLICT (vehicle_id) DO UPDATE SET ts = EXCLUDED.ts, soc = EXCLUDED.soc,
            kwh_delivered_dc = EXCLUDED.kwh_delivered_dc, battery_temp = EXCLUDED.battery_temp,
            updated_at = EXCLUDED.updated_at
        WHERE cur.ts < EXCLUDED.ts
        RETURNING 1
    ),
    v_hourly AS (
        INSERT INTO {vh} AS h (vehicle_id, hour, kwh_dc, battery_temp_sum, readings)
        SELECT vehicle_id, date_trunc('hour', ts, 'UTC'), sum(kwh_delivered_dc),
            sum(battery_temp), count(*)
        FROM v_hist GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (vehicle_id, hour) DO UPDATE SET kwh_dc = h.kwh_dc + EXCLUDED.kwh_dc,
            battery_temp_sum = h.battery_temp_sum + EXCLUDED.battery_temp_sum,
            readings = h.readings + EXCLUDED.readings
        RETURNING 1
    )
"""

_METER_CTES = """
    m_in AS (
        SELECT r->>0 AS meter_id, (r->>1)::timestamptz AS ts, (r->>2)::numeric AS kwh,
            (r->>3)::float8 AS voltage
        FROM jsonb_array_elements(%(meters)s::jsonb) AS r
    ),
    m_dev AS (
        INSERT INTO {meter} (id, name, created_at)
        SELECT DISTINCT meter_id, '', now() FROM m_in ORDER BY 1
        ON CONFLICT (id) DO NOTHING RETURNING 1
    ),
    m_hist AS (
        INSERT INTO {mt} (meter_id, ts, kwh_consumed_ac, voltage)
        SELECT * FROM m_in ORDER BY 1, 2
        ON CONFLICT (meter_id, ts) DO NOTHING
        RETURNING meter_id, ts, kwh_consumed_ac, voltage
    ),
    m_status AS (
        INSERT INTO {ms} AS cur (meter_id, ts, kwh_consumed_ac, voltage, updated_at)
        SELECT DISTINCT ON (meter_id) meter_id, ts, kwh_consumed_ac, voltage, now()
        FROM m_hist ORDER BY meter_id, ts DESC
        ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts,
            kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage,
            updated_at = EXCLUDED.updated_at
        WHERE cur.ts < EXCLUDED.ts
        RETURNING 1
    ),
    m_hourly AS (
        INSERT INTO {mh} AS h (meter_id, hour, kwh_ac, readings)
        SELECT meter_id, date_trunc('hour', ts, 'UTC'), sum(kwh_consumed_ac), count(*)
        FROM m_hist GROUP BY 1, 2 ORDER BY 1, 2
        ON CONFLICT (meter_id, hour) DO UPDATE SET kwh_ac = h.kwh_ac + EXCLUDED.kwh_ac,
            readings = h.readings + EXCLUDED.readings
        RETURNING 1
    )
"""


def _json_rows(*columns: list[Any]) -> str:
    """Rows as one JSON array of arrays, the statement's only parameter per kind.

    One string is cheap to bind, where psycopg's client-side adaptation of five Python lists
    cost about 20 us a reading (most of a batch's CPU after validation). Nothing is lost on the
    way: decimals travel as strings and are cast to numeric; a float's JSON form is its shortest
    round-tripping decimal, which float8 reads back to the same double; timestamps are ISO 8601
    with their offset.
    """
    return orjson.dumps(list(zip(*columns, strict=True)), default=str).decode()


def _store_order(vehicles: bool, meters: bool) -> list[str]:
    """The sub-statements in the order they run: devices, then each kind's history, status
    and roll-ups (vehicles before meters)."""
    kinds = [k for k, present in (("v", vehicles), ("m", meters)) if present]
    order = [f"{k}_dev" for k in kinds]
    for k in kinds:
        order += [f"{k}_hist", f"{k}_status", f"{k}_hourly"]
    return order


@functools.cache
def _store_statement(vehicles: bool, meters: bool) -> str:
    """The statement for a batch of vehicle and/or meter readings, rendered once per shape (a
    Composed would be walked and its identifiers quoted again on every execute)."""
    ctes = [text for text, present in ((_VEHICLE_CTES, vehicles), (_METER_CTES, meters)) if present]
    counts = [f"(SELECT count(*) FROM {name})" for name in _store_order(vehicles, meters)]
    return (
        sql.SQL("WITH " + ",".join(ctes) + "SELECT " + ", ".join(counts))
        .format(
            vehicle=identifier(Vehicle),
            meter=identifier(Meter),
            vt=identifier(VehicleTelemetry),
            mt=identifier(MeterTelemetry),
            vs=identifier(CurrentVehicleStatus),
            ms=identifier(CurrentMeterStatus),
            vh=identifier(VehicleHourly),
            mh=identifier(MeterHourly),
        )
        .as_string()
    )


def store_readings(vehicles: VehicleColumns | None, meters: MeterColumns | None) -> tuple[int, int]:
    """Register devices, append history, move hot status forward and add the roll-ups, all in
    one statement; returns how many vehicle and meter readings were stored (the rest were
    duplicates).

    The final SELECT's uncorrelated scalar subqueries run left to right, which fixes the order
    of the sub-statements (see the lock-order note above, and the test that guards it). Counted
    with RETURNING, not rowcount: on Citus rowcount of INSERT ... SELECT reports the source rows.
    """
    if vehicles is None and meters is None:
        return 0, 0
    params: dict[str, str] = {}
    if vehicles is not None:
        params["vehicles"] = _json_rows(
            vehicles.vehicle_ids, vehicles.tss, vehicles.socs, vehicles.kwhs, vehicles.temps
        )
    if meters is not None:
        params["meters"] = _json_rows(meters.meter_ids, meters.tss, meters.kwhs, meters.voltages)
    shape = (vehicles is not None, meters is not None)
    row = fetch_one_prepared(_store_statement(*shape), params)
    assert row is not None  # the final SELECT always returns its one row of counts
    counts = dict(zip(_store_order(*shape), row, strict=True))
    return int(counts.get("v_hist", 0)), int(counts.get("m_hist", 0))


# --- ingestion, shard-routed form --------------------------------------------------------------
# On Citus the one statement above is slow: each data-modifying CTE is an INSERT ... SELECT that
# the coordinator runs as a subplan, pulling rows back and pushing them out again (a 500-reading
# batch made 18 subplans and 196 shard INSERTs over 32 connections). Here every table gets one
# multi-row INSERT ... VALUES, which Citus splits by shard and sends straight to the workers that
# hold them; status and roll-ups are computed (telemetry.services) from the history INSERT's
# RETURNING, so still from the rows actually stored. The statements run in a fixed order (vehicle
# history, status, roll-ups, then the meter ones), each with its rows in key order.
#
# Sequential shard mode, set for the transaction by the first statement: Citus then sends a
# statement's shard tasks one after another over one connection per worker, in shard order, so
# two concurrent batches take their row locks in one global order (statement, shard, key) and
# cannot deadlock across workers, which parallel mode (each shard's task on its own connection,
# at the same time) allows. It also keeps a batch to one connection and one prepared transaction
# per worker. On plain PostgreSQL the setting is an inert placeholder.

ShardRows = list[tuple[Any, ...]]


@functools.lru_cache(maxsize=256)
def _values_statement(template: str, row: str, rows: int) -> str:
    """`template` with {values} replaced by `rows` copies of the row, its `%s` markers numbered
    $1, $2, ... across the rows (fetch_all_bound sends the text as it is: parsing a few
    thousand `%s` out of the text cost more client CPU than the rest of the batch)."""
    pieces = row.split("%s")
    rendered = []
    number = 0
    for _ in range(rows):
        text = pieces[0]
        for piece in pieces[1:]:
            number += 1
            text += f"${number}{piece}"
        rendered.append(text)
    return template.replace("{values}", ",".join(rendered))


@functools.cache
def _render(statement: str, **tables: type[models.Model]) -> str:
    return (
        sql.SQL(statement)
        .format(**{name: identifier(model) for name, model in tables.items()})
        .as_string()
    )


@functools.cache
def _known_devices_statement() -> str:
    return _render(
        "SELECT set_config('citus.multi_shard_modify_mode', 'sequential', true), "
        "ARRAY(SELECT id FROM {vehicle} WHERE id = ANY($1)), "
        "ARRAY(SELECT id FROM {meter} WHERE id = ANY($2))",
        vehicle=Vehicle,
        meter=Meter,
    )


def begin_routed_batch(vehicle_ids: list[str], meter_ids: list[str]) -> tuple[set[str], set[str]]:
    """Put the transaction in sequential shard mode and return which of the given vehicles and
    meters are registered already (one round trip; the registry is a reference table, read on
    the coordinator)."""
    [(_, vehicles, meters)] = fetch_all_bound(
        _known_devices_statement(), [vehicle_ids, meter_ids], prepare=True
    )
    return set(vehicles), set(meters)


def register_devices(model: type[Vehicle] | type[Meter], ids: list[str]) -> None:
    """Register devices seen for the first time (sorted ids: concurrent batches lock in order).

    Only new devices are written: a write to a reference table goes to every node and makes
    Citus run the rest of the transaction sequentially, which is right for a device's first
    reading and would be a waste on every batch.
    """
    template = _render(
        "INSERT INTO {table} (id, name, created_at) VALUES {{values}} ON CONFLICT (id) DO NOTHING",
        table=model,
    )
    _insert_values(template, "(%s, '', now())", [(device_id,) for device_id in sorted(ids)])


def _insert_values(template: str, row: str, rows: Sequence[Sequence[Any]]) -> ShardRows:
    """Run `template` with its {values} as one `row` per item of rows. A single row (a
    single-reading request) has one statement text per table, so it is prepared: Citus then
    keeps a fast-path router plan instead of planning each request anew."""
    statement = _values_statement(template, row, len(rows))
    values = [value for item in rows for value in item]
    return fetch_all_bound(statement, values, prepare=len(rows) == 1)


def insert_vehicle_history(columns: VehicleColumns) -> ShardRows:
    """History INSERT; returns the stored rows (vehicle_id, ts, soc, kwh, temp), duplicates left
    out, in no particular order."""
    template = _render(
        "INSERT INTO {vt} (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp) VALUES {{values}} "
        "ON CONFLICT (vehicle_id, ts) DO NOTHING "
        "RETURNING vehicle_id, ts, soc, kwh_delivered_dc, battery_temp",
        vt=VehicleTelemetry,
    )
    rows = list(
        zip(
            columns.vehicle_ids, columns.tss, columns.socs, columns.kwhs, columns.temps, strict=True
        )
    )
    return _insert_values(template, "(%s, %s, %s, %s, %s)", rows)


def upsert_vehicle_status(newest: ShardRows) -> None:
    """Move each vehicle's hot status to its newest stored reading; never backwards."""
    template = _render(
        "INSERT INTO {vs} AS cur (vehicle_id, ts, soc, kwh_delivered_dc, battery_temp, updated_at) "
        "VALUES {{values}} ON CONFLICT (vehicle_id) DO UPDATE SET ts = EXCLUDED.ts, "
        "soc = EXCLUDED.soc, kwh_delivered_dc = EXCLUDED.kwh_delivered_dc, "
        "battery_temp = EXCLUDED.battery_temp, updated_at = EXCLUDED.updated_at "
        "WHERE cur.ts < EXCLUDED.ts",
        vs=CurrentVehicleStatus,
    )
    _insert_values(template, "(%s, %s, %s, %s, %s, now())", newest)


def add_vehicle_hourly(hours: ShardRows) -> None:
    """Add (vehicle_id, hour, kwh, temperature sum, readings) to the hourly roll-ups."""
    template = _render(
        "INSERT INTO {vh} AS h (vehicle_id, hour, kwh_dc, battery_temp_sum, readings) "
        "VALUES {{values}} ON CONFLICT (vehicle_id, hour) DO UPDATE SET "
        "kwh_dc = h.kwh_dc + EXCLUDED.kwh_dc, "
        "battery_temp_sum = h.battery_temp_sum + EXCLUDED.battery_temp_sum, "
        "readings = h.readings + EXCLUDED.readings",
        vh=VehicleHourly,
    )
    _insert_values(template, "(%s, %s, %s, %s, %s)", hours)


def insert_meter_history(columns: MeterColumns) -> ShardRows:
    """History INSERT; returns the stored rows (meter_id, ts, kwh, voltage)."""
    template = _render(
        "INSERT INTO {mt} (meter_id, ts, kwh_consumed_ac, voltage) VALUES {{values}} "
        "ON CONFLICT (meter_id, ts) DO NOTHING RETURNING meter_id, ts, kwh_consumed_ac, voltage",
        mt=MeterTelemetry,
    )
    rows = list(zip(columns.meter_ids, columns.tss, columns.kwhs, columns.voltages, strict=True))
    return _insert_values(template, "(%s, %s, %s, %s)", rows)


def upsert_meter_status(newest: ShardRows) -> None:
    template = _render(
        "INSERT INTO {ms} AS cur (meter_id, ts, kwh_consumed_ac, voltage, updated_at) "
        "VALUES {{values}} ON CONFLICT (meter_id) DO UPDATE SET ts = EXCLUDED.ts, "
        "kwh_consumed_ac = EXCLUDED.kwh_consumed_ac, voltage = EXCLUDED.voltage, "
        "updated_at = EXCLUDED.updated_at WHERE cur.ts < EXCLUDED.ts",
        ms=CurrentMeterStatus,
    )
    _insert_values(template, "(%s, %s, %s, %s, now())", newest)


def add_meter_hourly(hours: ShardRows) -> None:
    """Add (meter_id, hour, kwh, readings) to the hourly roll-ups."""
    template = _render(
        "INSERT INTO {mh} AS h (meter_id, hour, kwh_ac, readings) VALUES {{values}} "
        "ON CONFLICT (meter_id, hour) DO UPDATE SET kwh_ac = h.kwh_ac + EXCLUDED.kwh_ac, "
        "readings = h.readings + EXCLUDED.readings",
        mh=MeterHourly,
    )
    _insert_values(template, "(%s, %s, %s, %s)", hours)


# One reading of one device: a call of the function its migration made (telemetry 0004), which
# on Citus is a distributed function that the coordinator hands to the device's worker whole.
_STORE_ONE_VEHICLE = "SELECT fleet_store_vehicle_reading(%s, %s, %s, %s, %s)"
_STORE_ONE_METER = "SELECT fleet_store_meter_reading(%s, %s, %s, %s)"


def store_one_vehicle_reading(reading: VehicleReading) -> int:
    """1 stored, 0 a duplicate, -1 the vehicle is not registered (nothing written)."""
    row = fetch_one_prepared(
        _STORE_ONE_VEHICLE,
        [
            reading.vehicle_id,
            reading.ts,
            reading.soc,
            reading.kwh_delivered_dc,
            reading.battery_temp,
        ],
    )
    assert row is not None  # a function call returns its one row
    return int(row[0])


def store_one_meter_reading(reading: MeterReading) -> int:
    """1 stored, 0 a duplicate, -1 the meter is not registered (nothing written)."""
    row = fetch_one_prepared(
        _STORE_ONE_METER,
        [reading.meter_id, reading.ts, reading.kwh_consumed_ac, reading.voltage],
    )
    assert row is not None
    return int(row[0])
