"""The POST phases driven by wrk (a C load generator) when it is installed.

wrk takes a fraction of the CPU a Python client needs per request, and the two cores are
shared with the server, so its numbers are closer to what the server can do. The bodies are the
load generator's (bench.data.single_reading, the same unique (device, ts) per request), written
to a file that bench/wrk_post.lua spreads over wrk's threads; keys go round robin as there.
Without wrk the phases run on bench/loadgen.py (stdlib asyncio), and the report says which.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import data
from bench.common import BENCH_DIR
from bench.server import CpuMeter

SCRIPT = BENCH_DIR / "wrk_post.lua"
THREADS = 2  # one per core: more only adds context switches on two cores


def available() -> bool:
    return shutil.which("wrk") is not None


def _write_bodies(path: Path, spec: dict[str, Any], first: int, count: int) -> None:
    keys: list[str] = spec["keys"]
    clock = data.Clock()
    with path.open("w") as f:
        for i in range(first, first + count):
            key = keys[i % len(keys)] if keys else ""
            body = data.single_reading(i, spec["devices"], spec["base_epoch"], clock)
            f.write(f"{key}\t{body}\n")


def _run(spec: dict[str, Any], bodies: Path, seconds: int, mode: str) -> dict[str, Any]:
    done = subprocess.run(
        [
            "wrk",
            f"-t{THREADS}",
            f"-c{spec['clients']}",
            f"-d{seconds}s",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            f"http://127.0.0.1:{spec['port']}{spec['path']}",
            "--",
            str(bodies),
            str(THREADS),
            mode,
            spec["path"],
        ],
        capture_output=True,
        text=True,
        timeout=seconds + 120,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode or not lines:
        raise SystemExit(f"wrk failed:\n{done.stdout}\n{done.stderr}")
    return dict(json.loads(lines[-1]))


def single_phase(spec: dict[str, Any], work_dir: Path, cpu: CpuMeter, mode: str) -> dict[str, Any]:
    """Warm-up, then the measured run, on fresh readings each (no request repeats another).
    mode: "keep" (connections kept, if the server keeps them) or "close" (one per request)."""
    measured_count = spec["max_requests"]
    warm_count = max(1, int(spec["max_requests"] * spec["warmup"] / max(1, spec["duration"])))
    measured, warm = work_dir / f"wrk-{spec['name']}.txt", work_dir / f"wrk-{spec['name']}-warm.txt"
    _write_bodies(measured, spec, 0, measured_count)
    _write_bodies(warm, spec, measured_count, warm_count)
    if spec["warmup"]:
        _run(spec, warm, max(1, round(spec["warmup"])), mode)
    started = cpu.start()
    out = _run(spec, measured, max(1, round(spec["duration"])), mode)
    usage = cpu.stop(started)
    seconds = out["duration_us"] / 1e6
    errors = out["errors"]
    failed = errors["status"] + errors["timeout"] + errors["connect"] + errors["read"]
    ok = max(0, out["requests"] - errors["status"] - errors["timeout"])
    workers_cpu_s = usage["cpu_cores"]["gunicorn"] * seconds
    return {
        "driver": "wrk",
        "connections": mode,
        "requests": out["requests"],
        "seconds": seconds,
        "requests_per_s": out["requests"] / seconds,
        "ok_per_s": ok / seconds,
        "p50_ms": out["p50_us"] / 1000,
        "p99_ms": out["p99_us"] / 1000,
        "max_ms": out["max_us"] / 1000,
        "errors": errors,
        "failed": failed,
        "repeated_bodies": out["requests"] > measured_count,
        "worker_cpu_ms_per_request": 1000 * workers_cpu_s / out["requests"]
        if out["requests"]
        else None,
        **usage,
    }
