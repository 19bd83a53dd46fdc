"""`python -m bench.fleet_statement ROUNDS`: the fleet statement against the one before health.

Run by the orchestrator in the bench's environment, on the fleet dataset. It times, in one
process and interleaved (reference, current, reference, ...), ROUNDS executions of:

- the reference: the fleet statement as it was before coverage, paired efficiency and verdicts
  (kept here, as the seed's JOIN is kept in bench/dataset.py, only to be measured against);
- the current statement, through the application's own function, first page of 50.

Then the same again inside a transaction that is rolled back, after one hour of a tenth of
the vehicles was made low (30 readings), so that those vehicles pair hour by hour: the cost of
gaps, which the fleet dataset (every device, every minute) does not have. Prints one JSON
object: medians, all times, ratios.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import timedelta
from decimal import Decimal
from typing import Any

from bench import app

# The fleet statement before the health fields (git history: analytics/queries.py _FLEET before
# the commit that added them), with its map-span and AC-per-hour fragments written out.
REFERENCE = """
    WITH sums AS (
        SELECT true AS dc_side, vehicle_id AS id, sum(kwh_dc) AS kwh, sum(readings) AS n,
            sum(battery_temp_sum) AS temp
        FROM vehicle_hourly WHERE hour >= %(s)s AND hour < %(e)s GROUP BY vehicle_id
        UNION ALL
        SELECT false, meter_id, sum(kwh_ac), sum(readings), NULL
        FROM meter_hourly WHERE hour >= %(s)s AND hour < %(e)s GROUP BY meter_id
    ),
    spans AS (
        SELECT m.vehicle_id, m.meter_id, m.valid_from,
            greatest(m.valid_from, %(s)s) AS s,
            least(coalesce(m.valid_to, 'infinity'), %(e)s) AS e
        FROM vehicle_meter_map m
        WHERE m.valid_from < %(e)s AND (m.valid_to IS NULL OR m.valid_to > %(s)s)
    ),
    whole AS (SELECT * FROM spans WHERE s = %(s)s AND e = %(e)s),
    bounded AS (
        SELECT *,
            date_trunc('hour', s - interval '1 microsecond') + interval '1 hour' AS hs,
            date_trunc('hour', e) AS he
        FROM spans WHERE NOT (s = %(s)s AND e = %(e)s)
    ),
    ac_hours AS (
        SELECT b.vehicle_id, h.hour, h.kwh_ac AS kwh, h.readings
        FROM bounded b JOIN meter_hourly h
            ON h.meter_id = b.meter_id AND h.hour >= b.hs AND h.hour < b.he
        UNION ALL
        SELECT b.vehicle_id, date_trunc('hour', t.ts), t.kwh_consumed_ac, 1
        FROM bounded b JOIN meter_telemetry t ON t.meter_id = b.meter_id
            AND t.ts >= b.s AND t.ts < least(b.hs, b.e)
        WHERE b.s < b.hs AND t.ts >= %(s)s AND t.ts < %(e)s
        UNION ALL
        SELECT b.vehicle_id, date_trunc('hour', t.ts), t.kwh_consumed_ac, 1
        FROM bounded b JOIN meter_telemetry t ON t.meter_id = b.meter_id
            AND t.ts >= greatest(b.he, b.hs) AND t.ts < b.e
        WHERE b.he < b.e AND t.ts >= %(s)s AND t.ts < %(e)s
    ),
    ac AS (
        SELECT w.vehicle_id, m.kwh AS ac, m.n
        FROM whole w JOIN sums m ON NOT m.dc_side AND m.id = w.meter_id
        UNION ALL
        SELECT vehicle_id, sum(kwh), sum(readings) FROM ac_hours GROUP BY vehicle_id
    ),
    dc AS (SELECT id AS vehicle_id, kwh, n, temp FROM sums WHERE dc_side),
    rated AS (
        SELECT coalesce(dc.vehicle_id, ac.vehicle_id) AS vehicle_id,
            coalesce(dc.kwh, 0) AS dc, coalesce(ac.ac, 0) AS ac, coalesce(dc.n, 0) AS dc_n,
            coalesce(ac.n, 0) AS ac_n, dc.temp / dc.n AS avg_temp,
            CASE WHEN ac.ac > 0 THEN coalesce(dc.kwh, 0) / ac.ac END AS ratio
        FROM dc FULL JOIN ac ON ac.vehicle_id = dc.vehicle_id
        WHERE dc.vehicle_id IS NOT NULL OR ac.n > 0
    )
    SELECT vehicle_id, dc, ac, dc_n, ac_n, avg_temp, ratio, count(*) OVER () AS total,
        count(*) FILTER (WHERE ratio < %(threshold)s) OVER () AS flagged
    FROM rated
    ORDER BY ratio ASC NULLS LAST, vehicle_id
    LIMIT 50 OFFSET 0
"""

# A tenth of the vehicles get one low hour (hour 5 of the window) on the vehicle side only.
MAKE_GAPS = """
    UPDATE vehicle_hourly SET readings = 30
    WHERE hour = %(gap)s AND right(vehicle_id, 1) = '7'
"""


def _time(fn: Any) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1000


def _compare(rounds: int, reference: Any, current: Any) -> dict[str, Any]:
    reference()
    current()  # plans cached, pages warm
    ref, cur = [], []
    for _ in range(rounds):
        ref.append(_time(reference))
        cur.append(_time(current))
    return {
        "reference_ms_median": statistics.median(ref),
        "current_ms_median": statistics.median(cur),
        "ratio": statistics.median(cur) / statistics.median(ref),
        "reference_ms_all": ref,
        "current_ms_all": cur,
    }


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", app.SETTINGS)
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection, transaction

    fleet_page = app.resolve(app.FLEET_PAGE)
    baseline_window = app.resolve(app.BASELINE_WINDOW)
    rounds = int(sys.argv[1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT max(hour) FROM vehicle_hourly")
        (last,) = cursor.fetchone()
    end = last + timedelta(hours=1)
    start = end - timedelta(hours=24)
    threshold = settings.EFFICIENCY_ALERT_THRESHOLD
    params = {"s": start, "e": end, "threshold": Decimal(str(threshold))}

    def reference() -> None:
        with connection.cursor() as cursor:
            cursor.execute(REFERENCE, params)
            cursor.fetchall()

    def current() -> list[Any]:
        return fleet_page(
            start,
            end,
            threshold=threshold,
            flagged_only=False,
            limit=50,
            offset=0,
            baseline_day=baseline_window(start)[1],
        )[1]

    result = {"window": [start.isoformat(), end.isoformat()], "rounds": rounds}
    result["healthy"] = _compare(rounds, reference, current)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(MAKE_GAPS, {"gap": start + timedelta(hours=5)})
            result["gappy_vehicles"] = cursor.rowcount
        result["with_gaps"] = _compare(rounds, reference, current)
        transaction.set_rollback(True)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
