"""Raw SQL of the analytics app: one typed function per statement.

Both sides are aggregated on their own; vehicle and meter history are never joined row to row
(that is the seed's bug: each sum multiplied by the other side's row count). AC is attributed
through the map's history: a meter reading counts for a vehicle only if the meter was mapped
to that vehicle at the reading's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection
from psycopg import sql

from fleet.plumbing import citus
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


def _run(
    statement: str, params: dict[str, Any], *, explain: bool = False, span_filter: str = ""
) -> Any:
    query = sql.SQL(statement).format(**_tables(), span_filter=sql.SQL(span_filter))
    if explain:
        query = sql.SQL("EXPLAIN (FORMAT JSON) ") + query
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
_FLEET = (
    """
    WITH sums AS (
        SELECT true AS dc_side, vehicle_id AS id, sum(kwh_dc) AS kwh, sum(readings) AS n,
            sum(battery_temp_sum) AS temp
        FROM {vh} WHERE hour >= %(s)s AND hour < %(e)s GROUP BY vehicle_id
        UNION ALL
        SELECT false, meter_id, sum(kwh_ac), sum(readings), NULL
        FROM {mh} WHERE hour >= %(s)s AND hour < %(e)s GROUP BY meter_id
    ),
"""
    + _SPANS
    + """,
    -- A span covering the whole window is its vehicle's only span in it (one meter at a time).
    whole AS (
        SELECT * FROM spans WHERE s = %(s)s AND e = %(e)s
    ),
"""
    + _ac_hours("spans WHERE NOT (s = %(s)s AND e = %(e)s)")
    + """,
    ac AS (
        SELECT w.vehicle_id, m.kwh AS ac, m.n
        FROM whole w JOIN sums m ON NOT m.dc_side AND m.id = w.meter_id
        UNION ALL
        SELECT vehicle_id, sum(kwh), sum(readings) FROM ac_hours GROUP BY vehicle_id
    ),
    dc AS (SELECT id AS vehicle_id, kwh, n, temp FROM sums WHERE dc_side),
    -- A FULL join: a vehicle whose meter drew AC while the vehicle reported no DC is the worst
    -- leak there is (efficiency 0), not a vehicle to leave out.
    rated AS (
        SELECT coalesce(dc.vehicle_id, ac.vehicle_id) AS vehicle_id,
            coalesce(dc.kwh, 0) AS dc, coalesce(ac.ac, 0) AS ac, coalesce(dc.n, 0) AS dc_n,
            coalesce(ac.n, 0) AS ac_n, dc.temp / dc.n AS avg_temp,
            CASE WHEN ac.ac > 0 THEN coalesce(dc.kwh, 0) / ac.ac END AS ratio
        FROM dc FULL JOIN ac ON ac.vehicle_id = dc.vehicle_id
        WHERE dc.vehicle_id IS NOT NULL OR ac.n > 0
    )
    -- The two counts come with the page (window aggregates run before LIMIT), so a page needs
    -- one pass, not a second one to count.
    SELECT vehicle_id, dc, ac, dc_n, ac_n, avg_temp, ratio, count(*) OVER () AS total,
        count(*) FILTER (WHERE ratio < %(threshold)s) OVER () AS flagged
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


@dataclass(frozen=True)
class FleetCounts:
    vehicles: int  # vehicles that match (all, or only the flagged ones)
    flagged: int  # of those, how many are below the threshold


def fleet_page(
    start: datetime,
    end: datetime,
    *,
    threshold: float,
    flagged_only: bool,
    limit: int,
    offset: int,
) -> tuple[FleetCounts, list[FleetRow]]:
    """(counts, one page of vehicles) for whole-hour [start, end), worst first."""
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
        counts, _ = fleet_page(
            start, end, threshold=threshold, flagged_only=flagged_only, limit=1, offset=0
        )
        return counts, []
    if not rows:
        return FleetCounts(0, 0), []
    return FleetCounts(rows[0][-2], rows[0][-1]), [FleetRow(*row[:-2]) for row in rows]


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
        _SERIES, {"v": vehicle_id, "s": start, "e": end}, span_filter="AND m.vehicle_id = %(v)s"
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
