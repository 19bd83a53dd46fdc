"""A pg_dump of the database, restored into a fresh one, gives the same analytics answers:
partitions, roll-ups, the map and the hot status all come back (the README's backup advice)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pgserver
import psycopg
import pytest

from tests.support.clock import real_now
from tests.support.pgcluster import ROOT, Cluster, app_env, prepare_database

BIN = Path(pgserver.__file__).parent / "pginstall" / "bin"

# Run inside `manage.py shell`: readings over a re-map, then every analytics answer as JSON.
LOAD = """
from datetime import timedelta
from decimal import Decimal
from django.utils import timezone
from fleet.registry.services.mappings import assign_meter
from telemetry.readings import MeterReading, VehicleReading
from telemetry.services import ingest_readings
start = timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)
assign_meter(vehicle_id="VH1", meter_id="MT1", at=start - timedelta(days=1))
assign_meter(vehicle_id="VH1", meter_id="MT2", at=start + timedelta(hours=2, minutes=17))
readings = []
for minute in range(0, 300, 3):
    ts = start + timedelta(minutes=minute)
    readings.append(VehicleReading("VH1", ts, 50.0, Decimal("0.731"), 21.5))
    readings.append(MeterReading("MT1", ts, Decimal("0.802"), 230.0))
    readings.append(MeterReading("MT2", ts, Decimal("0.799"), 231.0))
ingest_readings(readings)
"""
ANSWERS = """
import json
from datetime import timedelta
from datetime import datetime
from analytics.params import parse_hour_window, parse_window
from analytics.selectors import fleet_efficiency, vehicle_performance, vehicle_series
from fleet.plumbing.pagination import PageRequest
from telemetry import queries
now = datetime.fromisoformat("NOW")  # the same instant for both databases
window = parse_window({"hours": "24"}, now)
hours = parse_hour_window({"hours": "24"}, now)
answers = {
    "performance": vehicle_performance("VH1", window),
    "series": vehicle_series("VH1", hours),
    "fleet": fleet_efficiency(hours, flagged_only=False, page=PageRequest(1, 50)).results,
    "partitions": [p.name for p in queries.list_partitions("vehicle_telemetry")],
}
print(json.dumps(answers, default=str, sort_keys=True))
"""


def shell(env: dict[str, str], code: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    cluster = Cluster()
    try:
        yield cluster
    finally:
        cluster.destroy()


def test_a_dump_restored_into_a_fresh_database_gives_the_same_answers(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = app_env(cluster)
    prepare_database(env)
    shell(env, LOAD)
    answers = ANSWERS.replace("NOW", real_now().isoformat())
    before = json.loads(shell(env, answers))
    assert before["performance"]["readings"] == {"vehicle": 100, "meter": 100}
    assert before["performance"]["meters"] == ["MT1", "MT2"]

    dump = tmp_path / "fleet.dump"
    socket = cluster.socket_dir
    subprocess.run(
        [str(BIN / "pg_dump"), "-h", socket, "-U", "postgres", "-Fc", "-f", str(dump), "fleet"],
        check=True,
        timeout=120,
    )
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute("CREATE DATABASE fleet_restored")
    subprocess.run(
        [
            str(BIN / "pg_restore"),
            "-h",
            socket,
            "-U",
            "postgres",
            "-d",
            "fleet_restored",
            str(dump),
        ],
        check=True,
        timeout=120,
    )
    restored_env = {
        **env,
        "DATABASE_URL": env["DATABASE_URL"].rsplit("/", 1)[0] + "/fleet_restored",
    }
    after = json.loads(shell(restored_env, answers))
    assert after == before
