"""Raw SQL of the analytics app: one typed function per statement.

Both sides are aggregated on their own; vehicle and meter history are never joined row to row
(that is the seed's bug: each sum multiplied by the other side's row count). AC is attributed
through the map's history: a meter reading counts for a vehicle only if the meter was mapped
to that vehicle at the reading's time.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from typing import Any

from django.conf import settings
from django.db import connection
from psycopg import sql

from analytics.models import VehicleBaseline
from fleet.plumbing import citus
from fleet.plumbing.db import fetch_all_prepared
from fleet.plumbing.sql import identifier
from fleet.registry.models import Vehicle, VehicleMeterMap
from telemetry.models import MeterHourly, MeterTelemetry, VehicleHourly, VehicleTelemetry

HOUR = timedelta(hours=1)


def _tables() -> dict[str, sql.Identifier]:
    return {
        "vt": identifier(VehicleTelemetry),
        "mt": identifier(MeterTelemetry),
        "vh": identifier(VehicleHourly),
        "mh": identifier(MeterHourly),
        "map": identifier(VehicleMeterMap),
        "vehicle": identifier(Vehicle),
        "baseline": identifier(VehicleBaseline),
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


@dataclass(frozen=True)
class VehicleTotals:
    known: bool  # the vehicle is registered (an unknown one is a 404)
    dc: DcTotals
    ac: AcTotals
    meters: list[str]  # meters mapped to it during the window, in order of first mapping


@functools.cache
def _rendered(statement: str, span_filter: str) -> str:
    """The statement's text with its identifiers quoted, once per process."""
    return sql.SQL(statement).format(**_tables(), span_filter=sql.SQL(span_filter)).as_string()


def _run(
    statement: str,
    params: dict[str, Any],
    *,
    explain: bool = False,
    span_filter: str = "",
    prepare: bool = False,
) -> Any:
    """The statement's rows. prepare: as a server-side prepared statement, for the per-vehicle
    reads: PostgreSQL spent more time planning them (0.6-1.0 ms each, the raw edges going
    through the partitioned history) than running them (0.2-0.5 ms), and a request makes four.
    Not the fleet statement: its plan should follow the window's size, which a generic plan
    would not."""
    query = _rendered(statement, span_filter)
    if explain:
        query = "EXPLAIN (FORMAT JSON) " + query
    elif prepare:
        return fetch_all_prepared(query, params)
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchall()


# The map rows that hold during the window [s, e), each clipped to it: the spans during which
# a meter's readings count for a vehicle. The one place the map's overlap predicate is written
# in SQL; {span_filter} narrows it to one vehicle's rows (served by the (vehicle, valid_from)
# unique index).
_SPANS = """
    spans AS (
        SELECT m.vehicle_id, m.meter_id, m.valid_from,
            greatest(m.valid_from, %(s)s) AS s,
            least(coalesce(m.valid_to, 'infinity'), %(e)s) AS e
        FROM {map} m
        WHERE m.valid_from < %(e)s AND (m.valid_to IS NULL OR m.valid_to > %(s)s) {span_filter}
    )
"""


def _ac_hours(spans: str, *, pin_meter: bool = False) -> str:
    """AC per vehicle and hour over the given spans, exact at map boundaries.

    Hours wholly inside a span come from meter_hourly; a span that starts or ends mid-hour (a
    re-map at 10:17) reads only those partial hours from raw history, and only for such spans,
    so raw history is touched for minutes, not the window. pin_meter adds `meter_id = %(m)s`
    to every history and roll-up read, for spans of that one meter: on Citus the constant is
    what lets the statement go to the meter's one shard.
    """
    pin_h = "AND h.meter_id = %(m)s" if pin_meter else ""
    pin_t = "AND t.meter_id = %(m)s" if pin_meter else ""
    return f"""
    bounded AS (
        SELECT *,
            date_trunc('hour', s - interval '1 microsecond') + interval '1 hour' AS hs,
            date_trunc('hour', e) AS he
        FROM {spans}
    ),
    ac_hours AS (
        SELECT b.vehicle_id, h.hour, h.kwh_ac AS kwh, h.readings
        FROM bounded b JOIN {{mh}} h ON h.meter_id = b.meter_id AND h.hour >= b.hs AND h.hour < b.he
            {pin_h}
        UNION ALL
        SELECT b.vehicle_id, date_trunc('hour', t.ts), t.kwh_consumed_ac, 1
        FROM bounded b JOIN {{mt}} t ON t.meter_id = b.meter_id
            AND t.ts >= b.s AND t.ts < least(b.hs, b.e) {pin_t}
        WHERE b.s < b.hs AND t.ts >= %(s)s AND t.ts < %(e)s
        UNION ALL
        SELECT b.vehicle_id, date_trunc('hour', t.ts), t.kwh_consumed_ac, 1
        FROM bounded b JOIN {{mt}} t ON t.meter_id = b.meter_id
            AND t.ts >= greatest(b.he, b.hs) AND t.ts < b.e {pin_t}
        WHERE b.he < b.e AND t.ts >= %(s)s AND t.ts < %(e)s
    )
"""


