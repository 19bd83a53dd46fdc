"""The measured phases: framework floor and single-reading ingest, COPY floor and batch ingest,
and the analytics endpoints over the fleet dataset.

The load comes from bench.loadgen, a separate process, so that the clients don't share the
orchestrator's interpreter; every phase is bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import time
from pathlib import Path
from typing import Any

from bench import data, dataset, wrk
from bench.common import BASE_DIR, BIN, minute_now, run_python, say
from bench.database import (
    COUNT_HISTORY,
    DERIVED,
    HISTORY,
    checkpoint,
    connect,
    copy_in,
    in_parallel,
    scalar,
    truncate,
)
from bench.server import CpuMeter, RssSampler, Server, profiled


def loadgen(spec: dict[str, Any], work_dir: Path, cpu: CpuMeter | None = None) -> dict[str, Any]:
    """Run one phase in the load generator process; its JSON result, with the CPU the server
    used while the load generator was measuring."""
    spec_path = work_dir / f"spec-{spec['name']}.json"
    spec_path.write_text(json.dumps(spec))
    bound = spec.get("duration", 0) + spec.get("warmup", 0) + spec.get("max_seconds", 0) + 300
    deadline = time.monotonic() + bound
    proc = subprocess.Popen(
        [str(BIN / "python"), "-m", "bench.loadgen", str(spec_path)],
        cwd=BASE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    usage: dict[str, Any] = {}
    started = None
    lines = []
    assert proc.stdout is not None
    for line in proc.stdout:  # ends when the load generator exits
        line = line.strip()
        if line == "measuring" and cpu is not None:
            started = cpu.start()
        elif line == "done" and cpu is not None and started is not None:
            usage = cpu.stop(started)
        elif line and line not in ("measuring", "done"):
            lines.append(line)
        if time.monotonic() > deadline:
            proc.kill()
            break
    stderr = proc.stderr.read() if proc.stderr else ""
    if proc.wait(timeout=30) or not lines:
        raise SystemExit(f"loadgen {spec['name']} failed:\n{stderr}")
    return {**json.loads(lines[-1]), **usage}


# --- floor and single-reading ingest --------------------------------------------------------
def use_wrk(args: argparse.Namespace) -> bool:
    if args.load == "wrk" and not wrk.available():
        raise SystemExit("--load wrk: wrk is not installed (apt-get install wrk)")
    return args.load == "wrk" or (args.load == "auto" and wrk.available())


def mode_label(args: argparse.Namespace, mode: str) -> str:
    driver = "wrk" if use_wrk(args) else "Python load generator"
    return f"{driver}, " + ("connections kept" if mode == "keep" else "a new connection each")


def single_phase(
    args: argparse.Namespace,
    server: Server,
    rss: RssSampler,
    name: str,
    path: str,
    keys: list[str],
    mode: str = "close",
) -> dict[str, Any]:
    rss.phase = name
    spec = {
        "name": name,
        "mode": "single",
        "port": server.port,
        "path": path,
        "keys": keys,
        "clients": args.clients,
        "warmup": args.warmup,
        "duration": args.seconds,
        "devices": args.devices,
        "base_epoch": minute_now() - 60,
        # A bound on the requests, far above what 2 cores can serve in the phase.
        "max_requests": int((args.warmup + args.seconds) * 6000),
    }
    with profiled(
        args.profile, server, f"{name}-{mode}", args.warmup + args.seconds, args.data_dir
    ):
        if use_wrk(args):
            assert server.cpu is not None
            result = wrk.single_phase(spec, args.data_dir, server.cpu, mode)
        else:
            result = {"driver": "python", "connections": "close"}
            result |= loadgen(spec, args.data_dir, server.cpu)
            if result.get("cpu_cores") and result.get("requests"):
                cores = result["cpu_cores"]["gunicorn"]
                result["worker_cpu_ms_per_request"] = (
                    1000 * cores * result["seconds"] / result["requests"]
                )
    rss.phase = "idle"
    return result


# --- COPY floor and batch ingest ------------------------------------------------------------
def batch_phase(
    args: argparse.Namespace, url: str, server: Server, rss: RssSampler, keys: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(COPY floor, batch ingest) over the same readings, each into empty history tables."""
    base_epoch = minute_now() - 6 * 3600
    vehicles_text, meters_text = data.batch_copy_text(
        args.batch_requests, args.batch_size, args.devices, base_epoch, data.Clock()
    )
    readings = args.batch_requests * args.batch_size
    truncate(url, HISTORY + DERIVED)
    checkpoint(url)
    rss.phase = "copy_floor"
    floor = copy_floor(url, server, readings, vehicles_text, meters_text)
    truncate(url, HISTORY + DERIVED)
    checkpoint(url)
    rss.phase = "batch"
    batch = batch_ingest(args, server, keys, base_epoch)
    rss.phase = "idle"
    batch["stored"] = scalar(url, COUNT_HISTORY)
    batch["readings"] = readings
    return floor, batch


