"""Raw SQL of the analytics app: one typed function per statement.

Both sides are aggregated on their own; vehicle and meter history are never joined row to row
(that is the seed's bug: each sum multiplied by the other side's row count). AC is attributed
through the map's history: a meter reading counts for a vehicle only if the meter was mapped
to that vehicle at the reading's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import connection
from psycopg import sql

from fleet.models import VehicleMeterMap
from telemetry.models import MeterHourly, MeterTelemetry, VehicleHourly, VehicleTelemetry


def _tables() -> dict[str, sql.Identifier]:
    return {
        "vt": sql.Identifier(VehicleTelemetry._meta.db_table),
        "mt": sql.Identifier(MeterTelemetry._meta.db_table),
        "vh": sql.Identifier(VehicleHourly._meta.db_table),
        "mh": sql.Identifier(MeterHourly._meta.db_table),
        "map": sql.Identifier(VehicleMeterMap._meta.db_table),
    }


@dataclass(frozen=True)
class DcTotals:
    kwh: Decimal
    readings: int
    avg_battery_temp: float | None


@dataclass(frozen=True)
class AcTotals:
    kwh: Decimal
    readings: int


# The window bounds are literals in each statement (Django's psycopg cursor binds client-side),
# so the planner prunes history to the window's partitions at plan time and reads each through
# its (device id, ts) primary key.
_VEHICLE_DC = """
    SELECT coalesce(sum(kwh_delivered_dc), 0), count(*), avg(battery_temp)
    FROM {vt} WHERE vehicle_id = %(v)s AND ts >= %(s)s AND ts < %(e)s
"""

# A meter reading matches at most one map row of the vehicle (its intervals never overlap), so
# this join cannot count a reading twice. The extra ts bounds give plan-time pruning.
_VEHICLE_AC = """
    SELECT coalesce(sum(t.kwh_consumed_ac), 0), count(t.ts)
    FROM {map} m
    JOIN {mt} t ON t.meter_id = m.meter_id
        AND t.ts >= m.valid_from AND (m.valid_to IS NULL OR t.ts < m.valid_to)
    WHERE m.vehicle_id = %(v)s
        AND m.valid_from < %(e)s AND (m.valid_to IS NULL OR m.valid_to > %(s)s)
        AND t.ts >= %(s)s AND t.ts < %(e)s
"""


def _run(
    statement: str, params: dict[str, Any], *, explain: bool = False, span_filter: str = ""
) -> Any:
    query = sql.SQL(statement).format(**_tables(), span_filter=sql.SQL(span_filter))
    if explain:
        query = sql.SQL("EXPLAIN (FORMAT JSON) ") + query
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


def vehicle_dc(vehicle_id: str, start: datetime, end: datetime) -> DcTotals:
    """DC side of one vehicle over [start, end), exact, from raw history."""
    [(kwh, count, avg)] = _run(_VEHICLE_DC, {"v": vehicle_id, "s": start, "e": end})
    return DcTotals(kwh, count, avg)


def vehicle_ac(vehicle_id: str, start: datetime, end: datetime) -> AcTotals:
    """AC side of one vehicle over [start, end): each meter's readings while it was mapped."""
    [(kwh, count)] = _run(_VEHICLE_AC, {"v": vehicle_id, "s": start, "e": end})
    return AcTotals(kwh, count)


def explain_vehicle_queries(vehicle_id: str, start: datetime, end: datetime) -> list[dict]:
    """EXPLAIN (FORMAT JSON) of the two per-vehicle statements, for tests and diagnosis."""
    params = {"v": vehicle_id, "s": start, "e": end}
    plans = []
    for statement in (_VEHICLE_DC, _VEHICLE_AC):
        [(plan,)] = _run(statement, params, explain=True)
        plans.append(plan[0] if isinstance(plan, list) else plan)
    return plans


