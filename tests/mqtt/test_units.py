"""The consumer's pure parts, without a broker: its URL, the topics, what a refusal shows of the
payload, and paho's properties decoded with shared tables."""

from __future__ import annotations

import base64
import gzip
import os
from typing import Any

import orjson
import paho.mqtt
import pytest
from paho.mqtt import _packet as paho_packet
from paho.mqtt.exception import MQTTException
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from fleet.plumbing.errors import ApiError
from telemetry.mqtt import config, messages, topics
from telemetry.mqtt.client import CHECKED_PAHO, SharedTableProperties, decode_properties_faster

pytestmark = pytest.mark.mqtt


@pytest.mark.parametrize(
    ("url", "parsed"),
    [
        ("mqtt://127.0.0.1", (False, "127.0.0.1", 1883, "", "")),
        ("mqtts://broker.internal", (True, "broker.internal", 8883, "", "")),
        ("mqtts://ingest:p%40ss@10.0.0.5:8886", (True, "10.0.0.5", 8886, "ingest", "p@ss")),
    ],
)
def test_mqtt_url_gives_tls_host_port_and_credentials(
    url: str, parsed: tuple[bool, str, int, str, str]
) -> None:
    assert config.parse_url(url) == parsed


@pytest.mark.parametrize("url", ["http://broker", "mqtt://", "broker:1883"])
def test_a_url_that_is_not_mqtt_is_refused_at_start(url: str) -> None:
    with pytest.raises(ValueError, match="MQTT_URL"):
        config.parse_url(url)


def test_the_settings_default_to_a_local_broker_and_batches_of_2000_or_50_ms(
    monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # Neither set in settings.py (once it names them) nor in the environment (until then).
    for name in [n for n in dir(settings) if n.startswith("MQTT_")]:
        delattr(settings, name)
    for name in [n for n in os.environ if n.startswith("MQTT_")]:
        monkeypatch.delenv(name)
    loaded = config.load()
    assert (loaded.host, loaded.port, loaded.tls) == ("127.0.0.1", 1883, False)
    assert (loaded.batch_readings, loaded.batch_seconds, loaded.receive_maximum) == (
        2000,
        0.05,
        2000,
    )
    assert loaded.client_id.startswith("fleet-ingest-")
    assert loaded.metrics_port == 9108


def test_topics_name_the_kind_and_device_and_nothing_else_is_telemetry() -> None:
    assert topics.parse("fleet/v1/vehicles/VH001/telemetry") == topics.Topic("vehicles", "VH001")
    assert topics.parse("fleet/v1/gateways/GW-7/telemetry") == topics.Topic("gateways", "GW-7")
    assert topics.parse("fleet/v1/trucks/T1/telemetry") is None
    assert topics.parse("fleet/v1/vehicles/VH001/status") is None
    assert topics.parse("fleet/v1/rejected/fleet/v1/vehicles/VH001/telemetry") is None
    assert topics.subscriptions("g") == [
        "$share/g/fleet/v1/vehicles/+/telemetry",
        "$share/g/fleet/v1/meters/+/telemetry",
        "$share/g/fleet/v1/gateways/+/telemetry",
    ]
    assert topics.rejected("fleet/v1/meters/M/telemetry") == (
        "fleet/v1/rejected/fleet/v1/meters/M/telemetry"
    )


ERROR = ApiError(400, "The body is empty; send one reading object or an array of them.")


def shown(payload: bytes, limit: int) -> dict[str, object]:
    refusal = orjson.loads(messages.rejection(ERROR, payload, limit))
    assert refusal["error"] == {"status": 400, "message": ERROR.message, "errors": {}}
    return {k: v for k, v in refusal.items() if k != "error"}


def test_a_refusal_shows_text_as_text_and_cuts_it_at_the_limit_on_a_character() -> None:
    assert shown(b'{"soc": 1}', 100) == {
        "payload": '{"soc": 1}',
        "payloadEncoding": "utf-8",
        "payloadTruncated": False,
        "payloadBytes": 10,
    }
    # "é" is two bytes: a cut through it drops the character rather than going to base64.
    assert shown("aaé".encode(), 3) == {
        "payload": "aa",
        "payloadEncoding": "utf-8",
        "payloadTruncated": True,
        "payloadBytes": 4,
    }


def test_a_refusal_shows_gzip_as_the_text_it_inflates_to() -> None:
    payload = gzip.compress(b"[1, 2, 3]" * 10)
    assert shown(payload, 9) == {
        "payload": "[1, 2, 3]",
        "payloadEncoding": "gzip",
        "payloadTruncated": True,
        "payloadBytes": len(payload),
    }


def test_a_refusal_shows_other_bytes_in_base64() -> None:
    assert shown(b"\xff\xfe\x00", 100) == {
        "payload": base64.b64encode(b"\xff\xfe\x00").decode(),
        "payloadEncoding": "base64",
        "payloadTruncated": False,
        "payloadBytes": 3,
    }


def test_properties_decode_with_shared_tables_exactly_as_paho_decodes_them() -> None:
    sent = Properties(PacketTypes.PUBLISH)
    sent.UserProperty = ("published-at", "1764512345.123")
    sent.UserProperty = ("firmware", "4.2")
    sent.ContentType = "application/json"
    sent.MessageExpiryInterval = 3600
    sent.PayloadFormatIndicator = 1
    packed = sent.pack()

    theirs, ours = Properties(PacketTypes.PUBLISH), SharedTableProperties(PacketTypes.PUBLISH)
    theirs.unpack(packed)
    ours.unpack(packed)
    assert (
        ours.json()
        == theirs.json()
        == {
            "PayloadFormatIndicator": 1,
            "MessageExpiryInterval": 3600,
            "ContentType": "application/json",
            "UserProperty": [("published-at", "1764512345.123"), ("firmware", "4.2")],
        }
    )
    assert ours.pack() == packed
    ours.clear()
    assert ours.isEmpty()
    with pytest.raises(MQTTException, match="does not apply to packet type"):
        ours.ReceiveMaximum = 10


def test_the_consumer_has_paho_decode_properties_with_shared_tables() -> None:
    decode_properties_faster()
    assert paho.mqtt.__version__ == CHECKED_PAHO  # requirements.txt pins the one checked
    assert paho_packet.Properties is SharedTableProperties  # type: ignore[attr-defined]
