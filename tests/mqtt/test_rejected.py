"""A message the HTTP API would refuse goes to fleet/v1/rejected/<its topic> with the HTTP API's
error body and is stored nowhere, while the good messages of the same batch are stored; and the
broker lets a device publish on its own topic only."""

from __future__ import annotations

import base64
import gzip
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from fleet.plumbing.errors import error_body
from tests.mqtt import harness
from tests.mqtt.harness import body, iso, meter_reading, vehicle_reading
from tests.support import mosquitto
from tests.support.clock import real_now
from tests.support.pgcluster import Cluster

pytestmark = harness.MARKS

MAX_BATCH = 10
MAX_BYTES = 4_000
ECHO_BYTES = 1_000
INVALID = "The reading is invalid; nothing was stored."
ONE_ID = "a reading has exactly one of vehicleId or meterId; this one has {}"
NOT_JSON = "The body is not valid JSON ({}). NaN and Infinity are not JSON numbers."


@pytest.fixture
def consumer(
    env: dict[str, str], broker: mosquitto.Broker, cluster: Cluster
) -> Iterator[harness.ConsumerProcess]:
    consumer = harness.ConsumerProcess(
        env,
        broker,
        TELEMETRY_MAX_BATCH=str(MAX_BATCH),
        TELEMETRY_MAX_BODY_BYTES=str(MAX_BYTES),
        MQTT_REJECTED_PAYLOAD_BYTES=str(ECHO_BYTES),
        # Long enough that the whole burst below is one batch (the test checks that it was).
        MQTT_BATCH_MS="2000",
    )
    try:
        yield consumer
    finally:
        consumer.close()


def without(reading: dict[str, Any], field: str) -> dict[str, Any]:
    return {k: x for k, x in reading.items() if k != field}