_AC_SPANS = _SPANS + "," + _ac_hours("spans")


# Per vehicle: exact DC and AC over any window [s, e), from the roll-ups for the whole hours
# inside it and from raw history only for the partial hours at its two ends. The roll-ups hold
# the exact sums of the stored readings (kept in the same transaction as history), so the totals
# are those of the raw readings; reading every raw row instead cost one heap page per reading
# (2 x 1,440 random pages for a day, 44,640 each for 31 days), which put a 24-hour request at
# 30-50 ms on the 28.8 M-row benchmark and grows with the window. The raw ends' bounds are
# literals, so history is pruned to the partitions of those ends and read by primary key.
_VEHICLE_DC_PARTS = """
    dc_parts AS (
        SELECT hour, kwh_dc AS kwh, readings, battery_temp_sum AS temp
        FROM {vh} WHERE vehicle_id = %(v)s AND hour >= %(hs)s AND hour < %(he)s
        UNION ALL
        SELECT date_trunc('hour', ts), kwh_delivered_dc, 1, battery_temp FROM {vt}
        WHERE vehicle_id = %(v)s AND ts >= %(s)s AND ts < %(head_end)s
        UNION ALL
        SELECT date_trunc('hour', ts), kwh_delivered_dc, 1, battery_temp FROM {vt}
        WHERE vehicle_id = %(v)s AND ts >= %(tail_start)s AND ts < %(e)s
    )
"""

_VEHICLE_PERFORMANCE = (
    "WITH"
    + _VEHICLE_DC_PARTS
    + ","
    + _AC_SPANS
    + """
    SELECT EXISTS (SELECT 1 FROM {vehicle} WHERE id = %(v)s), dc.*, ac.*, (
        SELECT coalesce(array_agg(meter_id ORDER BY first_from), ARRAY[]::text[])
        FROM (SELECT meter_id, min(valid_from) AS first_from FROM spans GROUP BY meter_id) mapped
    )
    FROM (
        SELECT coalesce(sum(kwh), 0), coalesce(sum(readings), 0), sum(temp) / sum(readings)
        FROM dc_parts
    ) dc, (
        SELECT coalesce(sum(kwh), 0), coalesce(sum(readings), 0) FROM ac_hours
    ) ac
"""
)


def _vehicle_params(vehicle_id: str, start: datetime, end: datetime) -> dict[str, Any]:
    """Window bounds split at whole hours (UTC, as the roll-ups are): [s, hs) and [he, e) are
    read raw, [hs, he) from the roll-ups. A window inside one hour is all raw."""
    floor = start.replace(minute=0, second=0, microsecond=0)
    hs = floor if floor == start else floor + HOUR
    he = end.replace(minute=0, second=0, microsecond=0)
    return {
        "v": vehicle_id,
        "s": start,
        "e": end,
        "hs": hs,
        "he": he,
        "head_end": min(hs, end),
        "tail_start": max(he, hs),
    }


def _routed() -> bool:
    return citus.layout(VehicleTelemetry._meta.db_table) == "distributed"


def vehicle_totals(vehicle_id: str, start: datetime, end: datetime) -> VehicleTotals:
    """DC and AC of one vehicle over [start, end), exact to the reading: DC from its own
    readings, AC from each meter's readings while it was mapped to the vehicle, and (one round
    trip) whether the vehicle is known and which meters fed it. On a distributed database,
    the shard-routed form (routed_vehicle_totals) instead."""
    if _routed():
        return routed_vehicle_totals(vehicle_id, start, end)
    [(known, dc_kwh, dc_count, dc_temp, ac_kwh, ac_count, meters)] = _run(
        _VEHICLE_PERFORMANCE,
        _vehicle_params(vehicle_id, start, end),
        span_filter="AND m.vehicle_id = %(v)s",
        prepare=True,
    )
    return VehicleTotals(
        known,
        DcTotals(dc_kwh, int(dc_count), dc_temp),
        AcTotals(ac_kwh, int(ac_count)),
        list(meters),
    )


