"""Housekeeping of a development machine: the embedded server stops on request, and gunicorn
leaves no metrics folder behind in the temp directory."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from tests.support.pgcluster import ROOT, App, Cluster, app_env, prepare_database


def embedded(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "fleet.plumbing.embedded", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return result.stdout.strip()


def test_make_stop_stops_the_embedded_server_and_says_so() -> None:
    cluster = Cluster()  # a pgserver data folder of its own: <dir>/pg, as .data/pg is
    try:
        assert embedded("status", str(cluster.dir)).startswith("running (pid ")
        assert (
            embedded("stop", str(cluster.dir))
            == f"stopped the embedded PostgreSQL in {cluster.dir / 'pg'}"
        )
        assert embedded("status", str(cluster.dir)) == "not running"
        assert embedded("stop", str(cluster.dir)).endswith("is not running")
    finally:
        cluster.destroy()


def metrics_folders() -> set[Path]:
    return set(Path(tempfile.gettempdir()).glob("fleet-metrics-*"))


def test_gunicorn_removes_the_metrics_folder_it_made_when_it_exits() -> None:
    cluster = Cluster()
    try:
        env = app_env(cluster)
        prepare_database(env)
        before = metrics_folders()
        app = App(env, workers=1)
        assert len(metrics_folders() - before) == 1  # made at start
        app.stop()
        assert metrics_folders() - before == set()
    finally:
        cluster.destroy()