def refusals(start: Any) -> dict[str, tuple[bytes, dict[str, Any]]]:
    """{topic: (payload, the error body the HTTP API would answer for it)}."""
    now = real_now()
    v = vehicle_reading
    big_reading = body(v(start, 1, vehicleId="VH-R-LARGE"))
    return {
        "fleet/v1/vehicles/VH-R-ID/telemetry": (
            body(v(start, 1, vehicleId="VH-R-OTHER")),
            error_body(
                400,
                INVALID,
                {"vehicleId": ["must be this topic's vehicle id, 'VH-R-ID', or be left out"]},
            ),
        ),
        "fleet/v1/meters/MT-R-KIND/telemetry": (
            body(v(start, 1, vehicleId="VH-R-KIND")),
            error_body(
                400,
                INVALID,
                {
                    "vehicleId": [
                        "is not allowed on a meter's topic; publish it on "
                        "fleet/v1/vehicles/<id>/telemetry"
                    ]
                },
            ),
        ),
        "fleet/v1/vehicles/VH-R-ARRAY/telemetry": (
            body([v(start, 1)]),
            error_body(
                400,
                "A vehicle's topic takes one reading object; a gateway publishes arrays on "
                "fleet/v1/gateways/<gatewayId>/telemetry.",
            ),
        ),
        "fleet/v1/meters/MT-R-JSON/telemetry": (
            b'{"kwhConsumedAc": 1.5,',
            error_body(400, NOT_JSON.format("unexpected end of data: line 1 column 23 (char 22)")),
        ),
        "fleet/v1/vehicles/VH-R-UNKNOWN/telemetry": (
            body({**without(v(start, 1), "kwhDeliveredDc"), "kwhDeliveredDC": 1.0}),
            error_body(
                400,
                INVALID,
                {
                    "kwhDeliveredDC": [
                        "unknown field for a vehicle reading (allowed: vehicleId, soc, "
                        "kwhDeliveredDc, batteryTemp, timestamp)"
                    ],
                    "kwhDeliveredDc": ["is required"],
                },
            ),
        ),
        "fleet/v1/vehicles/VH-R-TYPE/telemetry": (
            body(v(start, 1, soc="85.5")),
            error_body(400, INVALID, {"soc": ["must be a number, not str"]}),
        ),
        "fleet/v1/vehicles/VH-R-NAN/telemetry": (
            b'{"soc": NaN, "kwhDeliveredDc": 1.0, "batteryTemp": 20.0, "timestamp": "'
            + iso(start).encode()
            + b'"}',
            error_body(
                400,
                NOT_JSON.format(
                    "unexpected character, expected a JSON value: line 1 column 9 (char 8)"
                ),
            ),
        ),
        "fleet/v1/vehicles/VH-R-SOC/telemetry": (
            body(v(start, 1, soc=100.5)),
            error_body(400, INVALID, {"soc": ["must be between 0 and 100"]}),
        ),
        "fleet/v1/vehicles/VH-R-NAIVE/telemetry": (
            body(v(start, 1, timestamp=iso(start)[:-1])),
            error_body(
                400,
                INVALID,
                {"timestamp": ["needs a UTC offset (Z or +hh:mm), e.g. 2026-02-10T16:23:00Z"]},
            ),
        ),
        "fleet/v1/meters/MT-R-OLD/telemetry": (
            body(meter_reading(start, 0, timestamp=iso(now - timedelta(days=35, hours=1)))),
            error_body(400, INVALID, {"timestamp": ["is older than 35 days; too old to accept"]}),
        ),
        "fleet/v1/meters/MT-R-AHEAD/telemetry": (
            body(meter_reading(start, 0, timestamp=iso(now + timedelta(minutes=10)))),
            error_body(
                400,
                INVALID,
                {"timestamp": ["is more than 5 minutes in the future; check the device clock"]},
            ),
        ),
        "fleet/v1/gateways/GW-R-BOTH/telemetry": (
            body([{**v(start, 1, vehicleId="VH-R-BOTH"), "meterId": "MT-R-BOTH"}]),
            error_body(
                400,
                "1 of 1 readings are invalid; nothing was stored.",
                {"0": {"non_field_errors": [ONE_ID.format("both")]}},
            ),
        ),
        # The reading beside the bad one is valid, and not stored either: a message is all or
        # nothing, as a request is.
        "fleet/v1/gateways/GW-R-NEITHER/telemetry": (
            body([v(start, 1, vehicleId="VH-R-NEITHER"), v(start, 2)]),
            error_body(
                400,
                "1 of 2 readings are invalid; nothing was stored.",
                {"1": {"non_field_errors": [ONE_ID.format("neither")]}},
            ),
        ),
        "fleet/v1/gateways/GW-R-MANY/telemetry": (
            body([v(start, m, vehicleId="VH-R-MANY") for m in range(MAX_BATCH + 1)]),
            error_body(
                413, f"The batch has {MAX_BATCH + 1} readings; the limit is {MAX_BATCH}. Split it."
            ),
        ),
        "fleet/v1/vehicles/VH-R-LARGE/telemetry": (
            big_reading[:-1] + b" " * (MAX_BYTES + 1 - len(big_reading)) + b"}",
            error_body(413, f"The body is {MAX_BYTES + 1} bytes; the limit is {MAX_BYTES} bytes."),
        ),
        "fleet/v1/gateways/GW-R-INFLATES/telemetry": (
            gzip.compress(body([v(start, m, vehicleId="VH-R-INFLATES") for m in range(40)])),
            error_body(
                413,
                f"The body decompresses to more than the limit of {MAX_BYTES} bytes; "
                "send smaller batches.",
            ),
        ),
        "fleet/v1/gateways/GW-R-GZIP/telemetry": (
            b"\x1f\x8b\x08\x00garbage-not-deflate",
            error_body(
                400,
                "The body is not valid gzip (Error -3 while decompressing data: invalid code "
                "lengths set).",
            ),
        ),
        "fleet/v1/meters/MT-R-EMPTY/telemetry": (
            b"",
            error_body(400, "The body is empty; send one reading object or an array of them."),
        ),
    }