def explain_vehicle_totals(vehicle_id: str, start: datetime, end: datetime) -> dict:
    """EXPLAIN (FORMAT JSON) of the per-vehicle statement, for tests and diagnosis."""
    [(plan,)] = _run(
        _VEHICLE_PERFORMANCE,
        _vehicle_params(vehicle_id, start, end),
        explain=True,
        span_filter="AND m.vehicle_id = %(v)s",
    )
    return plan[0] if isinstance(plan, list) else plan


# The fleet view. Its cost is two aggregate passes over a window of hourly roll-ups (240,000
# rows a side for 10,000 devices and 24 hours), so:
# - AC is summed per METER over the window, in the same single pass as DC per vehicle, and a
#   meter mapped to one vehicle for the whole window simply hands that vehicle its total; only
#   spans that start or end inside the window go through the per-hour join (and raw history
#   for their partial hours). Joining every meter-hour to its span first cost a 240,000-row
#   join and a second aggregation.
# - The two passes are one UNION ALL, so PostgreSQL can run them side by side (Parallel Append)
#   rather than one after the other.
# - Paired hours follow the rules of analytics.health (tests/analytics/test_fleet_health.py
#   checks that the two agree on every vehicle). The same pass counts each device's covered
#   hours, with aggregates over its few low hours only (FILTER on rows below min_n readings;
#   a filtered aggregate costs little when its rows are rare, a mask or array of every covered
#   hour cost 85 ms a side). When a whole-window mapping's two sides covered the same hours (all,
#   or all but the same one: a healthy fleet, whose current hour neither side has filled), the
#   paired totals are the covered totals and need no join. Only vehicles with gaps elsewhere
#   pair their hours one by one (joining every vehicle-hour to its meter-hour cost 5.6 s as
#   nested loops on misestimated CTEs, and 0.5 s as hash joins, against 91 ms for the rest).
# - Each vehicle's row comes from one of three branches (a whole-window mapping, mappings that
#   change inside the window, no mapping), so that no branch joins every vehicle again.
def _covered_hours(kwh: str) -> str:
    """One side's covered hours (at least min_n readings), their energy, and the one hour it
    did not cover when that is known: its one low hour when every hour has a row, or the
    window's last hour when that is the one without a row."""
    low = "FILTER (WHERE readings < %(min_n)s)"
    return f"""
            count(*) - count(*) {low} AS cov_hours,
            sum({kwh}) - coalesce(sum({kwh}) {low}, 0) AS cov_kwh,
            CASE
                WHEN count(*) = %(hours)s AND count(*) {low} = 1 THEN max(hour) {low}
                WHEN count(*) = %(hours)s - 1 AND count(*) {low} = 0
                    AND max(hour) = %(e)s - interval '2 hours'
                    THEN %(e)s - interval '1 hour'
            END AS gap_at"""


