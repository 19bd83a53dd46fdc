"""Validation time of one full batch: parse_readings on 5,000 valid readings, in-process.

`measure` (the orchestrator) runs `python -m bench.validation SIZE RUNS DEVICES` with the
bench's environment: parsing needs Django's settings (the limits), so it runs where they are
configured, as bench/keys.py does, and prints one JSON line. No server and no database: this is
the CPU the ingest path spends before it writes anything, with nothing else on the clock.
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from datetime import timedelta
from typing import Any

from bench import app, data
from bench.common import minute_now, run_python

SIZE = 5_000  # TELEMETRY_MAX_BATCH: the largest batch a device may post
RUNS = 21
WARMUP_RUNS = 3


def measure(env: dict[str, str], devices: int) -> dict[str, Any]:
    out = run_python(
        env, "validation", "-m", "bench.validation", str(SIZE), str(RUNS), str(devices)
    )
    return json.loads(out.strip().splitlines()[-1])


# --- in the subprocess ----------------------------------------------------------------------
def _limits() -> tuple[Any, str]:
    """(the ingest path's limits as of now, where they came from)."""
    try:
        current_limits = app.resolve(app.CURRENT_LIMITS)
    except (ImportError, AttributeError):
        from django.conf import settings
        from django.utils import timezone

        limits = app.resolve(app.LIMITS)(
            now=timezone.now(),
            max_future=timedelta(seconds=settings.TELEMETRY_MAX_FUTURE_SECONDS),
            max_age=timedelta(days=settings.TELEMETRY_BACKFILL_DAYS),
            max_interval_kwh=settings.TELEMETRY_MAX_INTERVAL_KWH,
        )
        return limits, "settings"
    return current_limits(), app.CURRENT_LIMITS


def _batch(size: int, devices: int) -> list[Any]:
    """One batch as the view hands it over: the JSON a gateway posts (half vehicle, half meter
    readings, a minute ago), decoded."""
    return json.loads(data.batch_body(0, size, devices, minute_now() - 60, data.Clock()))


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", app.SETTINGS)
    import django

    django.setup()
    size, runs, devices = (int(a) for a in sys.argv[1:4])
    parse = app.resolve(app.PARSE_READINGS)
    items = _batch(size, devices)
    limits, limits_from = _limits()
    for _ in range(WARMUP_RUNS):
        parse(items, limits)
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        readings, errors = parse(items, limits)
        times.append((time.perf_counter() - t0) * 1000)
        # An invalid reading takes the slow path: the time would not be the valid batch's.
        if errors or len(readings) != size:
            raise SystemExit(f"{len(readings)} of {size} readings valid; errors: {errors!r:.500}")
    median = statistics.median(times)
    result = {
        "readings": size,
        "vehicle_readings": data.batch_halves(size)[0],
        "meter_readings": data.batch_halves(size)[1],
        "runs": runs,
        "warmup_runs": WARMUP_RUNS,
        "ms_median": median,
        "ms_min": min(times),
        "ms_all": times,
        "us_per_reading": median * 1000 / size,
        "callable": app.PARSE_READINGS,
        "limits_from": limits_from,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
