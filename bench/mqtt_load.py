"""The MQTT publisher: its own process, one paho client, QoS 1, a window of messages in flight.

`python -m bench.mqtt_load SPEC.json` publishes one phase's messages, as fast as it can or at
spec["rate"] messages a second, and prints its result as JSON. Messages are built before the
clock starts; each carries the MQTT v5 user property `published-at` (Unix seconds when it is
handed to paho), from which the consumer measures publish-to-commit latency. The publisher
waits for the broker's PUBACKs, never for the consumer: it measures how fast the broker takes
messages; the orchestrator measures when they are committed. Only 127.0.0.1 is ever a target,
and the loop stops at a deadline.

It runs paho's client the way the consumer does (telemetry.mqtt.client.BufferedClient, its
own select loop, packets written in bursts), so that publishing costs as little CPU as paho
allows: every core it uses is one the consumer and PostgreSQL do not get.
"""

from __future__ import annotations

import json
import resource
import select
import sys
import time
from typing import Any

from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from bench import data
from telemetry.mqtt.client import BufferedClient, decode_properties_faster

HOST = "127.0.0.1"  # the only target, whatever the spec says
PUBLISHED_AT = "published-at"


def messages(spec: dict[str, Any]) -> list[tuple[str, bytes, int]]:
    """(topic, payload, readings) of the phase, in publishing order."""
    clock = data.Clock()
    devices, base = spec["devices"], spec["base_epoch"]
    if spec["mode"] == "single":
        out = []
        for i in range(spec["count"]):
            payload = data.single_reading(i, devices, base, clock)
            slot = i % devices
            if slot % 2 == 0:
                topic = f"fleet/v1/vehicles/{data.vehicle_id(slot // 2)}/telemetry"
            else:
                topic = f"fleet/v1/meters/{data.meter_id(slot // 2)}/telemetry"
            out.append((topic, payload.encode(), 1))
        return out
    size = spec["batch_size"]
    return [
        (
            f"fleet/v1/gateways/GW{r % spec['gateways']:03d}/telemetry",
            data.batch_body(r, size, devices, base, clock),
            size,
        )
        for r in range(spec["count"])
    ]


STAMP_EVERY = 50  # messages that share one published-at (they leave within a millisecond)


class Stamp(Properties):
    """A published-at user property, packed once and sent with several messages: building and
    packing paho's Properties costs ~80 µs, more than the rest of a publish."""

    packed: bytes

    def __init__(self, at: float) -> None:
        super().__init__(PacketTypes.PUBLISH)
        self.UserProperty = (PUBLISHED_AT, f"{at:.6f}")
        object.__setattr__(self, "packed", super().pack())

    def pack(self) -> bytes:
        return bytes(self.packed)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(spec: dict[str, Any]) -> dict[str, Any]:
    todo = messages(spec)
    decode_properties_faster()  # the broker's PUBACKs carry (empty) properties too
    client = BufferedClient(
        CallbackAPIVersion.VERSION2,
        client_id=spec["client_id"],
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(spec["username"], spec["password"])
    if spec.get("ca_file"):
        client.tls_set(ca_certs=spec["ca_file"])
    window = spec["window"]
    # No limit in paho: the loop below keeps `window` in flight itself. With a limit, paho scans
    # every message in flight on each PUBACK (Client._update_inflight), which made the
    # publisher cost ~200 µs a message at a window of 500.
    client.max_inflight_messages_set(0)
    client.on_socket_register_write = lambda c, u, s: None
    client.on_socket_unregister_write = lambda c, u, s: None
    acked = 0
    refused: list[str] = []
    connected = False

    def on_connect(c: Any, u: Any, flags: Any, reason: ReasonCode, p: Any) -> None:
        nonlocal connected
        connected = not reason.is_failure

    def on_publish(c: Any, u: Any, mid: int, reason: ReasonCode, p: Any) -> None:
        nonlocal acked
        acked += 1
        if reason.is_failure and len(refused) < 5:
            refused.append(str(reason))

    client.on_connect = on_connect
    client.on_publish = on_publish
    client.connect(HOST, spec["port"], keepalive=60)
    deadline = time.monotonic() + spec["max_seconds"]

    def pump(timeout: float) -> None:
        sock = client.socket()
        if sock is None:
            raise SystemExit("lost the broker")
        if client.buffered():
            timeout = 0.0
        readable, _, _ = select.select([sock], [sock] if client.want_write() else [], [], timeout)
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        if readable or client.buffered():
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                rc = client.loop_read()
                if not client.buffered():
                    break
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and client.want_write():
            rc = client.loop_write()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise SystemExit(f"publisher: {rc}")

    while not connected and time.monotonic() < deadline:
        pump(0.05)
    cpu0 = _cpu_seconds()
    first = time.time()
    rate = spec.get("rate")  # messages a second; none: as fast as the window allows
    sent = 0
    while acked < len(todo) and time.monotonic() < deadline:
        fresh = True  # a burst's first message gets a new stamp, whatever the count
        allowed = len(todo) if not rate else min(len(todo), int((time.time() - first) * rate) + 1)
        while sent < allowed and sent - acked < window:
            if fresh or sent % STAMP_EVERY == 0:
                stamp, fresh = Stamp(time.time()), False
            topic, payload, _ = todo[sent]
            client.publish(topic, payload, qos=1, properties=stamp)
            sent += 1
        pump(0.001 if rate else 0.01)
    last = time.time()
    client.disconnect()
    pump(0.0)
    return {
        "messages": len(todo),
        "readings": sum(n for _, _, n in todo),
        "acked": acked,
        "refused": refused,
        "first_publish": first,
        "last_puback": last,
        "publish_seconds": last - first,
        "cpu_s": _cpu_seconds() - cpu0,
    }


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        result = main(json.load(f))
    print(json.dumps(result), flush=True)