_FLEET = (
    """
    WITH sums AS (
        SELECT true AS dc_side, vehicle_id AS id, sum(kwh_dc) AS kwh, sum(readings) AS n,
            sum(battery_temp_sum) AS temp,"""
    + _covered_hours("kwh_dc")
    + """
        FROM {vh} WHERE hour >= %(s)s AND hour < %(e)s GROUP BY vehicle_id
        UNION ALL
        SELECT false, meter_id, sum(kwh_ac), sum(readings), NULL,"""
    + _covered_hours("kwh_ac")
    + """
        FROM {mh} WHERE hour >= %(s)s AND hour < %(e)s GROUP BY meter_id
    ),
"""
    + _SPANS
    + """,
    -- A span covering the whole window is its vehicle's only span in it (one meter at a time).
    whole AS (
        SELECT * FROM spans WHERE s = %(s)s AND e = %(e)s
    ),
    part_spans AS (
        SELECT * FROM spans WHERE NOT (s = %(s)s AND e = %(e)s)
    ),
"""
    + _ac_hours("part_spans")
    + """,
    -- Branch 1, a whole-window mapping: the meter's window total is the vehicle's AC. Its two
    -- sides covered the same hours when both covered all, or all but the same one.
    by_whole AS (
        SELECT w.vehicle_id, w.meter_id, d.kwh AS dc, d.n AS dc_n, d.temp, m.kwh AS ac,
            m.n AS ac_n, d.cov_hours, d.cov_kwh AS d_cov_kwh, m.cov_kwh AS m_cov_kwh,
            CASE
                WHEN NOT (d.cov_hours > 0 AND m.cov_hours > 0) THEN 'none'
                WHEN d.cov_hours = m.cov_hours AND (
                    d.cov_hours = %(hours)s
                    OR (d.cov_hours = %(hours)s - 1 AND d.gap_at = m.gap_at)
                ) THEN 'same'
                ELSE 'gaps'
            END AS pairing
        FROM whole w
        LEFT JOIN sums d ON d.dc_side AND d.id = w.vehicle_id
        LEFT JOIN sums m ON NOT m.dc_side AND m.id = w.meter_id
    ),
    -- Gaps in other hours: those vehicles pair their covered hours one by one, from the
    -- roll-ups of those vehicles and meters only. Each side is read in its own CTE, since on
    -- Citus a vehicle-hour and its meter-hour live on different shards. They are read by
    -- index, vehicle by vehicle, and each vehicle's hours lie on as many heap pages: about
    -- 0.23 ms a gappy vehicle (1,000 of 10,000: +230 ms). Hash joins instead hashed the whole
    -- window (+560 ms), whatever the planner was told to expect.
    gappy AS (SELECT vehicle_id, meter_id FROM by_whole WHERE pairing = 'gaps'),
    gappy_dc AS (
        SELECT vehicle_id, hour, kwh_dc FROM {vh}
        WHERE vehicle_id IN (SELECT vehicle_id FROM gappy)
            AND hour >= %(s)s AND hour < %(e)s AND readings >= %(min_n)s
    ),
    gappy_ac AS (
        SELECT meter_id, hour, kwh_ac FROM {mh}
        WHERE meter_id IN (SELECT meter_id FROM gappy)
            AND hour >= %(s)s AND hour < %(e)s AND readings >= %(min_n)s
    ),
    paired_gappy AS (
        SELECT g.vehicle_id, count(*) AS hours, sum(d.kwh_dc) AS dc, sum(a.kwh_ac) AS ac
        FROM gappy g
        JOIN gappy_dc d ON d.vehicle_id = g.vehicle_id
        JOIN gappy_ac a ON a.meter_id = g.meter_id AND a.hour = d.hour
        GROUP BY g.vehicle_id
    ),
    -- Branch 2, mappings that start or end inside the window: per vehicle and hour, the
    -- seconds a meter was mapped and the AC it gave (exact at the map's boundaries), against
    -- the vehicle's covered hours.
    part_hours AS (
        SELECT vehicle_id, hour, sum(mapped) AS mapped, sum(kwh) AS ac, sum(n) AS ac_n FROM (
            SELECT p.vehicle_id, g.hour,
                extract(epoch FROM least(g.hour + interval '1 hour', p.e) - greatest(g.hour, p.s))
                    AS mapped,
                0 AS kwh, 0 AS n
            FROM part_spans p, generate_series(
                date_trunc('hour', p.s), p.e - interval '1 microsecond', interval '1 hour'
            ) AS g(hour)
            UNION ALL
            SELECT vehicle_id, hour, 0, kwh, readings FROM ac_hours
        ) parts
        GROUP BY vehicle_id, hour
    ),
    part_dc AS (
        SELECT vehicle_id, hour, kwh_dc FROM {vh}
        WHERE vehicle_id IN (SELECT vehicle_id FROM part_spans)
            AND hour >= %(s)s AND hour < %(e)s AND readings >= %(min_n)s
    ),
    by_part AS (
        SELECT p.vehicle_id, sum(p.mapped) AS mapped, sum(p.ac) AS ac, sum(p.ac_n) AS ac_n,
            count(d.hour) FILTER (WHERE p.paired) AS hours,
            coalesce(sum(d.kwh_dc) FILTER (WHERE p.paired), 0) AS paired_dc,
            coalesce(sum(p.ac) FILTER (WHERE p.paired AND d.hour IS NOT NULL), 0) AS paired_ac
        FROM (
            SELECT *, mapped > 0 AND ac_n * %(interval)s >= %(min_cov)s * mapped AS paired
            FROM part_hours
        ) p
        LEFT JOIN part_dc d ON d.vehicle_id = p.vehicle_id AND d.hour = p.hour
        GROUP BY p.vehicle_id
    ),
    vehicles AS (
        SELECT b.vehicle_id, b.dc, b.dc_n, b.temp, b.ac, b.ac_n,
            %(window_seconds)s::numeric AS mapped,
            CASE b.pairing WHEN 'same' THEN b.cov_hours WHEN 'gaps' THEN g.hours END AS hours,
            CASE b.pairing WHEN 'same' THEN b.d_cov_kwh WHEN 'gaps' THEN g.dc END AS paired_dc,
            CASE b.pairing WHEN 'same' THEN b.m_cov_kwh WHEN 'gaps' THEN g.ac END AS paired_ac
        FROM by_whole b
        LEFT JOIN paired_gappy g ON b.pairing = 'gaps' AND g.vehicle_id = b.vehicle_id
        UNION ALL
        SELECT p.vehicle_id, d.kwh, d.n, d.temp, p.ac, p.ac_n, p.mapped, p.hours, p.paired_dc,
            p.paired_ac
        FROM by_part p LEFT JOIN sums d ON d.dc_side AND d.id = p.vehicle_id
        UNION ALL
        -- Branch 3, no meter mapped during the window.
        SELECT d.id, d.kwh, d.n, d.temp, NULL, NULL, NULL, NULL, NULL, NULL
        FROM sums d
        WHERE d.dc_side AND NOT EXISTS (SELECT 1 FROM spans p WHERE p.vehicle_id = d.id)
    ),
    -- A vehicle whose meter drew AC while the vehicle reported no DC is the worst leak there
    -- is (efficiency 0), not a vehicle to leave out.
    rated AS (
        SELECT vehicle_id, coalesce(dc, 0) AS dc, coalesce(ac, 0) AS ac,
            coalesce(dc_n, 0)::bigint AS dc_n, coalesce(ac_n, 0)::bigint AS ac_n,
            temp / dc_n AS avg_temp,
            CASE WHEN ac > 0 THEN coalesce(dc, 0) / ac END AS ratio, mapped,
            coalesce(hours, 0) AS paired_hours, coalesce(paired_dc, 0) AS paired_dc,
            coalesce(paired_ac, 0) AS paired_ac
        FROM vehicles
        WHERE dc_n IS NOT NULL OR ac_n > 0
    ),
    -- The verdict as analytics.health.assess gives it, compared without division (a ratio
    -- below x is dc < x * ac) so that both decide alike to the last digit.
    judged AS (
        SELECT r.*, b.efficiency AS baseline,
            CASE
                WHEN r.mapped IS NULL THEN 'no_meter'
                WHEN r.paired_hours < %(min_hours)s OR NOT r.paired_ac > 0
                    THEN 'insufficient_data'
                WHEN r.paired_dc < %(threshold)s * r.paired_ac THEN 'leak'
                WHEN r.paired_dc <= (b.efficiency - %(points)s) * r.paired_ac THEN 'degraded'
                ELSE 'ok'
            END AS health
        FROM rated r
        LEFT JOIN {baseline} b ON b.vehicle_id = r.vehicle_id AND b.first_day = %(first_day)s
    )
    -- The two counts come with the page (window aggregates run before LIMIT), so a page needs
    -- one pass, not a second one to count.
    SELECT vehicle_id, dc, ac, dc_n, ac_n, avg_temp, ratio, coalesce(mapped, 0),
        paired_hours, paired_dc, paired_ac, baseline, health, count(*) OVER () AS total,
        count(*) FILTER (WHERE ratio < %(threshold)s) OVER () AS flagged
    FROM judged
    WHERE (NOT %(flagged_only)s OR ratio < %(threshold)s)
        AND (%(health)s::text[] IS NULL OR health = ANY(%(health)s::text[]))
    ORDER BY CASE health WHEN 'leak' THEN 0 WHEN 'degraded' THEN 1 ELSE 2 END,
        CASE WHEN paired_ac > 0 THEN paired_dc / paired_ac END ASC NULLS LAST,
        ratio ASC NULLS LAST, vehicle_id
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
    mapped_seconds: Decimal  # 0: no meter was mapped during the window
    paired_hours: int
    paired_dc: Decimal
    paired_ac: Decimal
    baseline: Decimal | None  # as evaluate_health stored it for the window's first day
    health: str


@dataclass(frozen=True)
class FleetCounts:
    vehicles: int  # vehicles that match (all, or only the flagged ones)
    flagged: int  # of those, how many are below the threshold


def _min_readings_an_hour() -> int:
    """The fewest readings that cover an hour: readings x interval >= share x 3600, solved
    exactly (analytics.health.CoverageFloor)."""
    share = Fraction(str(settings.EFFICIENCY_MIN_COVERAGE))
    return math.ceil(share * 3600 / settings.TELEMETRY_READING_INTERVAL_SECONDS)


def _fleet_params(
    start: datetime,
    end: datetime,
    *,
    threshold: float,
    flagged_only: bool,
    limit: int,
    offset: int,
    health: list[str] | None,
    baseline_day: datetime,
) -> dict[str, Any]:
    return {
        "s": start,
        "e": end,
        "threshold": Decimal(str(threshold)),
        "flagged_only": flagged_only,
        "health": health,
        "limit": limit,
        "offset": offset,
        "hours": (end - start) // HOUR,
        "window_seconds": int((end - start).total_seconds()),
        "min_n": _min_readings_an_hour(),
        "interval": settings.TELEMETRY_READING_INTERVAL_SECONDS,
        "min_cov": Decimal(str(settings.EFFICIENCY_MIN_COVERAGE)),
        "min_hours": settings.EFFICIENCY_MIN_PAIRED_HOURS,
        "points": Decimal(str(settings.EFFICIENCY_DEGRADATION_POINTS)),
        "first_day": baseline_day,
    }


def fleet_page(
    start: datetime,
    end: datetime,
    *,
    threshold: float,
    flagged_only: bool,
    limit: int,
    offset: int,
    health: list[str] | None = None,
    baseline_day: datetime,
) -> tuple[FleetCounts, list[FleetRow]]:
    """(counts, one page of vehicles) for whole-hour [start, end): leaks, then degraded, then
    the rest, each by paired efficiency (worst first); `baseline_day` picks the stored
    baselines (analytics.health.baseline_window)."""
    params = _fleet_params(
        start,
        end,
        threshold=threshold,
        flagged_only=flagged_only,
        limit=limit,
        offset=offset,
        health=health,
        baseline_day=baseline_day,
    )
    rows = _run(_FLEET, params)
    page = [FleetRow(*row[:-2]) for row in rows]
    if not rows and offset:
        # A page past the end still reports how many there are: the first row carries them.
        rows = _run(_FLEET, {**params, "limit": 1, "offset": 0})
    if not rows:
        return FleetCounts(0, 0), []
    return FleetCounts(rows[0][-2], rows[0][-1]), page


def explain_fleet_page(start: datetime, end: datetime, *, analyze: bool = False) -> list[str]:
    """EXPLAIN of the fleet statement's first page, as text lines, for diagnosis."""
    params = _fleet_params(
        start,
        end,
        threshold=settings.EFFICIENCY_ALERT_THRESHOLD,
        flagged_only=False,
        limit=50,
        offset=0,
        health=None,
        baseline_day=start,
    )
    query = sql.SQL(_FLEET).format(**_tables(), span_filter=sql.SQL(""))
    prefix = "EXPLAIN (ANALYZE, BUFFERS) " if analyze else "EXPLAIN "
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL(prefix) + query, params)
        return [line for (line,) in cursor.fetchall()]


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
    if _routed():
        return routed_vehicle_hourly_series(vehicle_id, start, end)
    return _run(
        _SERIES,
        {"v": vehicle_id, "s": start, "e": end},
        span_filter="AND m.vehicle_id = %(v)s",
        prepare=True,
    )


