"""The bench database: which server, the fleet_bench database on it, and the SQL helpers.

fleet_bench is the bench's own, dropped and re-created at every run, on the configured server
or on an embedded PostgreSQL under bench/.data (never the dev server in .data/).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import psycopg
from psycopg import sql

from bench import app
from bench.common import BASE_DIR, run_python, say

BENCH_DB = "fleet_bench"
HISTORY = ("vehicle_telemetry", "meter_telemetry")
DERIVED = ("vehicle_hourly", "meter_hourly", "current_vehicle_status", "current_meter_status")
COUNT_HISTORY = (
    "SELECT (SELECT count(*) FROM vehicle_telemetry) + (SELECT count(*) FROM meter_telemetry)"
)
# Keys are throttled one by one (per worker): the load goes through pools of keys, as a fleet's
# devices and gateways each have their own, so the throttle is exercised but never the limit.
DEVICE_KEYS = 64
ANALYST_KEYS = 16


# --- which server ---------------------------------------------------------------------------
def url_of(config: dict[str, Any], name: str) -> str:
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

    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)
    configured = app.resolve(app.CONFIGURED_DATABASE)(os.environ)
    if configured is not None:
        return configured, "configured server"
    from pgserver import get_server

    data_dir.mkdir(parents=True, exist_ok=True)
    # Ours alone, so stopped when this process exits (embedded_database reuses this handle).
    get_server(data_dir / "pg", cleanup_mode="stop")
    return app.resolve(app.EMBEDDED_DATABASE)(data_dir), f"embedded PostgreSQL in {data_dir}"


def postmaster_pid(data_dir: Path) -> int | None:
    """The embedded server's postmaster, to count PostgreSQL's CPU (a remote one can't be)."""
    try:
        return int((data_dir / "pg" / "postmaster.pid").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


# --- the bench database ---------------------------------------------------------------------
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


def prepare(env: dict[str, str]) -> tuple[list[str], list[str]]:
    """Migrations and partitions in the bench database, then (device keys, analyst keys)."""
    for command in (app.MIGRATE, app.PARTITIONS):
        run_python(env, f"{app.MANAGE} {' '.join(command)}", app.MANAGE, *command)
    return bench_keys(env, "device", DEVICE_KEYS), bench_keys(env, "analyst", ANALYST_KEYS)


def bench_keys(env: dict[str, str], role: str, count: int) -> list[str]:
    return run_python(env, f"creating {role} keys", "-m", "bench.keys", role, str(count)).split()


# --- SQL helpers ----------------------------------------------------------------------------
def truncate(url: str, tables: tuple[str, ...]) -> None:
    with connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("TRUNCATE {}").format(sql.SQL(", ").join(sql.Identifier(t) for t in tables))
        )


def row(conn: psycopg.Connection, query: str, params: Any = None) -> tuple[Any, ...]:
    """The one row a query returns (an aggregate always returns one)."""
    found = conn.execute(query, params).fetchone()
    if found is None:
        raise RuntimeError(f"no row from {query!r}")
    return tuple(found)


def scalar(url: str, query: str, params: Any = None) -> Any:
    with connect(url) as conn:
        return row(conn, query, params)[0]


def checkpoint(url: str) -> None:
    """Flush the load's dirty pages now rather than during a measured phase."""
    try:
        with connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.Error as exc:  # not a superuser on a configured server
        say(f"CHECKPOINT skipped ({exc.__class__.__name__})")


def copy_in(
    conn: psycopg.Connection, table: str, columns: tuple[str, ...], chunks: Iterable[str]
) -> None:
    """COPY the text chunks into table's columns and commit."""
    with conn.cursor().copy(
        sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
    ) as cp:
        for chunk in chunks:
            cp.write(chunk)
    conn.commit()


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
