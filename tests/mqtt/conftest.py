"""Fixtures of the MQTT tests: one disposable PostgreSQL for them all, a broker per test."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.mqtt import harness
from tests.support import mosquitto
from tests.support.pgcluster import Cluster, app_env, prepare_database


@pytest.fixture(scope="session")
def database() -> Iterator[tuple[Cluster, dict[str, str]]]:
    """A throwaway PostgreSQL with the schema, and the environment of a process using it."""
    cluster = Cluster()
    try:
        env = app_env(cluster)
        prepare_database(env)
        yield cluster, env
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def certificates() -> Iterator[Path]:
    """One test CA and server certificate for every broker of the run."""
    with tempfile.TemporaryDirectory(prefix="fleet-mqtt-tls-") as folder:
        mosquitto.make_certificates(Path(folder))
        yield Path(folder)


@pytest.fixture
def cluster(database: tuple[Cluster, dict[str, str]]) -> Cluster:
    harness.empty_history(database[0])
    return database[0]


@pytest.fixture
def env(database: tuple[Cluster, dict[str, str]]) -> dict[str, str]:
    return database[1]


DEVICES = {
    "vehicles": ["VH-MQTT-1", "VH-MQTT-2"],
    "meters": ["MT-MQTT-1"],
    "gateways": ["GW-MQTT-1"],
}


@pytest.fixture
def broker(certificates: Path) -> Iterator[mosquitto.Broker]:
    broker = mosquitto.Broker(DEVICES, certificates)
    try:
        yield broker
    finally:
        broker.destroy()