# --- per-vehicle reads, shard-routed form ---------------------------------------------------
# On Citus the statements above span every shard: the map CTE hands the meter ids on as an
# intermediate result, so the meter side cannot be pruned (EXPLAIN ANALYZE 108.8 ms against
# 0.51 ms routed). Here the map is read first (a reference table, so local on the coordinator),
# then every statement names its one device as a constant: one router query for the vehicle's
# DC and one per meter it had in the window, each planned for and sent to one shard. A meter's
# spans go in as literal bounds; the AC rules are the same _ac_hours as above.


@dataclass(frozen=True)
class Span:
    meter_id: str
    valid_from: datetime
    start: datetime  # the map row's interval clipped to the window
    end: datetime


_VEHICLE_SPANS = (
    "WITH"
    + _SPANS
    + """
    SELECT k.known, spans.meter_id, spans.valid_from, spans.s, spans.e
    FROM (SELECT EXISTS (SELECT 1 FROM {vehicle} WHERE id = %(v)s) AS known) k
    LEFT JOIN spans ON true
    ORDER BY spans.valid_from
"""
)

_VEHICLE_DC = (
    "WITH"
    + _VEHICLE_DC_PARTS
    + """
    SELECT coalesce(sum(kwh), 0), coalesce(sum(readings), 0), sum(temp) / sum(readings)
    FROM dc_parts
"""
)

