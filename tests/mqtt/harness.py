"""What the MQTT tests share: the consumer as a real process, publishers, the rejected topic,
and the readings as the database holds them."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
import paho.mqtt.client as mqtt
import psycopg
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from tests.support import mosquitto
from tests.support.clock import real_now
from tests.support.pgcluster import ROOT, Cluster, free_port

MARKS = [
    pytest.mark.mqtt,
    # CI sets REQUIRE_MQTT=1 (and installs mosquitto) so that a missing broker fails there.
    pytest.mark.skipif(
        mosquitto.missing() is not None and not os.environ.get("REQUIRE_MQTT"),
        reason=f"{mosquitto.missing()} (.ci/run installs it)",
    ),
]


def an_hour_ago_on_the_consumers_clock() -> datetime:
    """A whole minute an hour back, read once: readings are that plus n minutes.

    The consumer runs in a subprocess on the machine's real clock, which neither the test's
    stopped clock nor FLEET_TEST_CLOCK reaches, so this reads the real clock too; an hour back
    and some minutes on, no reading comes near the server's "future" or "too old" limits.
    """
    return real_now().replace(second=0, microsecond=0) - timedelta(hours=1)


def iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


def vehicle_reading(start: datetime, minute: int, **over: Any) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "soc": 80.5,
        "kwhDeliveredDc": 0.125,
        "batteryTemp": 25.0,
        "timestamp": iso(start + timedelta(minutes=minute)),
    }
    reading.update(over)
    return reading


def meter_reading(start: datetime, minute: int, **over: Any) -> dict[str, Any]:
    reading: dict[str, Any] = {
        "kwhConsumedAc": 0.25,
        "voltage": 230.0,
        "timestamp": iso(start + timedelta(minutes=minute)),
    }
    reading.update(over)
    return reading


def body(value: Any) -> bytes:
    return orjson.dumps(value)


# --- the consumer ---------------------------------------------------------------------------
class ConsumerProcess:
    """`manage.py ingest_mqtt` against the broker's TLS ingest listener (the test CA), or with
    tls=False its loopback listener."""

    def __init__(
        self,
        env: dict[str, str],
        broker: mosquitto.Broker,
        client_id: str = "fleet-ingest-test",
        *,
        tls: bool = True,
        **settings: str,
    ) -> None:
        self.metrics_port = free_port()
        self.log = tempfile.NamedTemporaryFile("w+b", prefix="ingest-mqtt-", suffix=".log")  # noqa: SIM115 - lives as long as the process
        self.env = {
            **env,
            "MQTT_URL": broker.ingest_url if tls else broker.local_url,
            "MQTT_CA_FILE": broker.ca_file if tls else "",
            "MQTT_CLIENT_ID": client_id,
            "MQTT_METRICS_PORT": str(self.metrics_port),
            "MQTT_RECONNECT_MAX_SECONDS": "1",
            "MQTT_RETRY_MAX_SECONDS": "1",
            "LOG_LEVEL": "INFO",
            **settings,
        }
        self.process: subprocess.Popen[bytes] | None = None
        self.start()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "ingest_mqtt"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        self.wait_for_log("subscribed to", count=self.log_text().count("subscribed to") + 1)

    def log_text(self) -> str:
        self.log.flush()
        with open(self.log.name, "rb") as f:
            return f.read().decode(errors="replace")

    def wait_for_log(self, text: str, count: int = 1, seconds: float = 30) -> None:
        deadline = time.monotonic() + seconds
        while self.log_text().count(text) < count:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(
                    f"ingest_mqtt exited ({self.process.returncode}):\n" + self.log_text()[-3000:]
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"no {text!r} in the consumer's log:\n{self.log_text()}")
            time.sleep(0.05)

    def metric(self, name: str, labels: str = "") -> float:
        """A sample of the consumer's metrics port, e.g. metric("..._total", 'kind="meters"')."""
        with urllib.request.urlopen(
            f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5
        ) as r:
            text = r.read().decode()
        selector = f"{name}{{{labels}}}" if labels else name
        for line in text.splitlines():
            if line.startswith(selector + " "):
                return float(line.split()[-1])
        return 0.0

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def terminate(self, seconds: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=seconds)

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        # Captured by pytest, and shown when the test failed.
        print(f"--- ingest_mqtt log ---\n{self.log_text()[-4000:]}")
        self.log.close()


