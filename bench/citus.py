"""`make bench ARGS="--citus URL"`: the same load on plain PostgreSQL and on a Citus cluster.

One run, one machine, the two databases one after the other with the same sizes:

1. plain: the bench database (fleet_bench) on the configured server (or the embedded one), as
   the main bench makes it; Citus: the database at URL on the coordinator (a throwaway one: its
   tables are emptied), migrated, laid out by `distribute_tables --shard-count N`, partitioned;
2. gunicorn against it (the app picks its statement forms itself, DB_LAYOUT=auto);
3. single-reading ingest, 500-reading batch ingest, then the fleet dataset and per-vehicle,
   series and fleet latency (the main bench's phases);
4. around each load phase, the CPU time of every PostgreSQL node (coordinator and each worker,
   when they run on this machine) and of the gunicorn workers, per reading stored.

The table (and bench/citus-results.json) puts the two side by side with the ratios the Citus
issue sets targets for.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psutil
import psycopg

from bench import app, data
from bench.common import minute_now, run_python, say
from bench.database import (
    BENCH_DB,
    COUNT_HISTORY,
    DERIVED,
    HISTORY,
    bench_keys,
    connect,
    database_server,
    drop_database,
    recreate_database,
    scalar,
    truncate,
    url_of,
)
from bench.phases import batch_ingest, loadgen, single_phase
from bench.report import fmt
from bench.server import RssSampler, Server, _tree_cpu_seconds, bench_env

REGISTRY = ("fleet_api_key", "vehicle_meter_map", "fleet_vehicle", "fleet_meter")


class NodeCpu:
    """CPU seconds of each PostgreSQL node's whole process tree (postmaster, backends, and the
    backends that exited, through the postmaster's reaped-children times)."""

    def __init__(self, urls: dict[str, str]) -> None:
        self.nodes: dict[str, psutil.Process] = {}
        for name, url in urls.items():
            with contextlib.suppress(psycopg.Error, psutil.Error), connect(url) as conn:
                backend = psutil.Process(int(scalar_on(conn, "SELECT pg_backend_pid()")))
                self.nodes[name] = psutil.Process(backend.ppid())

    def snapshot(self) -> dict[str, float]:
        seconds = {}
        for name, postmaster in self.nodes.items():
            with contextlib.suppress(psutil.Error):
                seconds[name] = _tree_cpu_seconds(postmaster)
        return seconds


def scalar_on(conn: psycopg.Connection, query: str) -> Any:
    found = conn.execute(query).fetchone()
    return found[0] if found else None


def _with_db(url: str, host: str, port: int) -> str:
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)
    auth = netloc[0] + "@" if len(netloc) == 2 else ""
    return urlunsplit(parts._replace(netloc=f"{auth}{host}:{port}"))


def citus_nodes(url: str) -> dict[str, str]:
    """{"coordinator": url, "worker 1": ..., ...}: the same database on each node."""
    nodes = {"coordinator": url}
    with connect(url) as conn:
        rows = conn.execute(
            "SELECT node_name, node_port FROM citus_get_active_worker_nodes() ORDER BY 2"
        ).fetchall()
    for i, (host, port) in enumerate(rows, 1):
        nodes[f"worker {i}"] = _with_db(url, host, port)
    return nodes


def _prepare_citus(env: dict[str, str], url: str, shard_count: int) -> None:
    run_python(env, "migrate", app.MANAGE, *app.MIGRATE)
    truncate(url, (*HISTORY, *DERIVED, *REGISTRY))
    command = ("distribute_tables", "--shard-count", str(shard_count))
    say(run_python(env, "distribute_tables", app.MANAGE, *command).strip())
    run_python(env, "partitions", app.MANAGE, *app.PARTITIONS)