# One meter's spans (while it fed this vehicle), as literal arrays of bounds.
_PINNED_SPANS = """
    spans AS (
        SELECT %(v)s::text AS vehicle_id, %(m)s::text AS meter_id, s, e
        FROM unnest(%(starts)s::timestamptz[], %(ends)s::timestamptz[]) AS u(s, e)
    )
"""

_METER_AC = (
    "WITH"
    + _PINNED_SPANS
    + ","
    + _ac_hours("spans", pin_meter=True)
    + "SELECT coalesce(sum(kwh), 0), coalesce(sum(readings), 0) FROM ac_hours"
)

_METER_AC_HOURS = (
    "WITH"
    + _PINNED_SPANS
    + ","
    + _ac_hours("spans", pin_meter=True)
    + "SELECT hour, sum(kwh), sum(readings) FROM ac_hours GROUP BY hour"
)

_VEHICLE_DC_HOURS = """
    SELECT hour, kwh_dc, readings FROM {vh}
    WHERE vehicle_id = %(v)s AND hour >= %(s)s AND hour < %(e)s
"""


def vehicle_spans(vehicle_id: str, start: datetime, end: datetime) -> tuple[bool, list[Span]]:
    """Whether the vehicle is known, and its map rows during [start, end), clipped to it."""
    rows = _run(
        _VEHICLE_SPANS,
        {"v": vehicle_id, "s": start, "e": end},
        span_filter="AND m.vehicle_id = %(v)s",
        prepare=True,
    )
    known = bool(rows[0][0])
    return known, [Span(*row[1:]) for row in rows if row[1] is not None]