# --- publishers and the rejected topic ------------------------------------------------------
class Client:
    """A paho client of the test: a device (on its listener) or an operator (fleet-ops)."""

    def __init__(self, broker: mosquitto.Broker, listener: str, username: str, password: str):
        self.client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"test-{username}-{listener}-{time.monotonic_ns()}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self.client.username_pw_set(username, password)
        self.client.tls_set(ca_certs=broker.ca_file)
        self.client.max_inflight_messages_set(1000)
        self.acks: dict[int, ReasonCode] = {}
        self.received: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        connected = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: connected.set()
        self.client.on_publish = self._on_publish
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", broker.ports[listener])
        self.client.loop_start()
        if not connected.wait(10):
            raise AssertionError(f"{username} could not connect to the {listener} listener")

    def _on_publish(self, c: Any, u: Any, mid: int, reason: ReasonCode, p: Any) -> None:
        with self._lock:
            self.acks[mid] = reason

    def _on_message(self, c: Any, u: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, orjson.loads(message.payload)))

    def subscribe(self, topic: str) -> None:
        done = threading.Event()
        self.client.on_subscribe = lambda c, u, mid, rcs, p: done.set()
        self.client.subscribe([(topic, SubscribeOptions(qos=1))])
        assert done.wait(10)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=qos)

    def publish_all(self, messages: Iterable[tuple[str, bytes]], seconds: float = 60) -> list[str]:
        """Publish QoS 1 and wait for every PUBACK; the broker's reason for each, in order."""
        infos = [self.publish(topic, payload) for topic, payload in messages]
        deadline = time.monotonic() + seconds
        for info in infos:
            info.wait_for_publish(max(0.0, deadline - time.monotonic()))
        with self._lock:
            return [str(self.acks[info.mid]) for info in infos]

    def wait_received(self, count: int, seconds: float = 30) -> list[tuple[str, Any]]:
        deadline = time.monotonic() + seconds
        while True:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} messages arrived")
            time.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def operator(broker: mosquitto.Broker) -> Client:
    return Client(broker, "ingest", mosquitto.OPS_USER, mosquitto.OPS_PASSWORD)


def device(broker: mosquitto.Broker, kind: str, device_id: str) -> Client:
    return Client(broker, kind, device_id, mosquitto.DEVICE_PASSWORD)


# --- the database ---------------------------------------------------------------------------
def stored(cluster: Cluster) -> tuple[int, int]:
    """(vehicle rows, meter rows) in history."""
    rows = cluster.query(
        "SELECT (SELECT count(*) FROM vehicle_telemetry), (SELECT count(*) FROM meter_telemetry)"
    )
    return int(rows[0][0]), int(rows[0][1])


def wait_until(check: Callable[[], bool], seconds: float = 60, what: str = "") -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        time.sleep(0.05)


def wait_stored(cluster: Cluster, total: int, seconds: float = 60) -> None:
    wait_until(lambda: sum(stored(cluster)) >= total, seconds, f"{total} stored readings")


def energy(cluster: Cluster) -> tuple[Decimal, Decimal]:
    """(DC kWh of all vehicle rows, AC kWh of all meter rows), exact."""
    rows = cluster.query(
        "SELECT (SELECT coalesce(sum(kwh_delivered_dc), 0) FROM vehicle_telemetry), "
        "(SELECT coalesce(sum(kwh_consumed_ac), 0) FROM meter_telemetry)"
    )
    return rows[0][0], rows[0][1]


def empty_history(cluster: Cluster) -> None:
    with psycopg.connect(f"host={cluster.socket_dir} user=postgres dbname=fleet") as conn:
        conn.execute(
            "TRUNCATE vehicle_telemetry, meter_telemetry, vehicle_hourly, meter_hourly, "
            "current_vehicle_status, current_meter_status"
        )


def count_lines(text: str, pattern: str) -> int:
    return len(re.findall(pattern, text))
