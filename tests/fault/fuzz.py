"""Fuzz the real service with schemathesis against its own /v1/schema, with valid API keys.

Bounded (examples per operation and a time budget) so it runs in CI in a few minutes. Checks:
no 5xx, and every status code, content type, header and body matches the schema.

    .venv/bin/python -m tests.fault.fuzz [--max-examples N]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from tests.support.pgcluster import App, Cluster, app_env, create_key, manage, prepare_database

CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
    ]
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-examples", type=int, default=60)
    parser.add_argument("--max-time", type=int, default=120, help="seconds per run")
    args = parser.parse_args()

    cluster = Cluster()
    # Throttling is tested elsewhere; here it would only turn fuzz cases into 429s.
    env = app_env(cluster, THROTTLE_DEVICE_RATE="100000/min", THROTTLE_ANALYST_RATE="100000/min")
    app = None
    try:
        prepare_database(env)
        manage(env, "assign_meter", "VH001", "MT001", "--at", "2026-01-01T00:00:00Z")
        keys = {role: create_key(env, f"fuzz-{role}", role) for role in ("device", "analyst")}
        app = App(env, workers=2)
        failed = False
        for role, selection in (
            ("device", ["--include-method", "POST"]),
            ("analyst", ["--include-method", "GET"]),
        ):
            print(f"== schemathesis: {role} key, {' '.join(selection)}", flush=True)
            command = [
                str(Path(sys.executable).parent / "schemathesis"),
                "run",
                f"{app.url}/v1/schema",
                "--url",
                app.url,
                "--header",
                f"Authorization: Api-Key {keys[role]}",
                "--checks",
                CHECKS,
                "--max-examples",
                str(args.max_examples),
                "--max-time",
                str(args.max_time),
                "--request-timeout",
                "30",
                "--seed",
                "20261130",
                "--suppress-health-check",
                "all",
                # Valid and invalid data alike, NUL bytes included: path and query values a
                # hostile client could send (the schema types from/to as date-time, so whole-
                # calendar instants come too).
                "--mode",
                "all",
                "--generation-allow-x00",
                "true",
                "--warnings",
                "off",
                *selection,
            ]
            failed |= subprocess.run(command, timeout=args.max_time + 240).returncode != 0
        if failed:
            print("== the app's log (tail)\n" + app.log_tail(), flush=True)
        return 1 if failed else 0
    finally:
        if app is not None:
            app.stop()
        cluster.destroy()


if __name__ == "__main__":
    sys.exit(main())
