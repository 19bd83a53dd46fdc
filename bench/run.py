"""The orchestrator of `make bench`: database, server, data, phases, table and results.json.

One run, on one machine, in this order:

1. a bench database of its own (`fleet_bench`, dropped and re-created) on the configured server,
   or on an embedded PostgreSQL under bench/.data (never the dev server in .data/);
2. migrations, partitions, pools of API keys, then the production server: gunicorn with
   gunicorn.conf.py and DEBUG off, with bench.settings adding only the floor endpoint;
3. framework floor: POST /bench/floor, one reading a request, 16 clients (no key, no database);
4. single-reading ingest: the same bodies to POST /v1/telemetry, 16 clients;
5. COPY floor: the batch readings COPYed straight into the history tables, then emptied;
6. batch ingest: the same readings, 500 a request (half vehicle, half meter);
7. the fleet dataset (every device every minute for 24 h) by COPY, roll-ups by INSERT ...
   SELECT ... GROUP BY, the map vehicle i <-> meter i, VACUUM ANALYZE; then per-vehicle and fleet
   endpoint latency, and the seed's JOIN query for one vehicle;
8. peak RSS of any gunicorn worker, sampled throughout, and the cores the workers and
   PostgreSQL used in each load phase.

The load comes from bench.loadgen, a separate process. Nothing here targets anything but
127.0.0.1, and every wait and loop is bounded.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psutil
import psycopg
from psycopg import sql

from bench import data

BASE_DIR = Path(__file__).resolve().parent.parent
BENCH_DIR = BASE_DIR / "bench"
BIN = Path(sys.executable).parent
BENCH_DB = "fleet_bench"
TARGETS = {
    "single_vs_floor": 0.40,
    "batch_vs_copy": 0.25,
    "performance_p99_ms": 20.0,
    "fleet_p99_ms": 250.0,
    "worker_rss_mb": 200.0,
}
HISTORY = ("vehicle_telemetry", "meter_telemetry")
# Keys are throttled one by one (per worker): the load goes through pools of keys, as a fleet's
# devices and gateways each have their own, so the throttle is exercised but never the limit.
DEVICE_KEYS = 64
ANALYST_KEYS = 16
DERIVED = ("vehicle_hourly", "meter_hourly", "current_vehicle_status", "current_meter_status")
COUNT_HISTORY = (
    "SELECT (SELECT count(*) FROM vehicle_telemetry) + (SELECT count(*) FROM meter_telemetry)"
)


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --- options --------------------------------------------------------------------------------
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
    p.add_argument("--analytics-clients", type=int, default=1, help="concurrent analytics requests")
    p.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    p.add_argument("--skip", default="", help="comma list of: floor,single,batch,analytics")
    p.add_argument("--profile", action="store_true", help="py-spy the workers in each load phase")
    p.add_argument("--keep-db", action="store_true", help="keep fleet_bench after the run")
    p.add_argument("--data-dir", type=Path, default=BENCH_DIR / ".data")
    p.add_argument("--out", type=Path, default=BENCH_DIR / "results.json")
    args = p.parse_args(argv)
    quick = args.quick

    def pick(value: Any, full: Any, small: Any) -> Any:
        return value if value is not None else (small if quick else full)

    args.seconds = pick(args.seconds, 20.0, 5.0)
    args.warmup = pick(args.warmup, 2.0, 1.0)
    args.batch_requests = pick(args.batch_requests, 2000, 100)
    args.fleet_vehicles = pick(args.fleet_vehicles, 10_000, 500)
    args.perf_requests = pick(args.perf_requests, 2000, 200)
    args.fleet_requests = pick(args.fleet_requests, 200, 20)
    args.skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    return args


# --- the database ---------------------------------------------------------------------------
def _url(config: dict[str, Any], name: str) -> str:
    """A libpq URL for a Django DATABASES entry, pointed at database `name`."""
    options = {k: str(v) for k, v in (config.get("OPTIONS") or {}).items()}
    host = str(config.get("HOST") or "")
    if host.startswith("/"):
        options["host"] = host  # a socket directory goes in the query (django-environ reads it)
        host = ""
    auth = quote(str(config.get("USER") or ""), safe="")
    if config.get("PASSWORD"):
        auth += ":" + quote(str(config["PASSWORD"]), safe="")
    port = f":{config['PORT']}" if config.get("PORT") else ""
    query = f"?{urlencode(options)}" if options else ""
    return f"postgres://{auth}@{host}{port}/{quote(name, safe='')}{query}"


def database_server(data_dir: Path) -> tuple[dict[str, Any], str]:
    """(DATABASES entry of the server to use, what it is): the configured one, else an
    embedded PostgreSQL under data_dir (the bench's own, not the dev server in .data/)."""
    import environ

    from fleet.dbconfig import configured_database, embedded_database

    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    configured = configured_database(os.environ)
    if configured is not None:
        return configured, "configured server"
    import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    # Ours alone, so stopped when this process exits (embedded_database reuses this handle).
    pgserver.get_server(data_dir / "pg", cleanup_mode="stop")
    return embedded_database(data_dir), f"embedded PostgreSQL in {data_dir}"


def postmaster_pid(data_dir: Path) -> int | None:
    """The embedded server's postmaster, to count PostgreSQL's CPU (a remote one can't be)."""
    try:
        return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def connect(url: str, **kwargs: Any) -> psycopg.Connection:
    return psycopg.connect(url, options="-c TimeZone=UTC -c statement_timeout=0", **kwargs)


def drop_database(admin_url: str) -> None:
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(BENCH_DB))
        )