def _by_meter(spans: list[Span]) -> dict[str, list[Span]]:
    """Spans grouped by meter, meters in order of first mapping (dicts keep insertion order)."""
    grouped: dict[str, list[Span]] = {}
    for span in spans:
        grouped.setdefault(span.meter_id, []).append(span)
    return grouped


def _meter_params(
    vehicle_id: str, meter_id: str, spans: list[Span], start: datetime, end: datetime
) -> dict[str, Any]:
    return {
        "v": vehicle_id,
        "m": meter_id,
        "s": start,
        "e": end,
        "starts": [span.start for span in spans],
        "ends": [span.end for span in spans],
    }


def vehicle_dc_totals(vehicle_id: str, start: datetime, end: datetime) -> DcTotals:
    """The vehicle's DC over [start, end): a query of its one shard."""
    [(kwh, count, temp)] = _run(_VEHICLE_DC, _vehicle_params(vehicle_id, start, end))
    return DcTotals(kwh, int(count), temp)


def meter_ac_totals(
    vehicle_id: str, meter_id: str, spans: list[Span], start: datetime, end: datetime
) -> AcTotals:
    """One meter's AC over its spans for the vehicle: a query of the meter's one shard."""
    [(kwh, count)] = _run(_METER_AC, _meter_params(vehicle_id, meter_id, spans, start, end))
    return AcTotals(kwh, int(count))


def routed_vehicle_totals(vehicle_id: str, start: datetime, end: datetime) -> VehicleTotals:
    """vehicle_totals as single-shard statements: the map, the DC, then each meter's AC."""
    known, spans = vehicle_spans(vehicle_id, start, end)
    dc = vehicle_dc_totals(vehicle_id, start, end)
    kwh, count = Decimal(0), 0
    meters = _by_meter(spans)
    for meter_id, its_spans in meters.items():
        ac = meter_ac_totals(vehicle_id, meter_id, its_spans, start, end)
        kwh += ac.kwh
        count += ac.readings
    return VehicleTotals(known, dc, AcTotals(kwh, count), list(meters))


def routed_vehicle_hourly_series(
    vehicle_id: str, start: datetime, end: datetime
) -> list[tuple[datetime, Decimal, Decimal, int, int]]:
    """vehicle_hourly_series as single-shard statements, merged into the window's hours."""
    _, spans = vehicle_spans(vehicle_id, start, end)
    params = {"v": vehicle_id, "s": start, "e": end}
    dc = {hour: (kwh, int(n)) for hour, kwh, n in _run(_VEHICLE_DC_HOURS, params)}
    ac: dict[datetime, tuple[Decimal, int]] = {}
    for meter_id, its_spans in _by_meter(spans).items():
        meter_params = _meter_params(vehicle_id, meter_id, its_spans, start, end)
        for hour, kwh, n in _run(_METER_AC_HOURS, meter_params):
            held_kwh, held_n = ac.get(hour, (Decimal(0), 0))
            ac[hour] = (held_kwh + kwh, held_n + int(n))
    series = []
    hour = start
    while hour + HOUR <= end:  # the hours generate_series(s, e - 1 hour) gives above
        dc_kwh, dc_n = dc.get(hour, (Decimal(0), 0))
        ac_kwh, ac_n = ac.get(hour, (Decimal(0), 0))
        series.append((hour, dc_kwh, ac_kwh, dc_n, ac_n))
        hour += HOUR
    return series


