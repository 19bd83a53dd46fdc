"""The production server under test: its environment, gunicorn start and stop, its workers,
the CPU and memory they use, and py-spy profiles of them."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psutil

from bench import app
from bench.common import BASE_DIR, BIN, say

# --- the environment ------------------------------------------------------------------------
BENCH_SETTINGS = "bench.settings"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bench_env(
    url: str,
    data_dir: Path,
    workers: int | None,
    worker_class: str | None = None,
    threads: int | None = None,
) -> dict[str, str]:
    """This process's environment for the server, manage.py and the Django subprocesses, with
    the bench database instead of any configured one."""
    env = {
        k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("POSTGRES_")
    }
    env.update(
        DATABASE_URL=url,
        DATA_DIR=str(data_dir),
        SECRET_KEY=secrets.token_urlsafe(40),
        DEBUG="false",
        DJANGO_SETTINGS_MODULE=BENCH_SETTINGS,
        HOST="127.0.0.1",
        PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    # Per-worker metrics files (prometheus_client multiprocess mode) in our folder, fresh per run,
    # rather than a new temporary folder per start.
    metrics_dir = data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if workers:
        env["WEB_CONCURRENCY"] = str(workers)
    if worker_class:
        env["GUNICORN_WORKER_CLASS"] = worker_class
    if threads:
        env["GUNICORN_THREADS"] = str(threads)
    return env


# --- gunicorn -------------------------------------------------------------------------------
def http_get(port: int, path: str, key: str | None = None, timeout: float = 10) -> tuple[int, Any]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}")
    if key:
        request.add_header("Authorization", f"Api-Key {key}")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()[:300]


class Server:
    """gunicorn -c GUNICORN_CONFIG WSGI (bench.app), as production runs it, on 127.0.0.1."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu: CpuMeter | None = None  # set once the server runs

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", app.GUNICORN_CONFIG, app.WSGI],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready(60)

    def _wait_ready(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if http_get(self.port, "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not become ready in {seconds:.0f} s; see {self.log_path}")

    def workers(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        try:
            return psutil.Process(self.proc.pid).children()
        except psutil.NoSuchProcess:
            return []

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)


# --- CPU and memory -------------------------------------------------------------------------
def _cpu_seconds(proc: psutil.Process, with_reaped_children: bool) -> float:
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    own = t.user + t.system
    return own + (t.children_user + t.children_system if with_reaped_children else 0.0)


def _tree_cpu_seconds(parent: psutil.Process) -> float:
    """The parent, the children it reaped, and the children alive now."""
    return _cpu_seconds(parent, True) + sum(_cpu_seconds(c, False) for c in parent.children())


class CpuMeter:
    """CPU cores used by the gunicorn workers and by PostgreSQL (when it runs on this machine)
    during a phase: where the two cores went. Workers and backends that exit are counted
    through their parent's reaped-children times."""

    def __init__(self, server: Server, postmaster_pid: int | None) -> None:
        self.server = server
        self.postmaster = None
        if postmaster_pid:
            with contextlib.suppress(psutil.Error):
                self.postmaster = psutil.Process(postmaster_pid)

    def _snapshot(self) -> tuple[float, float, float]:
        workers = 0.0
        if self.server.proc is not None:
            with contextlib.suppress(psutil.Error):
                workers = _tree_cpu_seconds(psutil.Process(self.server.proc.pid))
        postgres = 0.0
        if self.postmaster is not None:
            with contextlib.suppress(psutil.Error):
                postgres = _tree_cpu_seconds(self.postmaster)
        return time.perf_counter(), workers, postgres

    def start(self) -> tuple[float, float, float]:
        return self._snapshot()

    def stop(self, started: tuple[float, float, float]) -> dict[str, Any]:
        t0, w0, p0 = started
        t1, w1, p1 = self._snapshot()
        return {
            "cpu_cores": {
                "gunicorn": round((w1 - w0) / (t1 - t0), 2),
                "postgres": round((p1 - p0) / (t1 - t0), 2) if self.postmaster else None,
            }
        }


class RssSampler(threading.Thread):
    """Peak resident set size of any worker (and of the master), per phase, every 0.2 s."""

    def __init__(self, server: Server) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.phase = "setup"
        self.peak: dict[str, int] = {}
        self.master_peak = 0
        self.worker_pids: set[int] = set()
        self._done = threading.Event()

    def run(self) -> None:
        while not self._done.wait(0.2):
            for worker in self.server.workers():
                try:
                    rss = worker.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
                self.worker_pids.add(worker.pid)
                self.peak[self.phase] = max(self.peak.get(self.phase, 0), rss)
            if self.server.proc is not None:
                try:
                    rss = psutil.Process(self.server.proc.pid).memory_info().rss
                    self.master_peak = max(self.master_peak, rss)
                except psutil.NoSuchProcess:
                    pass

    def stop(self) -> None:
        self._done.set()
        self.join(timeout=2)

    def summary(self) -> dict[str, Any]:
        return {
            "worker_peak_per_phase_mb": {k: v / 2**20 for k, v in self.peak.items()},
            "master_peak_mb": self.master_peak / 2**20,
            "workers_seen": len(self.worker_pids),
        }


# --- profiles -------------------------------------------------------------------------------
@contextmanager
def profiled(
    enabled: bool, server: Server, name: str, seconds: float, out_dir: Path
) -> Iterator[None]:
    """py-spy every worker for the phase; writes collapsed stacks and prints the hot frames."""
    if not enabled or shutil.which("py-spy", path=str(BIN)) is None:
        yield
        return
    out = out_dir / f"profile-{name}.txt"
    assert server.proc is not None
    spy = subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(server.proc.pid),
            "--subprocesses",
            "--rate",
            "200",
            "--nonblocking",
            "--format",
            "raw",
            "--output",
            str(out),
            "--duration",
            str(max(1, int(seconds))),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield
    finally:
        try:
            spy.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            spy.kill()
        if out.exists():
            summarize_profile(out)


def summarize_profile(path: Path, top: int = 25) -> None:
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [f for f in stack.split(";") if not f.startswith("process ")]
        for frame in set(frames):
            inclusive[frame] += n
        if frames:
            own[frames[-1]] += n
    if not total:
        return
    say(f"profile {path.name}: {total} samples; top inclusive, then top self:")
    for frame, n in inclusive.most_common(top):
        print(f"   {100 * n / total:5.1f}%  {frame}")
    for frame, n in own.most_common(top):
        print(f"   {100 * n / total:5.1f}%  (self) {frame}")