def recreate_database(admin_url: str) -> None:
    drop_database(admin_url)
    with connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(BENCH_DB)))


def truncate(url: str, tables: tuple[str, ...]) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t) for t in tables))
        )


def scalar(url: str, query: str, params: Any = None) -> Any:
    with connect(url) as conn:
        return conn.execute(query, params).fetchone()[0]


def checkpoint(url: str) -> None:
    """Flush the load's dirty pages now rather than during a measured phase."""
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:  # not a superuser on a configured server
        say(f"CHECKPOINT skipped ({exc.__class__.__name__})")


def in_parallel(*jobs: Callable[[], Any]) -> list[Any]:
    """Run jobs in threads (each holds its own connection); re-raise the first failure."""
    results: list[Any] = [None] * len(jobs)
    errors: list[BaseException] = []

    def run(i: int, job: Callable[[], Any]) -> None:
        try:
            results[i] = job()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, j)) for i, j in enumerate(jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return results


# --- the server -----------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _python(env: dict[str, str], what: str, *args: str) -> str:
    """Run the venv's Python in the project (stdout back); stop the bench if it fails."""
    done = subprocess.run(
        [str(BIN / "python"), *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode:
        raise SystemExit(f"{what} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def manage(env: dict[str, str], *args: str) -> str:
    return _python(env, f"manage.py {' '.join(args)}", "manage.py", *args)


def bench_keys(env: dict[str, str], role: str, count: int) -> list[str]:
    return _python(env, f"creating {role} keys", "-m", "bench.keys", role, str(count)).split()


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
    """gunicorn -c gunicorn.conf.py fleet.wsgi, as production runs it, on 127.0.0.1."""

    def __init__(self, env: dict[str, str], log_path: Path) -> None:
        self.env = env
        self.port = int(env["PORT"])
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu: CpuMeter | None = None  # set once the server runs

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(BIN / "gunicorn"), "-c", "gunicorn.conf.py", "fleet.wsgi"],
            cwd=BASE_DIR,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"gunicorn exited ({self.proc.returncode}); see {self.log_path}")
            try:
                if http_get(self.port, "/readyz", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise SystemExit(f"gunicorn did not become ready in 60 s; see {self.log_path}")

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


def _cpu_seconds(proc: psutil.Process, with_reaped_children: bool) -> float:
    try:
        t = proc.cpu_times()
    except psutil.NoSuchProcess:
        return 0.0
    own = t.user + t.system
    return own + (t.children_user + t.children_system if with_reaped_children else 0.0)


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
                master = psutil.Process(self.server.proc.pid)
                workers = _cpu_seconds(master, True) + sum(
                    _cpu_seconds(c, False) for c in master.children()
                )
        postgres = 0.0
        if self.postmaster is not None:
            with contextlib.suppress(psutil.Error):
                postgres = _cpu_seconds(self.postmaster, True) + sum(
                    _cpu_seconds(c, False) for c in self.postmaster.children()
                )
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


# --- load phases ----------------------------------------------------------------------------
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


def minute_now() -> int:
    return int(time.time()) // 60 * 60


def single_phase(
    args: argparse.Namespace,
    server: Server,
    rss: RssSampler,
    name: str,
    path: str,
    keys: list[str],
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
    with profiled(args.profile, server, name, args.warmup + args.seconds, args.data_dir):
        result = loadgen(spec, args.data_dir, server.cpu)
    rss.phase = "idle"
    return result


def batch_phase(
    args: argparse.Namespace, url: str, server: Server, rss: RssSampler, keys: list[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(COPY floor, batch ingest) over the same readings, each into empty history tables."""
    base_epoch = minute_now() - 6 * 3600
    n = args.batch_requests
    vehicles_text, meters_text = data.batch_copy_text(
        n, args.batch_size, args.devices, base_epoch, data.Clock()
    )
    readings = n * args.batch_size
    truncate(url, HISTORY + DERIVED)
    checkpoint(url)

    def copy(table: str, columns: tuple[str, ...], text: str) -> tuple[float, float]:
        with connect(url) as conn:
            start = time.perf_counter()
            with conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
            ) as cp:
                cp.write(text)
            conn.commit()
            return start, time.perf_counter()

    rss.phase = "copy_floor"
    started = server.cpu.start() if server.cpu else None
    spans = in_parallel(
        lambda: copy("vehicle_telemetry", data.VEHICLE_COPY_COLUMNS, vehicles_text),
        lambda: copy("meter_telemetry", data.METER_COPY_COLUMNS, meters_text),
    )
    seconds = max(e for _, e in spans) - min(s for s, _ in spans)
    stored = scalar(url, COUNT_HISTORY)
    copy_floor = {
        "readings": readings,
        "stored": stored,
        "seconds": seconds,
        "readings_per_s": readings / seconds,
        "streams": 2,
        **(server.cpu.stop(started) if server.cpu and started else {}),
    }
    say(f"COPY floor: {readings} readings in {seconds:.2f} s = {readings / seconds:,.0f}/s")
    truncate(url, HISTORY + DERIVED)
    checkpoint(url)

    rss.phase = "batch"
    spec = {
        "name": "batch",
        "mode": "batch",
        "port": server.port,
        "path": "/v1/telemetry",
        "keys": keys,
        "clients": args.batch_clients,
        "requests": n,
        "batch_size": args.batch_size,
        "devices": args.devices,
        "base_epoch": base_epoch,
        "max_seconds": 600,
    }
    with profiled(args.profile, server, "batch", 20, args.data_dir):
        result = loadgen(spec, args.data_dir, server.cpu)
    rss.phase = "idle"
    result["stored"] = scalar(url, COUNT_HISTORY)
    result["readings"] = readings
    return copy_floor, result


# --- the fleet dataset and analytics --------------------------------------------------------
def load_fleet(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Every vehicle and meter, one reading a minute for fleet_hours, by COPY; roll-ups, map."""
    devices, minutes = args.fleet_vehicles, args.fleet_hours * 60
    end_epoch = minute_now()
    start_epoch = end_epoch - 60 * (minutes - 1)
    truncate(url, (*HISTORY, *DERIVED, "vehicle_meter_map"))
    with connect(url) as conn:
        for table, prefix in (("fleet_vehicle", "VH"), ("fleet_meter", "MT")):
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (id, name, created_at) "
                    "SELECT %s || lpad(n::text, 5, '0'), '', now() FROM generate_series(0, %s) n "
                    "ON CONFLICT (id) DO NOTHING"
                ).format(sql.Identifier(table)),
                [prefix, devices - 1],
            )
        # vehicle i <-> meter i since a day before the data: every reading is attributed.
        conn.execute(
            "INSERT INTO vehicle_meter_map "
            "(vehicle_id, meter_id, valid_from, valid_to, created_at) "
            "SELECT 'VH' || lpad(n::text, 5, '0'), 'MT' || lpad(n::text, 5, '0'), "
            "to_timestamp(%s) - interval '1 day', NULL, now() FROM generate_series(0, %s) n",
            [start_epoch, devices - 1],
        )
        conn.commit()

    def copy(kind: str, table: str, columns: tuple[str, ...]) -> float:
        start = time.perf_counter()
        with connect(url) as conn:
            with conn.cursor().copy(
                sql.SQL("COPY {} ({}) FROM STDIN").format(
                    sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
                )
            ) as cp:
                for chunk in data.fleet_copy_chunks(kind, devices, minutes, end_epoch):
                    cp.write(chunk)
            conn.commit()
        return time.perf_counter() - start

    rows = 2 * devices * minutes
    say(f"loading the fleet dataset: {rows:,} history rows by COPY ...")
    t0 = time.perf_counter()
    in_parallel(
        lambda: copy("vehicle", "vehicle_telemetry", data.VEHICLE_COPY_COLUMNS),
        lambda: copy("meter", "meter_telemetry", data.METER_COPY_COLUMNS),
    )
    copy_s = time.perf_counter() - t0
    say(f"  COPY: {copy_s:.0f} s ({rows / copy_s:,.0f} rows/s); roll-ups ...")

    def rollup(statement: str) -> None:
        with connect(url) as conn:
            conn.execute("SET work_mem = '256MB'")
            conn.execute(statement)
            conn.commit()

    t0 = time.perf_counter()
    in_parallel(
        lambda: rollup(
            "INSERT INTO vehicle_hourly (vehicle_id, hour, kwh_dc, battery_temp_sum, readings) "
            "SELECT vehicle_id, date_trunc('hour', ts), sum(kwh_delivered_dc), sum(battery_temp), "
            "count(*) FROM vehicle_telemetry GROUP BY 1, 2"
        ),
        lambda: rollup(
            "INSERT INTO meter_hourly (meter_id, hour, kwh_ac, readings) "
            "SELECT meter_id, date_trunc('hour', ts), sum(kwh_consumed_ac), count(*) "
            "FROM meter_telemetry GROUP BY 1, 2"
        ),
    )
    rollup_s = time.perf_counter() - t0
    say(f"  roll-ups: {rollup_s:.0f} s; VACUUM ANALYZE ...")

    def vacuum(tables: tuple[str, ...]) -> None:
        with connect(url, autocommit=True) as conn:
            for table in tables:
                conn.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))

    t0 = time.perf_counter()
    in_parallel(
        lambda: vacuum(
            ("vehicle_telemetry", "vehicle_hourly", "vehicle_meter_map", "fleet_vehicle")
        ),
        lambda: vacuum(("meter_telemetry", "meter_hourly", "fleet_meter")),
    )
    vacuum_s = time.perf_counter() - t0
    checkpoint(url)
    say(f"  VACUUM ANALYZE: {vacuum_s:.0f} s")

    # The roll-ups must equal the raw rows: the fleet view reads them instead of history.
    with connect(url) as conn:
        consistent = conn.execute(
            "SELECT (SELECT (sum(kwh_delivered_dc), count(*)) FROM vehicle_telemetry) "
            "= (SELECT (sum(kwh_dc), sum(readings)::bigint) FROM vehicle_hourly) "
            "AND (SELECT (sum(kwh_consumed_ac), count(*)) FROM meter_telemetry) "
            "= (SELECT (sum(kwh_ac), sum(readings)::bigint) FROM meter_hourly)"
        ).fetchone()[0]
        size = conn.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c "
            "WHERE c.relkind = 'r' AND (c.relname LIKE 'vehicle_telemetry%%' "
            "OR c.relname LIKE 'meter_telemetry%%')"
        ).fetchone()[0]
    return {
        "vehicles": devices,
        "meters": devices,
        "hours": args.fleet_hours,
        "history_rows": rows,
        "copy_s": copy_s,
        "copy_rows_per_s": rows / copy_s,
        "rollup_s": rollup_s,
        "vacuum_analyze_s": vacuum_s,
        "rollups_equal_raw": bool(consistent),
        "history_bytes": int(size or 0),
        "start_epoch": start_epoch,
        "end_epoch": end_epoch,
    }


def check_performance(
    url: str, port: int, key: str, vehicle: str, fleet: dict[str, Any]
) -> dict[str, Any]:
    """The endpoint's totals for a fixed window equal the raw sums (a sanity check, not timed)."""
    start, end = fleet["start_epoch"] + 3600, fleet["end_epoch"] - 3600
    f = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start))
    t = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end))
    status, answer = http_get(port, f"/v1/analytics/performance/{vehicle}?from={f}&to={t}", key)
    meter = "MT" + vehicle[2:]
    with connect(url) as conn:
        dc = conn.execute(
            "SELECT sum(kwh_delivered_dc) FROM vehicle_telemetry WHERE vehicle_id = %s "
            "AND ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
            [vehicle, start, end],
        ).fetchone()[0]
        ac = conn.execute(
            "SELECT sum(kwh_consumed_ac) FROM meter_telemetry WHERE meter_id = %s "
            "AND ts >= to_timestamp(%s) AND ts < to_timestamp(%s)",
            [meter, start, end],
        ).fetchone()[0]
    ok = status == 200 and answer["total_dc"] == float(dc) and answer["total_ac"] == float(ac)
    return {"status": status, "endpoint_equals_raw_sums": ok}


