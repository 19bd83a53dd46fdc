"""Nothing acknowledged is lost and nothing is stored twice: the consumer killed with -9 in the
middle of a stream, PostgreSQL stopped under load, the broker restarted, two consumers sharing
the subscription, and SIGTERM, which finishes the open batch."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal

import pytest

from tests.mqtt import harness
from tests.mqtt.harness import body, meter_reading, vehicle_reading
from tests.support import mosquitto
from tests.support.pgcluster import Cluster

pytestmark = harness.MARKS


@pytest.fixture
def consumers(
    env: dict[str, str], broker: mosquitto.Broker, cluster: Cluster
) -> Iterator[list[harness.ConsumerProcess]]:
    """Start consumers with consumers.append(ConsumerProcess(...)); all are closed after."""
    started: list[harness.ConsumerProcess] = []
    try:
        yield started
    finally:
        for consumer in started:
            consumer.close()


def vehicle_stream(prefix: str, devices: int, minutes: int) -> list[tuple[str, bytes]]:
    """devices x minutes single-reading messages, 0.125 kWh each, minute by minute."""
    start = harness.an_hour_ago_on_the_consumers_clock() - timedelta(hours=2)
    return [
        (f"fleet/v1/vehicles/{prefix}{d:03d}/telemetry", body(vehicle_reading(start, m)))
        for m in range(minutes)
        for d in range(devices)
    ]


def test_kill_9_amid_10000_messages_then_a_restart_stores_every_reading_exactly_once(
    env: dict[str, str],
    broker: mosquitto.Broker,
    cluster: Cluster,
    consumers: list[harness.ConsumerProcess],
) -> None:
    consumer = harness.ConsumerProcess(env, broker, tls=False)  # (the loopback listener)
    consumers.append(consumer)
    messages = vehicle_stream("VH-K", 100, 100)
    ops = harness.operator(broker)
    acks: list[str] = []
    publisher = threading.Thread(target=lambda: acks.extend(ops.publish_all(messages, 120)))
    publisher.start()

    harness.wait_until(lambda: sum(harness.stored(cluster)) >= 1_500, 60, "1,500 stored")
    consumer.kill()
    at_the_kill = sum(harness.stored(cluster))
    publisher.join(timeout=120)
    assert acks == ["Success"] * 10_000
    assert at_the_kill < 10_000  # the rest waits in the consumer's session at the broker

    consumer.start()
    harness.wait_stored(cluster, 10_000, 90)
    assert harness.stored(cluster) == (10_000, 0)
    assert cluster.query(
        "SELECT count(DISTINCT vehicle_id), count(DISTINCT ts) FROM vehicle_telemetry"
    ) == [(100, 100)]
    assert harness.energy(cluster) == (Decimal("1250.000000"), Decimal("0"))
    assert cluster.query("SELECT sum(readings) FROM vehicle_hourly") == [(10_000,)]
    ops.close()


def test_postgresql_stopped_for_10_seconds_under_load_loses_nothing_and_the_consumer_resumes(
    env: dict[str, str],
    broker: mosquitto.Broker,
    cluster: Cluster,
    consumers: list[harness.ConsumerProcess],
) -> None:
    consumer = harness.ConsumerProcess(env, broker, tls=False)
    consumers.append(consumer)
    start = harness.an_hour_ago_on_the_consumers_clock() - timedelta(hours=2)
    ops = harness.operator(broker)
    acks: list[str] = []

    def publish() -> None:
        # 20 messages every 0.1 s for 16 s: load before, during and after the outage.
        for tick in range(160):
            batch = [
                (f"fleet/v1/meters/MT-PG{d:02d}/telemetry", body(meter_reading(start, tick)))
                for d in range(20)
            ]
            acks.extend(ops.publish_all(batch))
            time.sleep(0.1)

    publisher = threading.Thread(target=publish)
    publisher.start()
    time.sleep(3)
    cluster.stop()
    try:
        time.sleep(10)
    finally:
        cluster.start()
    publisher.join(timeout=60)
    assert acks == ["Success"] * 3_200

    harness.wait_stored(cluster, 3_200, 60)
    assert harness.stored(cluster) == (0, 3_200)
    assert harness.energy(cluster) == (Decimal("0"), Decimal("800.000000"))
    assert consumer.process is not None and consumer.process.poll() is None  # never restarted
    log = consumer.log_text()
    assert harness.count_lines(log, "database unavailable") == 1
    assert harness.count_lines(log, r"database back after \d+\.\d s") == 1
    assert consumer.metric("fleet_mqtt_database_up") == 1
    ops.close()


def test_while_postgresql_is_down_the_consumer_holds_one_batch_and_the_broker_keeps_the_rest(
    env: dict[str, str],
    broker: mosquitto.Broker,
    cluster: Cluster,
    consumers: list[harness.ConsumerProcess],
) -> None:
    # Batches of 100 messages, and the broker may have 100 unacknowledged with the consumer.
    consumer = harness.ConsumerProcess(
        env, broker, tls=False, MQTT_RECEIVE_MAXIMUM="100", MQTT_BATCH_READINGS="100"
    )
    consumers.append(consumer)
    ops = harness.operator(broker)
    cluster.stop()
    try:
        assert ops.publish_all(vehicle_stream("VH-H", 10, 100)) == ["Success"] * 1_000
        harness.wait_until(
            lambda: consumer.metric("fleet_mqtt_store_retries_total") >= 3, 30, "3 retries"
        )
        # One batch at most: it closed at 100 messages or 50 ms after its first, whichever came
        # first (on a loaded machine the timer can win, e.g. at 77), and nothing is read past it.
        held = consumer.metric("fleet_mqtt_messages_received_total", 'kind="vehicles"')
        assert 1 <= held <= 100
        harness.wait_until(
            lambda: consumer.metric("fleet_mqtt_store_retries_total") >= 5, 30, "5 retries"
        )
        assert consumer.metric("fleet_mqtt_messages_received_total", 'kind="vehicles"') == held
        assert consumer.metric("fleet_mqtt_database_up") == 0
    finally:
        cluster.start()
    harness.wait_stored(cluster, 1_000)
    assert harness.stored(cluster) == (1_000, 0)
    assert consumer.metric("fleet_mqtt_messages_received_total", 'kind="vehicles"') == 1_000
    ops.close()


def test_the_broker_restarting_is_survived_and_the_consumers_session_resumes(
    env: dict[str, str],
    broker: mosquitto.Broker,
    cluster: Cluster,
    consumers: list[harness.ConsumerProcess],
) -> None:
    consumer = harness.ConsumerProcess(env, broker)
    consumers.append(consumer)
    broker.stop()
    time.sleep(1)
    broker.start()
    consumer.wait_for_log("subscribed to", count=2)
    ops = harness.operator(broker)
    assert ops.publish_all(vehicle_stream("VH-B", 10, 10)) == ["Success"] * 100
    harness.wait_stored(cluster, 100)
    assert harness.stored(cluster) == (100, 0)
    log = consumer.log_text()
    assert harness.count_lines(log, r"lost the broker") == 1
    assert harness.count_lines(log, r"\(its session resumed\)") == 1  # kept across the restart
    ops.close()


def test_two_consumers_in_the_shared_group_store_each_message_once(
    env: dict[str, str],
    broker: mosquitto.Broker,
    cluster: Cluster,
    consumers: list[harness.ConsumerProcess],
) -> None:
    for name in ("a", "b"):
        consumers.append(harness.ConsumerProcess(env, broker, client_id=f"fleet-ingest-{name}"))
    ops = harness.operator(broker)
    assert ops.publish_all(vehicle_stream("VH-S", 20, 100)) == ["Success"] * 2_000
    harness.wait_stored(cluster, 2_000)
    assert harness.stored(cluster) == (2_000, 0)

    received = [
        c.metric("fleet_mqtt_messages_received_total", 'kind="vehicles"') for c in consumers
    ]
    assert sum(received) == 2_000
    assert min(received) > 0  # both had a share
    assert sum(c.metric("fleet_mqtt_readings_duplicate_total") for c in consumers) == 0
    assert sum(c.metric("fleet_mqtt_readings_stored_total") for c in consumers) == 2_000
    ops.close()


def test_sigterm_commits_and_acknowledges_the_open_batch_before_exiting(
    env: dict[str, str],
    broker: mosquitto.Broker,
    cluster: Cluster,
    consumers: list[harness.ConsumerProcess],
) -> None:
    # A batch that stays open for a minute: the ten messages are in it when SIGTERM comes.
    consumer = harness.ConsumerProcess(env, broker, MQTT_BATCH_MS="60000")
    consumers.append(consumer)
    ops = harness.operator(broker)
    assert ops.publish_all(vehicle_stream("VH-T", 10, 1)) == ["Success"] * 10
    harness.wait_until(
        lambda: consumer.metric("fleet_mqtt_messages_received_total", 'kind="vehicles"') == 10,
        30,
        "10 messages received",
    )
    assert harness.stored(cluster) == (0, 0)

    assert consumer.terminate() == 0
    assert harness.stored(cluster) == (10, 0)

    # Had they not been acknowledged, the broker would deliver them again now, before this one.
    consumer.env["MQTT_BATCH_MS"] = "50"
    consumer.start()
    assert ops.publish_all(vehicle_stream("VH-U", 1, 1)) == ["Success"]
    harness.wait_stored(cluster, 11)
    assert consumer.metric("fleet_mqtt_messages_received_total", 'kind="vehicles"') == 1
    assert consumer.metric("fleet_mqtt_readings_duplicate_total") == 0
    ops.close()