def echo(payload: bytes) -> dict[str, Any]:
    """What the refusal says of the payload: the text as published (cut at ECHO_BYTES), the
    text a gzip payload inflates to, or base64 of what is neither."""
    if payload.startswith(b"\x1f\x8b"):
        try:
            text, encoding = gzip.decompress(payload).decode(), "gzip"
        except Exception:
            text, encoding = base64.b64encode(payload).decode(), "base64"
    else:
        text, encoding = payload.decode(), "utf-8"
    return {
        "payload": text[:ECHO_BYTES],
        "payloadEncoding": encoding,
        "payloadTruncated": len(text) > ECHO_BYTES,
    }


def test_each_invalid_message_goes_to_rejected_with_the_http_error_and_its_neighbours_are_stored(
    broker: mosquitto.Broker, cluster: Cluster, consumer: harness.ConsumerProcess
) -> None:
    start = harness.an_hour_ago_on_the_consumers_clock()
    bad = refusals(start)
    good = [
        ("fleet/v1/vehicles/VH-OK-1/telemetry", body(vehicle_reading(start, 1))),
        ("fleet/v1/meters/MT-OK-1/telemetry", body(meter_reading(start, 1))),
        (
            "fleet/v1/gateways/GW-OK/telemetry",
            gzip.compress(
                body(
                    [
                        vehicle_reading(start, 2, vehicleId="VH-OK-2"),
                        meter_reading(start, 2, meterId="MT-OK-2"),
                    ]
                )
            ),
        ),
    ]
    # The good ones first, in the middle and last, the bad ones between them.
    refused_messages = [(topic, payload) for topic, (payload, _) in bad.items()]
    messages = [good[0], *refused_messages[:9], good[1], *refused_messages[9:], good[2]]

    ops = harness.operator(broker)
    ops.subscribe("fleet/v1/rejected/#")
    assert ops.publish_all(messages) == ["Success"] * len(messages)
    refused = dict(ops.wait_received(len(bad)))
    harness.wait_stored(cluster, 4)

    assert refused == {
        f"fleet/v1/rejected/{topic}": {
            "error": error,
            **echo(payload),
            "payloadBytes": len(payload),
        }
        for topic, (payload, error) in bad.items()
    }
    assert sorted(cluster.query("SELECT vehicle_id FROM vehicle_telemetry")) == [
        ("VH-OK-1",),
        ("VH-OK-2",),
    ]
    assert sorted(cluster.query("SELECT meter_id FROM meter_telemetry")) == [
        ("MT-OK-1",),
        ("MT-OK-2",),
    ]
    # One batch held them all, and one commit stored its four good readings.
    assert consumer.metric("fleet_mqtt_batch_messages_count") == 1
    assert consumer.metric("fleet_mqtt_batch_messages_sum") == len(messages)
    assert consumer.metric("fleet_mqtt_batch_readings_sum") == 4
    assert (
        consumer.metric("fleet_mqtt_messages_rejected_total", 'kind="gateways",status="413"') == 2
    )
    ops.close()


def test_a_device_may_publish_on_its_own_topic_only(
    broker: mosquitto.Broker, cluster: Cluster, consumer: harness.ConsumerProcess
) -> None:
    start = harness.an_hour_ago_on_the_consumers_clock()
    vh = harness.device(broker, "vehicles", "VH-MQTT-1")
    reading = body(vehicle_reading(start, 1))
    acks = vh.publish_all(
        [
            ("fleet/v1/vehicles/VH-MQTT-2/telemetry", reading),
            ("fleet/v1/meters/VH-MQTT-1/telemetry", reading),
            ("fleet/v1/gateways/VH-MQTT-1/telemetry", reading),
            ("fleet/v1/rejected/fleet/v1/vehicles/VH-MQTT-1/telemetry", reading),
            ("fleet/v1/vehicles/VH-MQTT-1/telemetry", reading),
        ]
    )
    assert acks == ["Not authorized"] * 4 + ["Success"]
    harness.wait_stored(cluster, 1)
    assert cluster.query("SELECT vehicle_id FROM vehicle_telemetry") == [("VH-MQTT-1",)]
    assert harness.stored(cluster) == (1, 0)
    vh.close()