# Roll-up based AC per vehicle and hour, exact at map boundaries. Each map span is clipped to
# the window [s, e) (whole hours). Hours wholly inside a span come from meter_hourly; a span
# that starts or ends mid-hour (a re-map at 10:17) reads only those partial hours from raw
# history, and only for such spans, so raw history is touched for minutes, not the window.
_AC_SPANS = """
    spans AS (
        SELECT m.vehicle_id, m.meter_id,
            greatest(m.valid_from, %(s)s) AS s,
            least(coalesce(m.valid_to, 'infinity'), %(e)s) AS e
        FROM {map} m
        WHERE m.valid_from < %(e)s AND (m.valid_to IS NULL OR m.valid_to > %(s)s) {span_filter}
    ),
    bounded AS (
        SELECT *,
            date_trunc('hour', s - interval '1 microsecond') + interval '1 hour' AS hs,
            date_trunc('hour', e) AS he
        FROM spans
    ),
    ac_hours AS (
        SELECT b.vehicle_id, h.hour, h.kwh_ac AS kwh, h.readings
        FROM bounded b JOIN {mh} h ON h.meter_id = b.meter_id AND h.hour >= b.hs AND h.hour < b.he
        UNION ALL
        SELECT b.vehicle_id, date_trunc('hour', t.ts), t.kwh_consumed_ac, 1
        FROM bounded b JOIN {mt} t ON t.meter_id = b.meter_id
            AND t.ts >= b.s AND t.ts < least(b.hs, b.e)
        WHERE b.s < b.hs AND t.ts >= %(s)s AND t.ts < %(e)s
        UNION ALL
        SELECT b.vehicle_id, date_trunc('hour', t.ts), t.kwh_consumed_ac, 1
        FROM bounded b JOIN {mt} t ON t.meter_id = b.meter_id
            AND t.ts >= greatest(b.he, b.hs) AND t.ts < b.e
        WHERE b.he < b.e AND t.ts >= %(s)s AND t.ts < %(e)s
    )
"""

_FLEET = (
    """
    WITH dc AS (
        SELECT vehicle_id, sum(kwh_dc) AS dc, sum(readings) AS n, sum(battery_temp_sum) AS temp
        FROM {vh} WHERE hour >= %(s)s AND hour < %(e)s
        GROUP BY vehicle_id
    ),
"""
    + _AC_SPANS
    + """,
    ac AS (
        SELECT vehicle_id, sum(kwh) AS ac, sum(readings) AS n FROM ac_hours GROUP BY vehicle_id
    ),
    rated AS (
        SELECT dc.vehicle_id, dc.dc, coalesce(ac.ac, 0) AS ac, dc.n AS dc_n,
            coalesce(ac.n, 0) AS ac_n, dc.temp / dc.n AS avg_temp,
            CASE WHEN ac.ac > 0 THEN dc.dc / ac.ac END AS ratio
        FROM dc LEFT JOIN ac USING (vehicle_id)
    )
    SELECT vehicle_id, dc, ac, dc_n, ac_n, avg_temp, ratio, count(*) OVER () AS total
    FROM rated
    WHERE NOT %(flagged_only)s OR ratio < %(threshold)s
    ORDER BY ratio ASC NULLS LAST, vehicle_id
    LIMIT %(limit)s OFFSET %(offset)s
"""
)


@dataclass(frozen=True)
class FleetRow:
    vehicle_id: str
    total_dc: Decimal
    total_ac: Decimal
    vehicle_readings: int
    meter_readings: int
    avg_battery_temp: float | None
    ratio: Decimal | None


def fleet_page(
    start: datetime,
    end: datetime,
    *,
    threshold: float,
    flagged_only: bool,
    limit: int,
    offset: int,
) -> tuple[int, list[FleetRow]]:
    """(vehicles in total, one page of them) for whole-hour [start, end), worst first."""
    params = {
        "s": start,
        "e": end,
        "threshold": Decimal(str(threshold)),
        "flagged_only": flagged_only,
        "limit": limit,
        "offset": offset,
    }
    rows = _run(_FLEET, params)
    if not rows and offset:
        # A page past the end still reports how many there are.
        return fleet_page(
            start, end, threshold=threshold, flagged_only=flagged_only, limit=1, offset=0
        )[0], []
    total = rows[0][-1] if rows else 0
    return total, [FleetRow(*row[:-1]) for row in rows]


_SERIES = (
    """
    WITH buckets AS (
        SELECT generate_series(%(s)s::timestamptz, %(e)s::timestamptz - interval '1 hour',
            interval '1 hour') AS hour
    ),
    dc AS (
        SELECT hour, kwh_dc AS dc, readings AS n
        FROM {vh} WHERE vehicle_id = %(v)s AND hour >= %(s)s AND hour < %(e)s
    ),
"""
    + _AC_SPANS
    + """,
    ac AS (SELECT hour, sum(kwh) AS ac, sum(readings) AS n FROM ac_hours GROUP BY hour)
    SELECT buckets.hour, coalesce(dc.dc, 0), coalesce(ac.ac, 0), coalesce(dc.n, 0),
        coalesce(ac.n, 0)
    FROM buckets LEFT JOIN dc USING (hour) LEFT JOIN ac USING (hour)
    ORDER BY buckets.hour
"""
)


def vehicle_hourly_series(
    vehicle_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, Decimal, Decimal, int, int]]:
    """(hour, dc, ac, vehicle readings, meter readings) for every hour of [start, end)."""
    return _run(
        _SERIES, {"v": vehicle_id, "s": start, "e": end}, span_filter="AND m.vehicle_id = %(v)s"
    )