def explain_routed_vehicle_totals(
    vehicle_id: str, start: datetime, end: datetime
) -> dict[str, dict]:
    """EXPLAIN (FORMAT JSON) of each statement of routed_vehicle_totals, by what it reads:
    "dc" and "ac <meter>" (the map read is local and not listed)."""

    def plan_of(statement: str, params: dict[str, Any]) -> dict:
        [(plan,)] = _run(statement, params, explain=True)
        return plan[0] if isinstance(plan, list) else plan

    _, spans = vehicle_spans(vehicle_id, start, end)
    plans = {"dc": plan_of(_VEHICLE_DC, _vehicle_params(vehicle_id, start, end))}
    for meter_id, its_spans in _by_meter(spans).items():
        params = _meter_params(vehicle_id, meter_id, its_spans, start, end)
        plans[f"ac {meter_id}"] = plan_of(_METER_AC, params)
    return plans


# --- per hour, for coverage and paired efficiency (analytics.health) ------------------------
# Each hour of the window [s, e) (the hours at its ends clipped to it) with the vehicle's DC and
# reading count and the AC and reading count of the meters mapped to it then: the same parts as
# the totals above (roll-ups for whole hours, raw history for the partial ones), grouped by hour
# instead of summed. Hours with no reading on either side are absent.
_VEHICLE_HOURS = (
    "WITH"
    + _VEHICLE_DC_PARTS
    + ","
    + _AC_SPANS
    + """
    SELECT hour, sum(dc), sum(dc_n), sum(ac), sum(ac_n) FROM (
        SELECT hour, kwh AS dc, readings AS dc_n, 0 AS ac, 0 AS ac_n FROM dc_parts
        UNION ALL
        SELECT hour, 0, 0, kwh, readings FROM ac_hours
    ) both_sides
    GROUP BY hour ORDER BY hour
"""
)

_VEHICLE_DC_BY_HOUR = (
    "WITH" + _VEHICLE_DC_PARTS + "SELECT hour, sum(kwh), sum(readings) FROM dc_parts GROUP BY hour"
)


@dataclass(frozen=True)
class HourRow:
    hour: datetime
    dc: Decimal
    dc_readings: int
    ac: Decimal
    ac_readings: int


def vehicle_hours(vehicle_id: str, start: datetime, end: datetime) -> list[HourRow]:
    """Per hour of [start, end): the vehicle's DC and the AC attributed to it, with counts."""
    if _routed():
        return routed_vehicle_hours(vehicle_id, start, end)
    rows = _run(
        _VEHICLE_HOURS,
        _vehicle_params(vehicle_id, start, end),
        span_filter="AND m.vehicle_id = %(v)s",
        prepare=True,
    )
    return [HourRow(hour, dc, int(dc_n), ac, int(ac_n)) for hour, dc, dc_n, ac, ac_n in rows]


def routed_vehicle_hours(vehicle_id: str, start: datetime, end: datetime) -> list[HourRow]:
    """vehicle_hours as single-shard statements: the vehicle's DC, then each meter's AC."""
    _, spans = vehicle_spans(vehicle_id, start, end)
    hours: dict[datetime, list[Any]] = {}
    for hour, kwh, n in _run(_VEHICLE_DC_BY_HOUR, _vehicle_params(vehicle_id, start, end)):
        hours[hour] = [kwh, int(n), Decimal(0), 0]
    for meter_id, its_spans in _by_meter(spans).items():
        params = _meter_params(vehicle_id, meter_id, its_spans, start, end)
        for hour, kwh, n in _run(_METER_AC_HOURS, params):
            held = hours.setdefault(hour, [Decimal(0), 0, Decimal(0), 0])
            held[2] += kwh
            held[3] += int(n)
    return [HourRow(hour, *hours[hour]) for hour in sorted(hours)]


def lock_vehicle_health(vehicle_id: str) -> None:
    """Hold the vehicle's health record until the transaction ends: two evaluations running at
    once take turns on each vehicle instead of both recording the same change. An advisory
    lock, since the vehicle may have no state row yet to lock."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended('fleet-health:' || %s, 0))",
            [vehicle_id],
        )