def seed_query(url: str, vehicle: str, repeats: int = 3) -> dict[str, Any]:
    """The seed's JOIN for one vehicle: its time, and its totals against the correct ones
    (computed in the same transaction, so both see the same now())."""
    seed = (
        "SELECT SUM(v.kwh_delivered_dc), SUM(m.kwh_consumed_ac), AVG(v.battery_temp) "
        "FROM vehicle_telemetry v "
        "JOIN vehicle_meter_map map ON map.vehicle_id = v.vehicle_id "
        "JOIN meter_telemetry m ON m.meter_id = map.meter_id "
        "WHERE v.vehicle_id = %(v)s AND v.ts > now() - interval '24 hours' "
        "AND m.ts > now() - interval '24 hours'"
    )
    correct_dc = (
        "SELECT sum(kwh_delivered_dc), avg(battery_temp), count(*) FROM vehicle_telemetry "
        "WHERE vehicle_id = %(v)s AND ts > now() - interval '24 hours'"
    )
    correct_ac = (
        "SELECT sum(m.kwh_consumed_ac), count(*) FROM meter_telemetry m "
        "JOIN vehicle_meter_map map ON map.meter_id = m.meter_id "
        "AND m.ts >= map.valid_from AND (map.valid_to IS NULL OR m.ts < map.valid_to) "
        "WHERE map.vehicle_id = %(v)s AND m.ts > now() - interval '24 hours'"
    )
    times = []
    with connect(url) as conn:
        for _ in range(repeats):
            t0 = time.perf_counter()
            s_dc, s_ac, s_temp = conn.execute(seed, {"v": vehicle}).fetchone()
            times.append((time.perf_counter() - t0) * 1000)
            c_dc, c_temp, n_dc = conn.execute(correct_dc, {"v": vehicle}).fetchone()
            c_ac, n_ac = conn.execute(correct_ac, {"v": vehicle}).fetchone()
            conn.rollback()
    return {
        "vehicle": vehicle,
        "ms_median": statistics.median(times),
        "ms_all": times,
        "seed_total_dc": float(s_dc),
        "seed_total_ac": float(s_ac),
        "correct_total_dc": float(c_dc),
        "correct_total_ac": float(c_ac),
        "dc_ratio": float(Decimal(s_dc) / Decimal(c_dc)),
        "ac_ratio": float(Decimal(s_ac) / Decimal(c_ac)),
        "seed_efficiency": float(Decimal(s_dc) / Decimal(s_ac)),
        "correct_efficiency": float(Decimal(c_dc) / Decimal(c_ac)),
        "avg_temp_seed": s_temp,
        "avg_temp_correct": c_temp,
        "readings": {"vehicle": n_dc, "meter": n_ac},
    }