def _measured(
    cpu: NodeCpu, server: Server, run: Any, stored: Any
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Run a phase; return its result and CPU ms per stored reading by node and for gunicorn."""
    gunicorn = psutil.Process(server.proc.pid) if server.proc else None
    before = cpu.snapshot()
    g0 = _tree_cpu_seconds(gunicorn) if gunicorn else 0.0
    result = run()
    g1 = _tree_cpu_seconds(gunicorn) if gunicorn else 0.0
    after = cpu.snapshot()
    count = max(int(stored()), 1)
    per = {name: 1000 * (after[name] - before[name]) / count for name in after if name in before}
    per["gunicorn"] = 1000 * (g1 - g0) / count
    return result, {"readings": count, "cpu_ms_per_reading": per}


def _analytics(
    args: argparse.Namespace, url: str, server: Server, keys: list[str]
) -> dict[str, Any]:
    from bench import dataset

    fleet = dataset.load_fleet(args, url)
    rng = random.Random(7)
    sample = data.vehicle_id(rng.randrange(args.fleet_vehicles))
    check = dataset.check_performance(url, server.port, keys[0], sample, fleet)

    def get(name: str, paths: list[str], warm: int) -> dict[str, Any]:
        spec = {
            "name": name,
            "mode": "get",
            "port": server.port,
            "keys": keys,
            "paths": paths,
            "clients": 1,
            "max_seconds": 300,
            "warmup_requests": warm,
        }
        return loadgen(spec, args.data_dir, server.cpu)

    def vehicles(n: int, query: str) -> list[str]:
        return [
            f"/v1/analytics/{query.format(data.vehicle_id(rng.randrange(args.fleet_vehicles)))}"
            for _ in range(n)
        ]

    return {
        "dataset": fleet,
        "check": check,
        "performance": get(
            "performance", vehicles(args.perf_requests + 20, "performance/{}?hours=24"), 20
        ),
        "series": get(
            "series", vehicles(args.perf_requests + 20, "performance/{}/series?hours=24"), 20
        ),
        "fleet": get("fleet", ["/v1/analytics/fleet?hours=24"] * (args.fleet_requests + 3), 3),
    }


def _register_devices(url: str, devices: int) -> None:
    """Every device the load will post for, registered first, on both databases: the phases
    measure a fleet's steady state, not its first day (a first reading also writes the
    registry, which on Citus is a reference table: a write to every node)."""
    with connect(url) as conn:
        for table, prefix in (("fleet_vehicle", "VH"), ("fleet_meter", "MT")):
            conn.execute(
                f"INSERT INTO {table} (id, name, created_at) "
                "SELECT %s || lpad(n::text, 5, '0'), '', now() FROM generate_series(0, %s) n "
                "ON CONFLICT (id) DO NOTHING",
                [prefix, devices - 1],
            )
        conn.commit()


def _one_database(
    args: argparse.Namespace, name: str, url: str, nodes: dict[str, str], env: dict[str, str]
) -> dict[str, Any]:
    _register_devices(url, max(args.devices, args.fleet_vehicles))
    device_keys = bench_keys(env, "device", 64)
    analyst_keys = bench_keys(env, "analyst", 16)
    server = Server(env, args.data_dir / f"gunicorn-{name}.log")
    rss = RssSampler(server)
    cpu = NodeCpu(nodes)
    result: dict[str, Any] = {"nodes": list(nodes), "measured_nodes": list(cpu.nodes)}
    server.start()
    try:
        say(f"[{name}] single-reading ingest ...")
        truncate(url, HISTORY + DERIVED)
        result["single"], result["single_cpu"] = _measured(
            cpu,
            server,
            lambda: single_phase(args, server, rss, "single", "/v1/telemetry", device_keys),
            lambda: scalar(url, COUNT_HISTORY),
        )
        say(f"  {result['single']['ok_per_s']:,.0f} readings/s")
        say(f"[{name}] {args.batch_size}-reading batch ingest ...")
        truncate(url, HISTORY + DERIVED)
        base = minute_now() - 6 * 3600
        result["batch"], result["batch_cpu"] = _measured(
            cpu,
            server,
            lambda: batch_ingest(args, server, device_keys, base),
            lambda: scalar(url, COUNT_HISTORY),
        )
        result["batch"]["stored"] = scalar(url, COUNT_HISTORY)
        say(f"  {result['batch']['readings_per_s']:,.0f} readings/s")
        say(f"[{name}] analytics ...")
        result["analytics"] = _analytics(args, url, server, analyst_keys)
    finally:
        server.stop()
    return result


def _ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}x" if a and b else "n/a"


def _table(results: dict[str, Any]) -> str:
    plain, cluster = results["plain"], results["citus"]

    def ms(r: dict[str, Any], phase: str, key: str) -> float:
        return float(r["analytics"][phase][key])

    rows = [
        (
            "measured in one run",
            "plain PostgreSQL",
            f"Citus, {results['shard_count']} shards",
            "Citus / plain",
            "target",
        ),
        (
            "500-reading batches, 4 clients (readings/s)",
            fmt(plain["batch"]["readings_per_s"]),
            fmt(cluster["batch"]["readings_per_s"]),
            _ratio(cluster["batch"]["readings_per_s"], plain["batch"]["readings_per_s"]),
            "≥ 0.5x",
        ),
        (
            "single-reading ingest, 16 clients (readings/s)",
            fmt(plain["single"]["ok_per_s"]),
            fmt(cluster["single"]["ok_per_s"]),
            _ratio(cluster["single"]["ok_per_s"], plain["single"]["ok_per_s"]),
            "",
        ),
    ]
    for phase, label in (("performance", "per-vehicle"), ("series", "series"), ("fleet", "fleet")):
        rows.append(
            (
                f"{label} p50 / p99 (ms)",
                f"{ms(plain, phase, 'p50_ms'):.1f} / {ms(plain, phase, 'p99_ms'):.1f}",
                f"{ms(cluster, phase, 'p50_ms'):.1f} / {ms(cluster, phase, 'p99_ms'):.1f}",
                _ratio(ms(cluster, phase, "p99_ms"), ms(plain, phase, "p99_ms")) + " (p99)",
                "≤ 2x (p99)",
            )
        )
    for phase in ("batch", "single"):
        for r, label in ((plain, "plain"), (cluster, "Citus")):
            per = r[f"{phase}_cpu"]["cpu_ms_per_reading"]
            cells = ", ".join(f"{k} {v:.3f}" for k, v in per.items())
            rows.append((f"CPU ms per reading, {phase}, {label}", cells, "", "", ""))
    lines = ["| " + " | ".join(rows[0]) + " |", "|" + "---|" * len(rows[0])]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    results: dict[str, Any] = {"shard_count": args.shard_count, "argv": args.argv}

    config, where = database_server(args.data_dir)
    admin_url = url_of(config, str(config.get("NAME") or "postgres"))
    plain_url = url_of(config, BENCH_DB)
    say(f"plain: {BENCH_DB} on the {where}")
    recreate_database(admin_url)
    env = bench_env(plain_url, args.data_dir, args.workers)
    for command in (app.MIGRATE, app.PARTITIONS):
        run_python(env, " ".join(command), app.MANAGE, *command)
    host = urlsplit(plain_url).hostname or "127.0.0.1"
    plain_nodes = {"postgres": plain_url} if host in ("127.0.0.1", "localhost", "") else {}
    try:
        results["plain"] = _one_database(args, "plain", plain_url, plain_nodes, env)
    finally:
        with contextlib.suppress(psycopg.Error):
            drop_database(admin_url)

    say(f"citus: {args.citus}")
    env = bench_env(args.citus, args.data_dir, args.workers)
    _prepare_citus(env, args.citus, args.shard_count)
    results["citus"] = _one_database(args, "citus", args.citus, citus_nodes(args.citus), env)
    results["elapsed_s"] = time.time() - started
    results["table"] = _table(results)
    out: Path = args.out.with_name("citus-results.json")
    out.write_text(json.dumps(results, indent=2, default=str))
    print()
    print(results["table"])
    say(f"{results['elapsed_s'] / 60:.1f} min; results in {out}")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--citus",
        metavar="URL",
        help="also run on the Citus coordinator at URL (a throwaway database) and compare",
    )
    p.add_argument("--shard-count", type=int, default=4, help="Citus shards (with --citus)")
