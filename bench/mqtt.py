"""The MQTT phase: readings/s from publishers to committed rows, and publish-to-commit latency.

A mosquitto of its own with the production configuration (tests.support.mosquitto.Broker:
deploy/mosquitto/mosquitto.conf, TLS, the ACLs), `manage.py ingest_mqtt` consumers in the
shared group on the bench database (as many as --mqtt-consumers, each a process as production
runs them), and one publisher process (bench.mqtt_load) as fleet-ops on the ingest listener,
the user allowed to publish on every device's topic. Two runs over the same consumers:

(a) single-reading messages, each on its device's topic, over --devices devices (vehicles and
    meters), as the HTTP single-reading phase posts them;
(b) gateway batches of --batch-size readings (half vehicle, half meter), the HTTP batch
    phase's bodies, on 64 gateways' topics.

Each twice. First as fast as the publisher goes: the rate is readings / (when the consumers'
fleet_mqtt_readings_stored_total reached them all - the first publish), and the history row
count is checked against it. The publisher waits for the broker, not for commits, so that run
ends with a queue at the broker and its latencies are mostly that queue. Then for
--mqtt-paced-seconds at 70% of the rate just measured, for the latency of a consumer that
keeps up: the consumers' fleet_mqtt_publish_to_commit_seconds histogram (from each message's
published-at user property; one clock, this machine's), p50 and p99 interpolated within its
buckets (about 25% apart).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import psutil

from bench import app
from bench.common import BASE_DIR, BIN, minute_now, say
from bench.database import COUNT_HISTORY, DERIVED, HISTORY, checkpoint, scalar, truncate
from bench.server import free_port

LATENCY = "fleet_mqtt_publish_to_commit_seconds"
STORED = "fleet_mqtt_readings_stored_total"
DUPLICATES = "fleet_mqtt_readings_duplicate_total"
GATEWAYS = 64
PACED_SHARE = 0.7  # of the rate measured as fast as it goes, for the latency run
Samples = dict[str, float]  # "name{labels}" -> value


class Consumers:
    """`manage.py ingest_mqtt` processes in the shared group, and their metrics ports."""

    def __init__(self, env: dict[str, str], broker: Any, count: int, log_dir: Path) -> None:
        self.ports: list[int] = []
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_dir = log_dir
        base = {k: v for k, v in env.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
        for i in range(count):
            port = free_port()
            # A fresh log: _wait_subscribed reads it for this start's "subscribed to".
            log = (log_dir / f"ingest-mqtt-{i}.log").open("wb")
            self.procs.append(
                subprocess.Popen(
                    [str(BIN / "python"), app.MANAGE, "ingest_mqtt"],
                    cwd=BASE_DIR,
                    env={
                        **base,
                        # The loopback listener, as consumers on the broker's host use it.
                        "MQTT_URL": broker.local_url,
                        "MQTT_CLIENT_ID": f"bench-ingest-{i}",
                        "MQTT_METRICS_PORT": str(port),
                        "LOG_LEVEL": "INFO",
                    },
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
            self.ports.append(port)
        for i in range(count):
            self._wait_subscribed(i)

    def _wait_subscribed(self, i: int) -> None:
        deadline = time.monotonic() + 60
        path = self.log_dir / f"ingest-mqtt-{i}.log"
        while time.monotonic() < deadline:
            if self.procs[i].poll() is not None:
                raise SystemExit(f"ingest_mqtt exited; see {path}")
            if "subscribed to" in path.read_text(errors="replace"):
                return
            time.sleep(0.1)
        raise SystemExit(f"ingest_mqtt did not subscribe in 60 s; see {path}")

    def metrics(self) -> Samples:
        """Every sample of every consumer's metrics, added up."""
        total: Samples = defaultdict(float)
        for port in self.ports:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
                for line in r.read().decode().splitlines():
                    if line and not line.startswith("#"):
                        name, _, value = line.rpartition(" ")
                        total[name] += float(value)
        return total

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs]

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def percentile(before: Samples, after: Samples, q: float) -> float | None:
    """The q-th percentile (ms) of the latency histogram's growth between two scrapes."""
    buckets: list[tuple[float, float]] = []
    for name, count in after.items():
        if name.startswith(f'{LATENCY}_bucket{{le="'):
            le = name.split('le="')[1].rstrip('"}')
            buckets.append((float(le), count - before.get(name, 0.0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0.0
    if not total:
        return None
    rank = total * q / 100
    low, below = 0.0, 0.0
    for bound, cumulative in buckets:
        if cumulative >= rank:
            if bound == float("inf"):
                return low * 1000
            inside = cumulative - below
            return (low + (bound - low) * ((rank - below) / inside if inside else 1)) * 1000
        low, below = bound, cumulative
    return None


def _cpu(pids: list[int]) -> float:
    seconds = 0.0
    for pid in pids:
        try:
            proc = psutil.Process(pid)
            t = proc.cpu_times()
            seconds += t.user + t.system + t.children_user + t.children_system
            for child in proc.children():
                c = child.cpu_times()
                seconds += c.user + c.system
        except psutil.Error:
            pass
    return seconds


def run_publisher(spec: dict[str, Any], work_dir: Path) -> dict[str, Any]:
    path = work_dir / f"spec-mqtt-{spec['mode']}.json"
    path.write_text(json.dumps(spec))
    done = subprocess.run(
        [str(BIN / "python"), "-m", "bench.mqtt_load", str(path)],
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=spec["max_seconds"] + 120,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode or not lines:
        raise SystemExit(f"mqtt_load {spec['mode']} failed:\n{done.stderr}")
    return dict(json.loads(lines[-1]))


def one_run(
    args: argparse.Namespace,
    url: str,
    broker: Any,
    consumers: Consumers,
    spec: dict[str, Any],
    postmaster: int | None,
) -> dict[str, Any]:
    truncate(url, HISTORY + DERIVED)
    checkpoint(url)
    before = consumers.metrics()
    target = before.get(STORED, 0.0) + spec["readings"]
    watched = {
        "consumers": consumers.pids(),
        "postgres": [postmaster] if postmaster else [],
        "broker": [broker.process.pid] if broker.process else [],
    }
    cpu0 = {k: _cpu(v) for k, v in watched.items()}
    wall0 = time.perf_counter()
    published = run_publisher(spec, args.data_dir)
    deadline = time.monotonic() + 300
    after = consumers.metrics()
    while after[STORED] + after[DUPLICATES] < target + before[DUPLICATES]:
        if time.monotonic() > deadline:
            raise SystemExit(f"MQTT {spec['mode']}: {after[STORED] - before[STORED]:.0f} stored")
        time.sleep(0.02)
        after = consumers.metrics()
    committed = time.time()
    wall = time.perf_counter() - wall0
    cores = {k: round((_cpu(v) - cpu0[k]) / wall, 2) for k, v in watched.items()}
    cores["publisher"] = round(published["cpu_s"] / wall, 2)
    seconds = committed - published["first_publish"]
    stored_rows = scalar(url, COUNT_HISTORY)
    batches = after["fleet_mqtt_batch_messages_count"] - before["fleet_mqtt_batch_messages_count"]
    batch_readings = (
        after["fleet_mqtt_batch_readings_sum"] - before["fleet_mqtt_batch_readings_sum"]
    )
    return {
        "mode": spec["mode"],
        "messages": published["messages"],
        "readings": published["readings"],
        "stored": stored_rows,
        "duplicates": after[DUPLICATES] - before[DUPLICATES],
        "refused_by_broker": published["refused"],
        "seconds": seconds,
        "readings_per_s": published["readings"] / seconds if seconds else 0.0,
        "publish_seconds": published["publish_seconds"],
        "publish_per_s": published["messages"] / published["publish_seconds"]
        if published["publish_seconds"]
        else 0.0,
        "p50_ms": percentile(before, after, 50),
        "p99_ms": percentile(before, after, 99),
        "batches": batches,
        "readings_per_batch": batch_readings / batches if batches else 0.0,
        "cpu_cores": cores,
    }


def measured(
    args: argparse.Namespace,
    url: str,
    broker: Any,
    consumers: Consumers,
    spec: dict[str, Any],
    postmaster: int | None,
    per_message: int,
) -> dict[str, Any]:
    """The run as fast as it goes, then the paced one; the second's latency is the answer."""
    result = one_run(args, url, broker, consumers, spec, postmaster)
    say(f"  {result['readings_per_s']:,.0f} readings/s (p99 {result['p99_ms'] or 0:,.0f} ms)")
    rate = PACED_SHARE * result["readings_per_s"] / per_message
    count = max(1, min(spec["count"], int(rate * args.mqtt_paced_seconds)))
    paced_spec = {**spec, "rate": rate, "count": count, "readings": count * per_message}
    paced = one_run(args, url, broker, consumers, paced_spec, postmaster)
    say(
        f"  at {rate * per_message:,.0f} readings/s: publish-to-commit p50 "
        f"{paced['p50_ms'] or 0:.1f} ms, p99 {paced['p99_ms'] or 0:.1f} ms"
    )
    result["saturated_p50_ms"], result["saturated_p99_ms"] = result["p50_ms"], result["p99_ms"]
    result["p50_ms"], result["p99_ms"] = paced["p50_ms"], paced["p99_ms"]
    result["paced"] = paced
    return result


def mqtt_phase(
    args: argparse.Namespace, url: str, env: dict[str, str], postmaster: int | None
) -> dict[str, Any]:
    # The tests' broker: the production file with ports and folders substituted.
    from tests.support.mosquitto import OPS_PASSWORD, OPS_USER, Broker, missing

    why = missing()
    if why:
        say(f"MQTT phase skipped: {why}")
        return {"skipped": why}
    broker = Broker()
    consumers = None
    try:
        consumers = Consumers(env, broker, args.mqtt_consumers, args.data_dir)
        say(f"mosquitto on 127.0.0.1:{broker.ports['local']}, {args.mqtt_consumers} consumer(s)")
        common = {
            # Loopback without TLS: what devices' TLS costs is the broker's, and the load
            # generator's CPU is taken from the consumers and PostgreSQL.
            "port": broker.ports["local"],
            "username": OPS_USER,
            "password": OPS_PASSWORD,
            "ca_file": "",
            "client_id": "bench-publisher",
            "devices": args.devices,
            "window": args.mqtt_window,
            "max_seconds": 600,
            "gateways": GATEWAYS,
        }
        single_spec = {
            **common,
            "mode": "single",
            "count": args.mqtt_messages,
            "readings": args.mqtt_messages,
            "base_epoch": minute_now() - 60,
        }
        say(f"MQTT single-reading messages: {args.mqtt_messages:,} over {args.devices:,} devices")
        single = measured(args, url, broker, consumers, single_spec, postmaster, 1)
        gateway_spec = {
            **common,
            "mode": "gateway",
            "count": args.mqtt_batches,
            "batch_size": args.batch_size,
            "readings": args.mqtt_batches * args.batch_size,
            "base_epoch": minute_now() - 6 * 3600,
        }
        say(f"MQTT gateway batches: {args.mqtt_batches:,} x {args.batch_size}")
        gateway = measured(args, url, broker, consumers, gateway_spec, postmaster, args.batch_size)
        return {"consumers": args.mqtt_consumers, "single": single, "gateway": gateway}
    finally:
        if consumers is not None:
            consumers.stop()
        broker.destroy()