def analytics_phase(
    args: argparse.Namespace, url: str, server: Server, rss: RssSampler, keys: list[str]
) -> dict[str, Any]:
    rss.phase = "load"
    fleet = load_fleet(args, url)
    rng = random.Random(7)
    sample = data.vehicle_id(rng.randrange(args.fleet_vehicles))
    check = check_performance(url, server.port, keys[0], sample, fleet)
    warm = 20
    paths = [
        f"/v1/analytics/performance/{data.vehicle_id(rng.randrange(args.fleet_vehicles))}?hours=24"
        for _ in range(args.perf_requests + warm)
    ]
    rss.phase = "performance"
    perf = loadgen(
        {
            "name": "performance",
            "mode": "get",
            "port": server.port,
            "keys": keys,
            "paths": paths,
            "clients": args.analytics_clients,
            "warmup_requests": warm,
            "max_seconds": 300,
        },
        args.data_dir,
        server.cpu,
    )
    rss.phase = "fleet"
    fleet_warm = 3
    fleet_paths = ["/v1/analytics/fleet?hours=24"] * (args.fleet_requests + fleet_warm)
    with profiled(args.profile, server, "fleet", 10, args.data_dir):
        fleet_result = loadgen(
            {
                "name": "fleet",
                "mode": "get",
                "port": server.port,
                "keys": keys,
                "paths": fleet_paths,
                "clients": args.analytics_clients,
                "warmup_requests": fleet_warm,
                "max_seconds": 300,
                "keep_sample_body": True,
            },
            args.data_dir,
            server.cpu,
        )
    body = fleet_result.pop("sample_body", {})
    fleet_result["count"] = body.get("count")
    fleet_result["flagged_first"] = bool(body.get("results")) and body["results"][0]["flagged"]
    rss.phase = "idle"
    return {
        "dataset": fleet,
        "check": check,
        "performance": perf,
        "fleet": fleet_result,
        "seed_query": seed_query(url, sample),
    }


