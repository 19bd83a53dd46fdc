"""Fault test: load the real server, kill -9 a gunicorn worker, then every worker at once,
restart PostgreSQL, then make it accept no connection for 20 s; then prove that no accepted
reading was lost or stored twice.

Clients post unique readings, one per request, and retry as a device would on a 503 or a broken
connection (after Retry-After, capped). At the end every reading that got a 200 must be stored
exactly once, and the figures must add up:

    stored rows == readings sent == accepted + duplicates (over the 200 responses)

A reading's first attempt can commit and still lose its answer: the worker is killed between
COMMIT and the response, or PostgreSQL shuts down after the commit record is flushed but before
the acknowledgement reaches the app (a 503). The retry then comes back as a duplicate, which is
the idempotency we promise, so a duplicate is allowed exactly for readings that had an
ambiguous attempt (503 or broken connection) before their 200, and for no other reading.
Any 5xx other than 503 fails the run.

The load is driven by time, not by a reading count: clients keep posting new readings until two
seconds after PostgreSQL is back, so every fault lands mid-load however fast the machine is, and
the run proves that requests succeed again after the restart.

    .venv/bin/python -m tests.fault.fault_run [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.support.pgcluster import App, Cluster, app_env, create_key, prepare_database

RETRY_CAP_SECONDS = 0.5
GIVE_UP_AFTER_SECONDS = 60


class Client(threading.Thread):
    def __init__(
        self,
        number: int,
        app: App,
        key: str,
        stop: threading.Event,
        figures: Counter,
        lock: threading.Lock,
    ) -> None:
        super().__init__(daemon=True)
        self.number, self.app, self.key, self.stop = number, app, key, stop
        self.figures, self.lock = figures, lock
        self.sent = 0
        self.ok_keys: list[tuple[str, str]] = []
        # Readings answered "duplicate" with no earlier ambiguous attempt: stored twice or
        # double counted, either way a bug.
        self.unexplained_duplicates: list[tuple[str, str]] = []

    def post(self, body: bytes) -> tuple[int | None, dict[str, Any], dict[str, str]]:
        connection = http.client.HTTPConnection("127.0.0.1", self.app.port, timeout=15)
        try:
            connection.request(
                "POST",
                "/v1/telemetry",
                body,
                {"Content-Type": "application/json", "Authorization": f"Api-Key {self.key}"},
            )
            response = connection.getresponse()
            payload = json.loads(response.read() or b"{}")
            return response.status, payload, dict(response.getheaders())
        except (OSError, http.client.HTTPException, json.JSONDecodeError):
            return None, {}, {}
        finally:
            connection.close()

    def run(self) -> None:
        start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(hours=2)
        i = -1
        # A reading in flight when `stop` is set is still retried to its 200; only new ones stop.
        while not self.stop.is_set():
            i += 1
            self.sent += 1
            meter_id = f"FAULT-{self.number:02d}"
            ts = (start + timedelta(seconds=i)).isoformat()
            body = json.dumps(
                {"meterId": meter_id, "kwhConsumedAc": 0.25, "voltage": 230.0, "timestamp": ts}
            ).encode()
            deadline = time.monotonic() + GIVE_UP_AFTER_SECONDS
            ambiguous_attempts = 0
            while True:
                status, payload, headers = self.post(body)
                with self.lock:
                    self.figures["requests"] += 1
                    self.figures[f"status {status or 'connection error'}"] += 1
                if status == 200:
                    self.ok_keys.append((meter_id, ts))
                    if payload["duplicates"] and not ambiguous_attempts:
                        self.unexplained_duplicates.append((meter_id, ts))
                    with self.lock:
                        self.figures["accepted"] += payload["accepted"]
                        self.figures["duplicates"] += payload["duplicates"]
                    break
                if status not in (None, 503) or time.monotonic() > deadline:
                    with self.lock:
                        self.figures["gave up"] += 1
                    break
                ambiguous_attempts += 1
                retry_after = float(headers.get("Retry-After", "0.1"))
                time.sleep(min(retry_after, RETRY_CAP_SECONDS))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()

    cluster = Cluster()
    env = app_env(cluster, THROTTLE_DEVICE_RATE="1000000/min")
    app = None
    try:
        prepare_database(env)
        key = create_key(env, "fault", "device")
        app = App({**env, "GUNICORN_TIMEOUT": "20"}, workers=3)
        figures: Counter = Counter()
        lock = threading.Lock()
        stop = threading.Event()
        clients = [Client(n, app, key, stop, figures, lock) for n in range(args.clients)]
        started = time.monotonic()
        for client in clients:
            client.start()

        def say(what: str) -> None:
            print(f"t={time.monotonic() - started:5.1f}s  {what}", flush=True)

        def count(name: str) -> int:
            with lock:
                return figures[name]

        time.sleep(2)
        victim = app.worker_pids()[0]
        os.kill(victim, signal.SIGKILL)
        say(f"kill -9 gunicorn worker {victim}")
        time.sleep(2)
        victims = app.worker_pids()
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        say(f"kill -9 every gunicorn worker at once: {victims}")
        time.sleep(3)
        say("stopping PostgreSQL")
        cluster.stop()
        time.sleep(3)
        cluster.start()
        say("PostgreSQL started again")
        before_recovery = count("status 200")
        time.sleep(3)
        before_refusal = count("status 503")
        terminated = cluster.stop_accepting_connections()
        say(f"PostgreSQL stops accepting connections for 20 s ({terminated} sessions cut)")
        time.sleep(20)
        cluster.accept_connections()
        refusal_503s = count("status 503") - before_refusal
        say(f"PostgreSQL accepts connections again ({refusal_503s} x 503 meanwhile)")
        before_second_recovery = count("status 200")
        time.sleep(3)
        stop.set()
        print(f"t={time.monotonic() - started:5.1f}s  clients stop sending", flush=True)

        for client in clients:
            client.join(timeout=600)
        elapsed = time.monotonic() - started

        sent = sum(c.sent for c in clients)
        ok_keys = [k for c in clients for k in c.ok_keys]
        stored = cluster.query(
            "SELECT meter_id, ts FROM meter_telemetry WHERE meter_id LIKE 'FAULT-%%'"
        )
        stored_keys = {(m, ts.astimezone(UTC).isoformat()) for m, ts in stored}
        lost = [k for k in ok_keys if k not in stored_keys]

        print(f"\nfault test: {args.clients} clients, {sent} readings in {elapsed:.1f} s")
        for name in sorted(figures):
            print(f"  {name:<24} {figures[name]:>7}")
        print(f"  {'readings sent':<24} {sent:>7}")
        print(f"  {'readings with a 200':<24} {len(set(ok_keys)):>7}")
        print(f"  {'rows stored':<24} {len(stored):>7}")
        print(f"  {'200s not stored (lost)':<24} {len(lost):>7}")

        problems = []
        if lost:
            problems.append(f"{len(lost)} readings got a 200 but are not stored")
        if len(stored) != len(stored_keys):
            problems.append("a reading is stored twice")
        if len(set(ok_keys)) != sent or figures["gave up"]:
            problems.append("some readings never got a 200")
        if len(stored) != sent or figures["accepted"] + figures["duplicates"] != sent:
            problems.append("stored rows, readings sent and accepted counts do not add up")
        unexplained = [k for c in clients for k in c.unexplained_duplicates]
        if unexplained:
            problems.append(
                f"{len(unexplained)} readings answered as duplicates on their first attempt"
            )
        bad = [k for k in figures if k.startswith("status 5") and k != "status 503"]
        if bad:
            problems.append(f"server errors: {bad}")
        if figures["status 503"] == 0:
            problems.append("the PostgreSQL restart caused no 503: the test did not bite")
        if figures["status 200"] == before_recovery:
            problems.append("no request succeeded after PostgreSQL came back")
        if refusal_503s == 0:
            problems.append("20 s without new connections caused no 503: the test did not bite")
        if figures["status 200"] == before_second_recovery:
            problems.append("no request succeeded after PostgreSQL accepted connections again")
        for problem in problems:
            print(f"FAIL: {problem}")
        print("fault test passed" if not problems else "fault test FAILED")
        return 1 if problems else 0
    finally:
        if app is not None:
            app.stop()
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main())
