"""The fleet dataset (every device every minute, by COPY; roll-ups; the map; VACUUM ANALYZE)
and the checks of the analytics against it: the endpoint's totals and the seed's JOIN query."""

from __future__ import annotations

import argparse
import statistics
import time
from decimal import Decimal
from typing import Any

from psycopg import sql

from bench import data
from bench.common import minute_now, say
from bench.database import (
    DERIVED,
    HISTORY,
    checkpoint,
    connect,
    copy_in,
    in_parallel,
    row,
    truncate,
)
from bench.server import http_get


def load_fleet(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Every vehicle and meter, one reading a minute for fleet_hours, by COPY; roll-ups, map."""
    devices, minutes = args.fleet_vehicles, args.fleet_hours * 60
    end_epoch = minute_now()
    start_epoch = end_epoch - 60 * (minutes - 1)
    truncate(url, (*HISTORY, *DERIVED, "vehicle_meter_map"))
    _devices_and_map(url, devices, start_epoch)
    rows = 2 * devices * minutes
    say(f"loading the fleet dataset: {rows:,} history rows by COPY ...")
    copy_s = _copy_history(url, devices, minutes, end_epoch)
    say(f"  COPY: {copy_s:.0f} s ({rows / copy_s:,.0f} rows/s); roll-ups ...")
    rollup_s = _rollups(url)
    say(f"  roll-ups: {rollup_s:.0f} s; VACUUM ANALYZE ...")
    vacuum_s = _vacuum_analyze(url)
    checkpoint(url)
    say(f"  VACUUM ANALYZE: {vacuum_s:.0f} s")
    consistent, size = _rollups_equal_raw_and_size(url)
    return {
        "vehicles": devices,
        "meters": devices,
        "hours": args.fleet_hours,
        "history_rows": rows,
        "copy_s": copy_s,
        "copy_rows_per_s": rows / copy_s,
        "rollup_s": rollup_s,
        "vacuum_analyze_s": vacuum_s,
        "rollups_equal_raw": bool(consistent),
        "history_bytes": int(size or 0),
        "start_epoch": start_epoch,
        "end_epoch": end_epoch,
    }


def _devices_and_map(url: str, devices: int, start_epoch: int) -> None:
    with connect(url) as conn:
        for table, prefix in (("fleet_vehicle", "VH"), ("fleet_meter", "MT")):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (id, name, created_at) "
                    "SELECT %s || lpad(n::text, 5, '0'), '', now() FROM generate_series(0, %s) n "
                    "ON CONFLICT (id) DO NOTHING"
                ).format(sql.Identifier(table)),
                [prefix, devices - 1],
            )
        # vehicle i <-> meter i since a day before the data: every reading is attributed.
        conn.execute(
            "INSERT INTO vehicle_meter_map "
            "(vehicle_id, meter_id, valid_from, valid_to, created_at) "
            "SELECT 'VH' || lpad(n::text, 5, '0'), 'MT' || lpad(n::text, 5, '0'), "
            "to_timestamp(%s) - interval '1 day', NULL, now() FROM generate_series(0, %s) n",
            [start_epoch, devices - 1],
        )
        conn.commit()


def _copy_history(url: str, devices: int, minutes: int, end_epoch: int) -> float:
    """Seconds to COPY both history tables, one stream each."""

    def copy(kind: str, table: str, columns: tuple[str, ...]) -> float:
        start = time.perf_counter()
        with connect(url) as conn:
            copy_in(conn, table, columns, data.fleet_copy_chunks(kind, devices, minutes, end_epoch))
        return time.perf_counter() - start

    t0 = time.perf_counter()
    in_parallel(
        lambda: copy("vehicle", "vehicle_telemetry", data.VEHICLE_COPY_COLUMNS),
        lambda: copy("meter", "meter_telemetry", data.METER_COPY_COLUMNS),
    )
    return time.perf_counter() - t0


def _rollups(url: str) -> float:
    """Seconds to build the hourly roll-ups from the raw rows, one statement each."""

    def rollup(statement: str) -> None:
        with connect(url) as conn:
            conn.execute("SET work_mem = '256MB'")
            conn.execute(statement)
            conn.commit()

    t0 = time.perf_counter()
    in_parallel(
        lambda: rollup(
            "INSERT INTO vehicle_hourly (vehicle_id, hour, kwh_dc, battery_temp_sum, readings) "
            "SELECT vehicle_id, date_trunc('hour', ts), sum(kwh_delivered_dc), sum(battery_temp), "
            "count(*) FROM vehicle_telemetry GROUP BY 1, 2"
        ),
        lambda: rollup(
            "INSERT INTO meter_hourly (meter_id, hour, kwh_ac, readings) "
            "SELECT meter_id, date_trunc('hour', ts), sum(kwh_consumed_ac), count(*) "
            "FROM meter_telemetry GROUP BY 1, 2"
        ),
    )
    return time.perf_counter() - t0


def _vacuum_analyze(url: str) -> float:
    def vacuum(tables: tuple[str, ...]) -> None:
        with connect(url, autocommit=True) as conn:
            for table in tables:
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))

    t0 = time.perf_counter()
    in_parallel(
        lambda: vacuum(
            ("vehicle_telemetry", "vehicle_hourly", "vehicle_meter_map", "fleet_vehicle")
        ),
        lambda: vacuum(("meter_telemetry", "meter_hourly", "fleet_meter")),
    )
    return time.perf_counter() - t0


def _rollups_equal_raw_and_size(url: str) -> tuple[Any, Any]:
    """(roll-ups equal the raw rows, bytes of the history tables and their partitions)."""
    # The roll-ups must equal the raw rows: the fleet view reads them instead of history.
    with connect(url) as conn:
        # One aggregate per table (Citus cannot compare the row values of two subqueries).
        consistent = row(
            conn, "SELECT sum(kwh_delivered_dc), count(*) FROM vehicle_telemetry"
        ) == row(conn, "SELECT sum(kwh_dc), sum(readings)::bigint FROM vehicle_hourly") and row(
            conn, "SELECT sum(kwh_consumed_ac), count(*) FROM meter_telemetry"
        ) == row(conn, "SELECT sum(kwh_ac), sum(readings)::bigint FROM meter_hourly")
        size = row(
            conn,
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "WHERE c.relkind = 'r' AND (c.relname LIKE 'vehicle_telemetry%%' "
            "OR c.relname LIKE 'meter_telemetry%%')",
        )[0]
    return consistent, size


# --- checks against the dataset -------------------------------------------------------------
def check_performance(
    url: str, port: int, key: str, vehicle: str, fleet: dict[str, Any]
) -> dict[str, Any]:
    """The endpoint's totals for a fixed window equal the raw sums (a sanity check, not timed)."""
    start, end = fleet["start_epoch"] + 3600, fleet["end_epoch"] - 3600
    f = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    status, answer = http_get(port, f"/v1/analytics/performance/{vehicle}?from={f}&to={t}", key)
    meter = "MT" + vehicle[2:]
    with connect(url) as conn:
        dc = row(
            conn,
            "SELECT sum(kwh_delivered_dc) FROM vehicle_telemetry WHERE vehicle_id = %s "
            "AND ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
            [vehicle, start, end],
        )[0]
        ac = row(
            conn,
            "SELECT sum(kwh_consumed_ac) FROM meter_telemetry WHERE meter_id = %s "
            "AND ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
            [meter, start, end],
        )[0]
    ok = status == 200 and answer["total_dc"] == float(dc) and answer["total_ac"] == float(ac)
    return {"status": status, "endpoint_equals_raw_sums": ok}


SEED_JOIN = (
    "SELECT SUM(v.kwh_delivered_dc), SUM(m.kwh_consumed_ac), AVG(v.battery_temp) "
    "FROM vehicle_telemetry v "
    "JOIN vehicle_meter_map map ON map.vehicle_id = v.vehicle_id "
    "JOIN meter_telemetry m ON m.meter_id = map.meter_id "
    "WHERE v.vehicle_id = %(v)s AND v.ts > now() - interval '24 hours' "
    "AND m.ts > now() - interval '24 hours'"
)
CORRECT_DC = (
    "SELECT sum(kwh_delivered_dc), avg(battery_temp), count(*) FROM vehicle_telemetry "
    "WHERE vehicle_id = %(v)s AND ts > now() - interval '24 hours'"
)
CORRECT_AC = (
    "SELECT sum(m.kwh_consumed_ac), count(*) FROM meter_telemetry m "
    "JOIN vehicle_meter_map map ON map.meter_id = m.meter_id "
    "AND m.ts >= map.valid_from AND (map.valid_to IS NULL OR m.ts < map.valid_to) "
    "WHERE map.vehicle_id = %(v)s AND m.ts > now() - interval '24 hours'"
)


def seed_query(url: str, vehicle: str, repeats: int = 3) -> dict[str, Any]:
    """The seed's JOIN for one vehicle: its time, and its totals against the correct ones
    (computed in the same transaction, so both see the same now())."""
    times = []
    with connect(url) as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            s_dc, s_ac, s_temp = row(conn, SEED_JOIN, {"v": vehicle})
            times.append((time.perf_counter() - t0) * 1000)
            c_dc, c_temp, n_dc = row(conn, CORRECT_DC, {"v": vehicle})
            c_ac, n_ac = row(conn, CORRECT_AC, {"v": vehicle})
            conn.rollback()
    return {
        "vehicle": vehicle,
        "ms_median": statistics.median(times),
        "ms_all": times,
        "seed_total_dc": float(s_dc),
        "seed_total_ac": float(s_ac),
        "correct_total_dc": float(c_dc),
        "correct_total_ac": float(c_ac),
        "dc_ratio": float(Decimal(s_dc) / Decimal(c_dc)),
        "ac_ratio": float(Decimal(s_ac) / Decimal(c_ac)),
        "seed_efficiency": float(Decimal(s_dc) / Decimal(s_ac)),
        "correct_efficiency": float(Decimal(c_dc) / Decimal(c_ac)),
        "avg_temp_seed": s_temp,
        "avg_temp_correct": c_temp,
        "readings": {"vehicle": n_dc, "meter": n_ac},
    }