# --- the report -----------------------------------------------------------------------------
def machine() -> dict[str, Any]:
    model = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cores": os.cpu_count(),
        "cpu": model,
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
    }


def _cpu(phase: dict[str, Any]) -> str:
    """Cores the server used in the phase: gunicorn workers + PostgreSQL (of 2)."""
    cores = phase.get("cpu_cores")
    if not cores:
        return ""
    pg = cores.get("postgres")
    return f"{cores['gunicorn']:.2f} + " + (f"{pg:.2f}" if pg is not None else "?")


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def _fmt(value: float | None, unit: str = "", digits: int = 0) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}{unit}"


def table(results: dict[str, Any]) -> str:
    rows: list[tuple[str, ...]] = []
    r = results
    if "single" in r and "floor" in r:
        s, f = r["single"], r["floor"]
        ratio = s["ok_per_s"] / f["ok_per_s"] if f["ok_per_s"] else 0
        r["ratios"]["single_vs_floor"] = ratio
        rows.append(
            (
                f"single-reading ingest ({r['options']['clients']} clients, {s['seconds']:.0f} s)",
                f"{_fmt(s['ok_per_s'])} readings/s, p50 {_fmt(s['p50_ms'], ' ms', 1)}, "
                f"p99 {_fmt(s['p99_ms'], ' ms', 1)}",
                _cpu(s),
                f"{ratio:.2f} x floor",
                f">= {TARGETS['single_vs_floor']:.2f} x: "
                + _verdict(ratio >= TARGETS["single_vs_floor"]),
            )
        )
        rows.append(
            (
                "  framework floor (DRF POST, no DB)",
                f"{_fmt(f['ok_per_s'])} requests/s, p50 {_fmt(f['p50_ms'], ' ms', 1)}, "
                f"p99 {_fmt(f['p99_ms'], ' ms', 1)}",
                _cpu(f),
                "",
                "",
            )
        )
    if "batch" in r and "copy_floor" in r:
        b, c = r["batch"], r["copy_floor"]
        ratio = b["readings_per_s"] / c["readings_per_s"] if c["readings_per_s"] else 0
        r["ratios"]["batch_vs_copy"] = ratio
        rows.append(
            (
                f"batch ingest ({r['options']['batch_size']}/request, "
                f"{r['options']['batch_clients']} clients)",
                f"{_fmt(b['readings_per_s'])} readings/s, p50 {_fmt(b['p50_ms'], ' ms', 0)}, "
                f"p99 {_fmt(b['p99_ms'], ' ms', 0)}",
                _cpu(b),
                f"{ratio:.2f} x COPY",
                f">= {TARGETS['batch_vs_copy']:.2f} x: "
                + _verdict(ratio >= TARGETS["batch_vs_copy"]),
            )
        )
        rows.append(
            (
                "  COPY floor (same readings, 2 streams)",
                f"{_fmt(c['readings_per_s'])} readings/s "
                f"({c['readings']:,} in {c['seconds']:.2f} s)",
                _cpu(c),
                "",
                "",
            )
        )
    if "analytics" in r:
        a = r["analytics"]
        d = a["dataset"]
        rows.append(
            (
                "fleet dataset",
                f"{d['history_rows']:,} rows ({d['vehicles']:,} vehicles + "
                f"{d['meters']:,} meters x {d['hours']} h); COPY {d['copy_s']:.0f} s, "
                f"roll-ups {d['rollup_s']:.0f} s, "
                f"VACUUM ANALYZE {d['vacuum_analyze_s']:.0f} s",
                "",
                f"{d['history_bytes'] / 2**30:.1f} GiB",
                "roll-ups = raw: " + ("yes" if d["rollups_equal_raw"] else "NO"),
            )
        )
        p, fl = a["performance"], a["fleet"]
        rows.append(
            (
                f"per-vehicle performance (?hours=24, {p['requests']} random vehicles)",
                f"p50 {_fmt(p['p50_ms'], ' ms', 1)}, p99 {_fmt(p['p99_ms'], ' ms', 1)}",
                _cpu(p),
                "= raw sums: " + ("yes" if a["check"]["endpoint_equals_raw_sums"] else "NO"),
                f"p99 <= {TARGETS['performance_p99_ms']:.0f} ms: "
                + _verdict((p["p99_ms"] or 1e9) <= TARGETS["performance_p99_ms"]),
            )
        )
        rows.append(
            (
                f"fleet endpoint (?hours=24, {fl['requests']} requests)",
                f"p50 {_fmt(fl['p50_ms'], ' ms', 1)}, p99 {_fmt(fl['p99_ms'], ' ms', 1)}",
                _cpu(fl),
                f"{fl['count']} vehicles",
                f"p99 <= {TARGETS['fleet_p99_ms']:.0f} ms: "
                + _verdict((fl["p99_ms"] or 1e9) <= TARGETS["fleet_p99_ms"]),
            )
        )
        q = a["seed_query"]
        rows.append(
            (
                f"seed's JOIN query ({q['vehicle']}, 24 h)",
                f"{q['ms_median']:,.0f} ms; DC {q['seed_total_dc']:,.1f} vs "
                f"{q['correct_total_dc']:,.1f}, AC {q['seed_total_ac']:,.1f} vs "
                f"{q['correct_total_ac']:,.1f}",
                "",
                f"x{q['dc_ratio']:,.0f} DC, x{q['ac_ratio']:,.0f} AC",
                "(wrong by design)",
            )
        )
    peak = max(r["rss"]["worker_peak_per_phase_mb"].values(), default=0)
    rows.append(
        (
            f"peak worker RSS ({r['rss']['workers_seen']} worker processes)",
            f"{peak:.0f} MB",
            "",
            "",
            f"<= {TARGETS['worker_rss_mb']:.0f} MB: " + _verdict(peak <= TARGETS["worker_rss_mb"]),
        )
    )
    head = ("measurement", "result", "server CPU", "ratio / check", "target")
    widths = [max(len(row[i]) for row in [head, *rows]) for i in range(len(head))]
    lines = [
        "| " + " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + " |",
        "|" + "|".join("-" * (w + 2) for w in widths) + "|",
    ]
    for row in rows:
        lines.append("| " + " | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.data_dir = args.data_dir.resolve()
    args.data_dir.mkdir(parents=True, exist_ok=True)
    started = time.time()
    config, where = database_server(args.data_dir)
    embedded = where.startswith("embedded")
    admin_url = _url(config, str(config.get("NAME") or "postgres"))
    url = _url(config, BENCH_DB)
    say(f"database: {BENCH_DB} on the {where}")
    recreate_database(admin_url)

    env = {
        k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("POSTGRES_")
    }
    env.update(
        DATABASE_URL=url,
        DATA_DIR=str(args.data_dir),
        SECRET_KEY=secrets.token_urlsafe(40),
        DEBUG="false",
        DJANGO_SETTINGS_MODULE="bench.settings",
        HOST="127.0.0.1",
        PORT=str(free_port()),
        PYTHONUNBUFFERED="1",
    )
    # Per-worker metrics files (prometheus_client multiprocess mode) in our folder, fresh per run,
    # rather than a new temporary folder per start.
    metrics_dir = args.data_dir / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir()
    env["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if args.workers:
        env["WEB_CONCURRENCY"] = str(args.workers)
    manage(env, "migrate", "--noinput", "--verbosity", "0")
    manage(env, "maintain_partitions", "--verbosity", "0")
    device_keys = bench_keys(env, "device", DEVICE_KEYS)
    analyst_keys = bench_keys(env, "analyst", ANALYST_KEYS)

    server = Server(env, args.data_dir / "gunicorn.log")
    rss = RssSampler(server)
    results: dict[str, Any] = {
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
    try:
        server.start()
        server.cpu = CpuMeter(server, postmaster_pid(args.data_dir) if embedded else None)
        rss.start()
        results["gunicorn_workers"] = len(server.workers())
        say(f"gunicorn on 127.0.0.1:{server.port} with {results['gunicorn_workers']} workers")
        if "floor" not in args.skip:
            say("framework floor: POST /bench/floor ...")
            results["floor"] = single_phase(args, server, rss, "floor", "/bench/floor", [])
            say(f"  {results['floor']['ok_per_s']:,.0f} requests/s")
        if "single" not in args.skip:
            say("single-reading ingest: POST /v1/telemetry ...")
            truncate(url, HISTORY + DERIVED)
            results["single"] = s = single_phase(
                args, server, rss, "single", "/v1/telemetry", device_keys
            )
            s["stored"] = scalar(url, COUNT_HISTORY)
            say(f"  {s['ok_per_s']:,.0f} readings/s, p99 {_fmt(s['p99_ms'], ' ms', 1)}")
        if "batch" not in args.skip:
            say("COPY floor, then batch ingest of the same readings ...")
            floor, batch = batch_phase(args, url, server, rss, device_keys)
            results["copy_floor"], results["batch"] = floor, batch
            say(f"  batch: {results['batch']['readings_per_s']:,.0f} readings/s")
        if "analytics" not in args.skip:
            results["analytics"] = analytics_phase(args, url, server, rss, analyst_keys)
    finally:
        # Each step on its own: a failure in one must not leave the server running.
        with contextlib.suppress(Exception):
            rss.stop()
        server.stop()
        if not args.keep_db:
            try:
                drop_database(admin_url)
            except psycopg.Error as exc:
                say(f"could not drop {BENCH_DB}: {exc}")
    results["rss"] = {
        "worker_peak_per_phase_mb": {k: v / 2**20 for k, v in rss.peak.items()},
        "master_peak_mb": rss.master_peak / 2**20,
        "workers_seen": len(rss.worker_pids),
    }
    results["elapsed_s"] = time.time() - started
    text = table(results)
    results["table"] = text
    args.out.write_text(json.dumps(results, indent=2, default=str) + "\n")
    print()
    print(text)
    print()
    m = results["machine"]
    say(
        f"{m['cores']} cores, {m['cpu']}, {m['memory_gib']} GiB; {where}; "
        f"{results['elapsed_s'] / 60:.1f} min; results in {args.out}"
    )
    return 0
