"""A disposable PostgreSQL server of our own, to stop and start under a running app.

Built on pgserver's bundled binaries, in a temporary folder; never the shared development
server or the machine's.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import warnings
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import psycopg

ROOT = Path(__file__).resolve().parents[2]
warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")


class Cluster:
    def __init__(self) -> None:
        import pgserver

        self.dir = Path(tempfile.mkdtemp(prefix="fleet-pg-"))
        os.chmod(self.dir, 0o755)
        self.server = pgserver.get_server(self.dir / "pg", cleanup_mode=None)
        query = dict(p.split("=", 1) for p in urlsplit(self.server.get_uri()).query.split("&"))
        self.socket_dir = unquote(query["host"])
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            conn.execute("CREATE DATABASE fleet")

    @property
    def admin_dsn(self) -> str:
        return f"host={self.socket_dir} user=postgres dbname=postgres"

    @property
    def database_url(self) -> str:
        return f"postgres://postgres@{quote(self.socket_dir, safe='')}/fleet"

    def stop(self) -> None:
        """Stop the server (fast shutdown: open connections are cut, as in a crash or failover)."""
        from pgserver import _commands

        # pgserver makes its command functions at import time (setattr), unseen by mypy.
        _commands.pg_ctl(  # type: ignore[attr-defined]
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()

    def _postmaster_pid(self) -> int:
        return int((Path(self.server.pgdata) / "postmaster.pid").read_text().split()[0])

    def stop_accepting_connections(self) -> int:
        """Freeze the postmaster (SIGSTOP), then cut every session of the app's database: the
        server is up, but a new connection is never answered, as when a server is overloaded
        or a network path is gone. Returns how many sessions were cut.

        In that order because pg_terminate_backend only signals: with the postmaster still
        running, a worker whose session was cut could connect again in the moment before the
        freeze and keep that new session through it (seen once in CI: no 503 in 20 s). The
        admin session, opened first, needs no postmaster to signal the others."""
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            os.kill(self._postmaster_pid(), signal.SIGSTOP)
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = 'fleet' AND pid <> pg_backend_pid()"
            ).fetchone()
        return int(cut[0]) if cut else 0

    def accept_connections(self) -> None:
        os.kill(self._postmaster_pid(), signal.SIGCONT)

    def destroy(self) -> None:
        with suppress(Exception):
            self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def query(self, sql: str) -> list[tuple]:
        with psycopg.connect(f"host={self.socket_dir} user=postgres dbname=fleet") as conn:
            return conn.execute(sql).fetchall()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def app_env(cluster: Cluster, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("POSTGRES_", "DJANGO_"))}
    env.update(
        DATABASE_URL=cluster.database_url,
        SECRET_KEY="test-only-" + "x" * 40,
        DEBUG="false",
        DB_CONNECT_TIMEOUT="3",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{result.stderr}")
    return result.stdout


def prepare_database(env: dict[str, str]) -> None:
    """Migrate and make today's partitions, as `make run` does."""
    manage(env, "migrate", "--noinput")
    manage(env, "maintain_partitions", "--verbosity", "0")


def create_key(env: dict[str, str], name: str, role: str) -> str:
    """A new API key (create_api_key prints it alone on its last line)."""
    return manage(env, "create_api_key", "--name", name, "--role", role).strip().splitlines()[-1]


class App:
    """The real service under gunicorn, against a cluster."""

    def __init__(self, env: dict[str, str], workers: int = 2) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 - lives as long as the app
        gunicorn = Path(sys.executable).parent / "gunicorn"
        self.process = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "fleet.project.wsgi"],
            cwd=ROOT,
            env={
                **env,
                "PORT": str(self.port),
                "HOST": "127.0.0.1",
                "WEB_CONCURRENCY": str(workers),
                "GUNICORN_ACCESSLOG": "",
            },
            stdout=subprocess.DEVNULL,
            # A file, not a pipe: nobody reads a pipe while the app runs, and once its buffer
            # fills (a warning per 4xx under fuzzing) every worker would block on the write.
            stderr=self.log,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with suppress(OSError):
                urllib.request.urlopen(self.url + "/healthz", timeout=2).read()
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"gunicorn did not start:\n{self.log_tail()}")

    def log_tail(self, chars: int = 4000) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()[-chars:]

    def worker_pids(self) -> list[int]:
        import psutil

        return [child.pid for child in psutil.Process(self.process.pid).children()]

    def stop(self) -> None:
        self.process.terminate()
        with suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=30)
        if self.process.poll() is None:
            self.process.kill()
        self.log.close()


@contextmanager
def served(role: str, *, workers: int = 2, **extra_env: str) -> Iterator[tuple[App, str]]:
    """The real service under gunicorn on a throwaway database, with one API key of `role`:
    (app, key). Everything is stopped and removed afterwards."""
    cluster = Cluster()
    app = None
    try:
        env = app_env(cluster, **extra_env)
        prepare_database(env)
        key = create_key(env, f"test {role}", role)
        app = App(env, workers=workers)
        yield app, key
    finally:
        if app is not None:
            app.stop()
        cluster.destroy()