def copy_floor(
    url: str, server: Server, readings: int, vehicles_text: str, meters_text: str
) -> dict[str, Any]:
    """The readings COPYed straight into the history tables, two streams at once."""

    def copy(table: str, columns: tuple[str, ...], text: str) -> tuple[float, float]:
        with connect(url) as conn:
            start = time.perf_counter()
            copy_in(conn, table, columns, [text])
            return start, time.perf_counter()

    started = server.cpu.start() if server.cpu else None
    spans = in_parallel(
        lambda: copy("vehicle_telemetry", data.VEHICLE_COPY_COLUMNS, vehicles_text),
        lambda: copy("meter_telemetry", data.METER_COPY_COLUMNS, meters_text),
    )
    seconds = max(e for _, e in spans) - min(s for s, _ in spans)
    stored = scalar(url, COUNT_HISTORY)
    result = {
        "readings": readings,
        "stored": stored,
        "seconds": seconds,
        "readings_per_s": readings / seconds,
        "streams": 2,
        **(server.cpu.stop(started) if server.cpu and started else {}),
    }
    say(f"COPY floor: {readings} readings in {seconds:.2f} s = {readings / seconds:,.0f}/s")
    return result


def batch_ingest(
    args: argparse.Namespace, server: Server, keys: list[str], base_epoch: int
) -> dict[str, Any]:
    spec = {
        "name": "batch",
        "mode": "batch",
        "port": server.port,
        "path": "/v1/telemetry",
        "keys": keys,
        "clients": args.batch_clients,
        "requests": args.batch_requests,
        "batch_size": args.batch_size,
        "devices": args.devices,
        "base_epoch": base_epoch,
        "max_seconds": 600,
    }
    with profiled(args.profile, server, "batch", 20, args.data_dir):
        return loadgen(spec, args.data_dir, server.cpu)


# --- analytics over the fleet dataset -------------------------------------------------------
def analytics_phase(
    args: argparse.Namespace, url: str, server: Server, rss: RssSampler, keys: list[str]
) -> dict[str, Any]:
    rss.phase = "load"
    fleet = dataset.load_fleet(args, url)
    rng = random.Random(7)
    sample = data.vehicle_id(rng.randrange(args.fleet_vehicles))
    check = dataset.check_performance(url, server.port, keys[0], sample, fleet)
    rss.phase = "performance"
    perf = performance_requests(args, server, keys, rng)
    rss.phase = "fleet"
    fleet_result = fleet_requests(args, server, keys)
    rss.phase = "idle"
    say("fleet statement against the one before health, in-process ...")
    statement = json.loads(
        run_python(
            server.env,
            "timing the fleet statement",
            "-m",
            "bench.fleet_statement",
            str(args.fleet_statement_rounds),
        )
    )
    return {
        "dataset": fleet,
        "check": check,
        "performance": perf,
        "fleet": fleet_result,
        "fleet_statement": statement,
        "seed_query": dataset.seed_query(url, sample),
    }


def _get_spec(
    args: argparse.Namespace, server: Server, name: str, keys: list[str], paths: list[str]
) -> dict[str, Any]:
    return {
        "name": name,
        "mode": "get",
        "port": server.port,
        "keys": keys,
        "paths": paths,
        "clients": args.analytics_clients,
        "max_seconds": 300,
    }


def performance_requests(
    args: argparse.Namespace, server: Server, keys: list[str], rng: random.Random
) -> dict[str, Any]:
    """GET /v1/analytics/performance/{random vehicle}?hours=24, after a few unmeasured."""
    warm = 20
    paths = [
        f"/v1/analytics/performance/{data.vehicle_id(rng.randrange(args.fleet_vehicles))}?hours=24"
        for _ in range(args.perf_requests + warm)
    ]
    spec = {**_get_spec(args, server, "performance", keys, paths), "warmup_requests": warm}
    return loadgen(spec, args.data_dir, server.cpu)


def fleet_requests(args: argparse.Namespace, server: Server, keys: list[str]) -> dict[str, Any]:
    """GET /v1/analytics/fleet?hours=24, with the vehicle count of one answer."""
    warm = 3
    paths = ["/v1/analytics/fleet?hours=24"] * (args.fleet_requests + warm)
    spec = {
        **_get_spec(args, server, "fleet", keys, paths),
        "warmup_requests": warm,
        "keep_sample_body": True,
    }
    with profiled(args.profile, server, "fleet", 10, args.data_dir):
        result = loadgen(spec, args.data_dir, server.cpu)
    body = result.pop("sample_body", {})
    result["count"] = body.get("count")
    result["flagged_first"] = bool(body.get("results")) and body["results"][0]["flagged"]
    return result
