"""The orchestrator of `make bench`: database, server, data, phases, table and results.json.

One run, on one machine, in this order:

1. a bench database of its own (`fleet_bench`, dropped and re-created) on the configured server,
   or on an embedded PostgreSQL under bench/.data (never the dev server in .data/);
2. migrations, partitions, pools of API keys; then the validation time of one 5,000-reading
   batch, in-process with nothing else running (bench.validation);
3. the production server: gunicorn with gunicorn.conf.py and DEBUG off, with bench.settings
   adding only the floor endpoint;
4. framework floor: POST /bench/floor, one reading a request, 16 clients (no key, no database);
5. single-reading ingest: the same bodies to POST /v1/telemetry, 16 clients;
6. COPY floor: the batch readings COPYed straight into the history tables, then emptied;
7. batch ingest: the same readings, 500 a request (half vehicle, half meter);
7b. MQTT: a mosquitto of its own and `manage.py ingest_mqtt` consumers; single-reading
   messages over the same devices, then gateway batches of the same 500 (bench.mqtt);
8. the fleet dataset (every device every minute for 24 h) by COPY, roll-ups by INSERT ...
   SELECT ... GROUP BY, the map vehicle i <-> meter i, VACUUM ANALYZE; then per-vehicle and fleet
   endpoint latency, and the seed's JOIN query for one vehicle;
9. peak RSS of any gunicorn worker, sampled throughout, and the cores the workers and
   PostgreSQL used in each load phase.

The load comes from bench.loadgen, a separate process. Nothing here targets anything but
127.0.0.1, and every wait and loop is bounded. The modules: bench.database, bench.server,
bench.phases, bench.dataset, bench.validation, bench.report; the application's module paths are
all in bench.app.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path
from typing import Any

import psycopg

from bench import citus, validation
from bench.common import BENCH_DIR, say
from bench.database import (
    BENCH_DB,
    COUNT_HISTORY,
    DERIVED,
    HISTORY,
    database_server,
    drop_database,
    postmaster_pid,
    prepare,
    recreate_database,
    scalar,
    truncate,
    url_of,
)
from bench.mqtt import mqtt_phase
from bench.phases import analytics_phase, batch_phase, mode_label, single_phase, use_wrk
from bench.report import TARGETS, fmt, machine, table, write_results
from bench.server import CpuMeter, RssSampler, Server, bench_env


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    p.add_argument("--clients", type=int, default=16, help="single-reading clients")
    p.add_argument("--seconds", type=float, help="single-reading phase length (20; quick 5)")
    p.add_argument("--warmup", type=float, help="unmeasured seconds before it (2; quick 1)")
    p.add_argument("--devices", type=int, default=10_000, help="devices in the ingest phases")
    p.add_argument("--batch-size", type=int, default=500)
    p.add_argument("--batch-requests", type=int, help="batch requests (2000; quick 100)")
    p.add_argument("--batch-clients", type=int, default=4)
    p.add_argument("--fleet-vehicles", type=int, help="vehicles = meters (10000; quick 500)")
    p.add_argument("--fleet-hours", type=int, default=24, help="hours of one-a-minute readings")
    p.add_argument("--perf-requests", type=int, help="per-vehicle requests (2000; quick 200)")
    p.add_argument("--fleet-requests", type=int, help="fleet endpoint requests (200; quick 20)")
    p.add_argument(
        "--fleet-statement-rounds",
        type=int,
        help="in-process rounds of the fleet statement against the one before health (15; quick 3)",
    )
    p.add_argument("--analytics-clients", type=int, default=1, help="concurrent analytics requests")
    p.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    p.add_argument("--worker-class", help="gunicorn worker class (default: gunicorn.conf.py's)")
    p.add_argument("--threads", type=int, help="threads per gthread worker (gunicorn.conf.py's)")
    p.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="single-reading load generator: wrk when installed (auto), or bench/loadgen.py",
    )
    p.add_argument("--mqtt-messages", type=int, help="MQTT single messages (200000; quick 20000)")
    p.add_argument("--mqtt-batches", type=int, help="MQTT gateway batches (1000; quick 100)")
    p.add_argument("--mqtt-consumers", type=int, default=2, help="ingest_mqtt processes")
    p.add_argument("--mqtt-window", type=int, default=500, help="publisher's QoS 1 in flight")
    p.add_argument("--mqtt-paced-seconds", type=float, help="latency run at 70%% (10; quick 3)")
    p.add_argument("--skip", default="", help="comma list of: floor,single,batch,mqtt,analytics")
    p.add_argument("--profile", action="store_true", help="py-spy the workers in each load phase")
    p.add_argument("--keep-db", action="store_true", help="keep fleet_bench after the run")
    p.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    citus.add_arguments(p)
    args = p.parse_args(argv)
    args.argv = sys.argv[1:] if argv is None else argv
    quick = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    args.seconds = pick(args.seconds, 20.0, 5.0)
    args.warmup = pick(args.warmup, 2.0, 1.0)
    args.batch_requests = pick(args.batch_requests, 2000, 100)
    args.fleet_vehicles = pick(args.fleet_vehicles, 10_000, 500)
    args.perf_requests = pick(args.perf_requests, 2000, 200)
    args.fleet_requests = pick(args.fleet_requests, 200, 20)
    args.fleet_statement_rounds = pick(args.fleet_statement_rounds, 15, 3)
    args.mqtt_messages = pick(args.mqtt_messages, 200_000, 20_000)
    args.mqtt_batches = pick(args.mqtt_batches, 1_000, 100)
    args.mqtt_paced_seconds = pick(args.mqtt_paced_seconds, 10.0, 3.0)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.citus:
        return citus.run(args)
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    config, where = database_server(args.data_dir)
    embedded = where.startswith("embedded")
    admin_url = url_of(config, str(config.get("NAME") or "postgres"))
    url = url_of(config, BENCH_DB)
    say(f"database: {BENCH_DB} on the {where}")
    recreate_database(admin_url)

    env = bench_env(url, args.data_dir, args.workers, args.worker_class, args.threads)
    device_keys, analyst_keys = prepare(env)
    server = Server(env, args.data_dir / "gunicorn.log")
    rss = RssSampler(server)
    results = _header(args, argv, where)
    try:
        results["validation"] = _validation(env, args.devices)
        _start(args, server, rss, embedded, results)
        _load_phases(args, url, server, rss, device_keys, analyst_keys, results)
    finally:
        _stop(args, server, rss, admin_url)
    results["rss"] = rss.summary()
    results["elapsed_s"] = time.time() - started
    _report(args, results, where)
    return 0


def _header(args: argparse.Namespace, argv: list[str] | None, where: str) -> dict[str, Any]:
    """What the run was: machine, database, command and options; the phases add to it."""
    return {
        "machine": machine(),
        "database": where,
        "command": "make bench" + (" QUICK=1" if args.quick else ""),
        "argv": sys.argv[1:] if argv is None else argv,
        "options": {
            k: (sorted(v) if isinstance(v, set) else str(v) if isinstance(v, Path) else v)
            for k, v in vars(args).items()
        },
        "ratios": {},
        "targets": TARGETS,
    }


def _validation(env: dict[str, str], devices: int) -> dict[str, Any]:
    # Before the server starts, so that no worker or client competes for the two cores.
    say(f"validation: parse_readings on a {validation.SIZE:,}-reading batch ...")
    result = validation.measure(env, devices)
    say(f"  {result['ms_median']:.2f} ms median ({result['us_per_reading']:.2f} µs/reading)")
    return result


def _start(
    args: argparse.Namespace,
    server: Server,
    rss: RssSampler,
    embedded: bool,
    results: dict[str, Any],
) -> None:
    server.start()
    server.cpu = CpuMeter(server, postmaster_pid(args.data_dir) if embedded else None)
    rss.start()
    results["gunicorn_workers"] = len(server.workers())
    say(f"gunicorn on 127.0.0.1:{server.port} with {results['gunicorn_workers']} workers")


def _load_phases(
    args: argparse.Namespace,
    url: str,
    server: Server,
    rss: RssSampler,
    device_keys: list[str],
    analyst_keys: list[str],
    results: dict[str, Any],
) -> None:
    # With wrk, each phase runs twice: connections kept (for the clients that keep them) and
    # a new one per request (cellular devices that reconnect); the Python generator always
    # opens a new one.
    modes = ("keep", "close") if use_wrk(args) else ("close",)
    for mode in modes:
        suffix = "" if mode == modes[0] else f"_{mode}"
        if "floor" not in args.skip:
            say(f"framework floor: POST /bench/floor ({mode_label(args, mode)}) ...")
            results[f"floor{suffix}"] = f = single_phase(
                args, server, rss, "floor", "/bench/floor", [], mode
            )
            say(f"  {f['ok_per_s']:,.0f} requests/s")
        if "single" not in args.skip:
            say(f"single-reading ingest: POST /v1/telemetry ({mode_label(args, mode)}) ...")
            truncate(url, HISTORY + DERIVED)
            results[f"single{suffix}"] = s = single_phase(
                args, server, rss, "single", "/v1/telemetry", device_keys, mode
            )
            s["stored"] = scalar(url, COUNT_HISTORY)
            say(f"  {s['ok_per_s']:,.0f} readings/s, p99 {fmt(s['p99_ms'], ' ms', 1)}")
    if "batch" not in args.skip:
        say("COPY floor, then batch ingest of the same readings ...")
        floor, batch = batch_phase(args, url, server, rss, device_keys)
        results["copy_floor"], results["batch"] = floor, batch
        say(f"  batch: {results['batch']['readings_per_s']:,.0f} readings/s")
    if "mqtt" not in args.skip:
        # After the HTTP ingest phases (its ratios are against their batch line), with gunicorn
        # idle; before the fleet dataset, since it empties the history tables.
        postmaster = server.cpu.postmaster if server.cpu is not None else None
        rss.phase = "mqtt"
        results["mqtt"] = mqtt_phase(args, url, server.env, postmaster.pid if postmaster else None)
        rss.phase = "idle"
    if "analytics" not in args.skip:
        results["analytics"] = analytics_phase(args, url, server, rss, analyst_keys)


def _stop(args: argparse.Namespace, server: Server, rss: RssSampler, admin_url: str) -> None:
    # Each step on its own: a failure in one must not leave the server running.
    with contextlib.suppress(Exception):
        rss.stop()
    server.stop()
    if not args.keep_db:
        try:
            drop_database(admin_url)
        except psycopg.Error as exc:
            say(f"could not drop {BENCH_DB}: {exc}")


def _report(args: argparse.Namespace, results: dict[str, Any], where: str) -> None:
    text = table(results)
    results["table"] = text
    write_results(results, args.out)
    print()
    print(text)
    print()
    m = results["machine"]
    say(
        f"{m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB; {where}; "
        f"{results['elapsed_s'] / 60:.1f} min; results in {args.out}"
    )
