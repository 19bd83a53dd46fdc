"""Readings published over MQTT land as they do over HTTP: single readings of both kinds on
their devices' topics, gateway batches, gzip, duplicates counted and stored once."""

from __future__ import annotations

import gzip
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
def consumer(
    env: dict[str, str], broker: mosquitto.Broker, cluster: Cluster
) -> Iterator[harness.ConsumerProcess]:
    consumer = harness.ConsumerProcess(env, broker)
    try:
        yield consumer
    finally:
        consumer.close()


def test_a_vehicle_reading_on_its_own_topic_lands_with_the_values_sent(
    broker: mosquitto.Broker, cluster: Cluster, consumer: harness.ConsumerProcess
) -> None:
    start = harness.an_hour_ago_on_the_consumers_clock()
    vh = harness.device(broker, "vehicles", "VH-MQTT-1")
    acks = vh.publish_all(
        [
            # With the id, and without it: the topic says whose reading it is.
            (
                "fleet/v1/vehicles/VH-MQTT-1/telemetry",
                body(vehicle_reading(start, 1, vehicleId="VH-MQTT-1", kwhDeliveredDc=12.3)),
            ),
            ("fleet/v1/vehicles/VH-MQTT-1/telemetry", body(vehicle_reading(start, 2, soc=81.0))),
        ]
    )
    assert acks == ["Success", "Success"]
    harness.wait_stored(cluster, 2)
    assert cluster.query(
        "SELECT vehicle_id, ts, soc, kwh_delivered_dc, battery_temp FROM vehicle_telemetry "
        "ORDER BY ts"
    ) == [
        ("VH-MQTT-1", start + timedelta(minutes=1), 80.5, Decimal("12.300000"), 25.0),
        ("VH-MQTT-1", start + timedelta(minutes=2), 81.0, Decimal("0.125000"), 25.0),
    ]
    assert cluster.query("SELECT vehicle_id, ts, soc FROM current_vehicle_status") == [
        ("VH-MQTT-1", start + timedelta(minutes=2), 81.0)
    ]
    vh.close()


def test_a_meter_reading_on_its_own_topic_lands_with_the_values_sent(
    broker: mosquitto.Broker, cluster: Cluster, consumer: harness.ConsumerProcess
) -> None:
    start = harness.an_hour_ago_on_the_consumers_clock()
    mt = harness.device(broker, "meters", "MT-MQTT-1")
    reading = meter_reading(start, 1, meterId="MT-MQTT-1", kwhConsumedAc=13.1, voltage=229.8)
    assert mt.publish_all([("fleet/v1/meters/MT-MQTT-1/telemetry", body(reading))]) == ["Success"]
    harness.wait_stored(cluster, 1)
    assert cluster.query("SELECT meter_id, ts, kwh_consumed_ac, voltage FROM meter_telemetry") == [
        ("MT-MQTT-1", start + timedelta(minutes=1), Decimal("13.100000"), 229.8)
    ]
    assert cluster.query("SELECT meter_id, readings, kwh_ac FROM meter_hourly") == [
        ("MT-MQTT-1", 1, Decimal("13.100000"))
    ]
    mt.close()


def test_a_gateway_batch_of_mixed_readings_lands_whole_and_gzip_is_read_too(
    broker: mosquitto.Broker, cluster: Cluster, consumer: harness.ConsumerProcess
) -> None:
    start = harness.an_hour_ago_on_the_consumers_clock()
    plain = [
        *(vehicle_reading(start, m, vehicleId=f"VH-GW-{m % 5}") for m in range(30)),
        *(meter_reading(start, m, meterId=f"MT-GW-{m % 4}") for m in range(20)),
    ]
    zipped = [
        vehicle_reading(start, 40 + m, vehicleId="VH-GZ", kwhDeliveredDc=0.5) for m in range(10)
    ]
    gw = harness.device(broker, "gateways", "GW-MQTT-1")
    topic = "fleet/v1/gateways/GW-MQTT-1/telemetry"
    # Two gzip members, as `cat a.gz b.gz` makes: every member is read.
    two_members = gzip.compress(body(zipped)[:-1] + b",") + gzip.compress(
        body([meter_reading(start, 59, meterId="MT-GZ")])[1:]
    )
    assert gw.publish_all([(topic, body(plain)), (topic, two_members)]) == ["Success"] * 2
    harness.wait_stored(cluster, 61)
    assert harness.stored(cluster) == (40, 21)
    assert harness.energy(cluster) == (Decimal("8.750000"), Decimal("5.250000"))
    assert cluster.query(
        "SELECT vehicle_id, count(*) FROM vehicle_telemetry GROUP BY 1 ORDER BY 1"
    ) == [(f"VH-GW-{i}", 6) for i in range(5)] + [("VH-GZ", 10)]
    gw.close()


def test_a_duplicate_is_counted_and_stored_once(
    broker: mosquitto.Broker, cluster: Cluster, consumer: harness.ConsumerProcess
) -> None:
    start = harness.an_hour_ago_on_the_consumers_clock()
    vh = harness.device(broker, "vehicles", "VH-MQTT-2")
    topic = "fleet/v1/vehicles/VH-MQTT-2/telemetry"
    first = body(vehicle_reading(start, 1, kwhDeliveredDc=1.5))
    assert vh.publish_all([(topic, first)]) == ["Success"]
    harness.wait_stored(cluster, 1)
    again = body(vehicle_reading(start, 1, kwhDeliveredDc=9.0))  # same (device, ts)
    assert vh.publish_all([(topic, first), (topic, again)]) == ["Success"] * 2
    harness.wait_until(
        lambda: consumer.metric("fleet_mqtt_readings_duplicate_total") == 2, 30, "2 duplicates"
    )
    assert consumer.metric("fleet_mqtt_readings_stored_total") == 1
    assert consumer.metric("fleet_readings_duplicate_total", 'kind="vehicle"') == 2
    assert cluster.query("SELECT kwh_delivered_dc FROM vehicle_telemetry") == [
        (Decimal("1.500000"),)
    ]
    vh.close()
