"""The MQTT consumer: gather messages into a batch, commit its readings, then acknowledge.

One thread, one paho client (MQTT v5, QoS 1, manual acknowledgements), one loop:

1. read from the broker while the batch is open: each message is judged on its own
   (telemetry.mqtt.messages) the moment it arrives, so a bad one never sinks its neighbours;
2. once the batch holds MQTT_BATCH_READINGS readings, MQTT_BATCH_BYTES of payload or
   MQTT_RECEIVE_MAXIMUM messages (the broker sends no more until some are acknowledged), or
   MQTT_BATCH_MS after its first message, stop reading and flush it: the good readings with one
   services.store call (one transaction), the refused messages to fleet/v1/rejected/<topic>
   (QoS 1, confirmed by the broker), then a PUBACK for every message, in the order received;
3. read again.

Durability rests on the broker's session: the client id is fixed, clean_start is false and the
session outlives a disconnection (MQTT_SESSION_EXPIRY), so whatever was not acknowledged (a
batch in memory when the process is killed, or when the connection drops) is delivered again.
Redelivery stores nothing twice: history is keyed by (device, ts), so it is counted as
duplicates. While PostgreSQL is unavailable the batch stays unacknowledged and in memory, the
loop reads nothing more (so the broker, bounded by our Receive Maximum, and TCP hold the rest),
and the commit is retried with capped backoff until it goes through. Memory is one batch, one
message over the limits at most, whatever the broker sends.
"""

from __future__ import annotations

import logging
import select
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

import paho.mqtt.client as mqtt
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connection
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from prometheus_client import start_http_server

from fleet.plumbing.errors import ApiError
from telemetry import services
from telemetry.mqtt import messages, metrics, topics
from telemetry.mqtt.client import BufferedClient, decode_properties_faster
from telemetry.mqtt.config import MqttConfig
from telemetry.readings import Limits, Reading

logger = logging.getLogger(__name__)

# A publisher may stamp its messages with this MQTT v5 user property (Unix seconds, e.g.
# "1764512345.123"); the consumer then measures publish-to-commit latency from it.
PUBLISHED_AT = "published-at"

IDLE_WAIT = 0.25  # the longest wait in select(): how soon a SIGTERM is noticed
REJECTED_CONFIRM_SECONDS = 30.0  # the broker's PUBACKs for refusals; past it, reconnect
STOP_DRAIN_SECONDS = 5.0

Store = Callable[[list[Reading]], services.IngestResult]


@dataclass(slots=True)
class Held:
    """One message of the open batch, not yet acknowledged."""

    mid: int
    qos: int
    topic: str
    kind: str
    payload: bytes
    received: float  # time.monotonic()
    published_at: float | None  # the publisher's published-at, Unix seconds
    generation: int  # the connection it came on: an ack goes back on that one only
    readings: list[Reading] | None = None
    error: ApiError | None = None


@dataclass
class Batch:
    limits: Limits | None = None
    opened: float = 0.0
    held: list[Held] = field(default_factory=list)
    readings: int = 0
    size: int = 0

    def add(self, message: Held) -> None:
        self.held.append(message)
        self.readings += len(message.readings or ())
        self.size += len(message.payload)


class Consumer:
    def __init__(self, config: MqttConfig, store: Store = services.store) -> None:
        self.config = config
        self.store = store
        self.stopping = False
        self.exit_code = 0
        self.batch = Batch()
        self.generation = 0
        self.connected = False  # CONNACK received on the current connection
        self.reconnect_delay = 0.0
        self.broker_state = "new"
        self.database_down_since: float | None = None
        self._received: dict[str, Any] = {}
        self.max_bytes: int = settings.TELEMETRY_MAX_BODY_BYTES
        self.client = self._client()

    # --- the client -----------------------------------------------------------------------
    def _client(self) -> BufferedClient:
        config = self.config
        decode_properties_faster()
        client = BufferedClient(
            CallbackAPIVersion.VERSION2,
            client_id=config.client_id,
            protocol=MQTTProtocolVersion.MQTTv5,
            manual_ack=True,
            reconnect_on_failure=False,
        )
        if config.username:
            client.username_pw_set(config.username, config.password or None)
        if config.tls:
            client.tls_set(ca_certs=config.ca_file or None)
        # Packets (acknowledgements, refusals) wait in paho's queue until the loop writes them
        # all at once, rather than one system call each as paho would do by itself.
        client.on_socket_register_write = _nothing
        client.on_socket_unregister_write = _nothing
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        client.on_publish = self._on_publish
        properties = Properties(PacketTypes.CONNECT)
        properties.SessionExpiryInterval = config.session_expiry
        # The broker keeps at most this many messages unacknowledged with us: one batch of
        # single-reading messages, and the bound on what a lost batch brings back.
        properties.ReceiveMaximum = config.receive_maximum
        client.connect_async(
            config.host,
            config.port,
            keepalive=config.keepalive,
            clean_start=False,
            properties=properties,
        )
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            self._broker_state("refused", f"the broker refused the connection: {reason}")
            return
        self.connected = True
        self.reconnect_delay = 0.0
        metrics.BROKER_CONNECTED.set(1)
        session = "its session resumed" if flags.session_present else "a new session"
        self._broker_state(
            "connected",
            f"connected to {self.config.host}:{self.config.port} as {self.config.client_id} "
            f"({session})",
        )
        filters = topics.subscriptions(self.config.share_group)
        client.subscribe([(sub, SubscribeOptions(qos=1)) for sub in filters])

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        refused = [str(r) for r in reasons if r.is_failure]
        if refused:
            # A wrong ACL; nothing would ever arrive, so say so and stop (systemd restarts us).
            logger.error("the broker refused the subscriptions (%s); check its ACL", refused)
            self.exit_code = 2
            self.stopping = True
            return
        logger.info("subscribed to %s", ", ".join(topics.subscriptions(self.config.share_group)))

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._lost(str(reason))

    def _lost(self, why: str) -> None:
        """The connection is gone: what it delivered and we did not acknowledge comes again
        on the next one, so the open batch is dropped (its acknowledgements would be void)."""
        was_connected = self.connected
        self.connected = False
        self.generation += 1
        metrics.BROKER_CONNECTED.set(0)
        dropped = len(self.batch.held)
        self.batch = Batch()
        # A connection the broker refused was never up: "refused" was said already.
        if was_connected and not self.stopping:
            more = f"; {dropped} unacknowledged messages will be redelivered" if dropped else ""
            self._broker_state("lost", f"lost the broker ({why}){more}")

    def _on_publish(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            # Only refusals are published; one the broker will not take (an ACL without write
            # on fleet/v1/rejected/#) is acknowledged all the same, not retried forever.
            logger.error("the broker refused a message on fleet/v1/rejected/...: %s", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        batch = self.batch
        if not batch.held:
            batch.opened = time.monotonic()
            batch.limits = services.current_limits()
        assert batch.limits is not None
        name = message.topic
        payload = bytes(message.payload)  # paho's is bytes already; this costs nothing then
        topic = topics.parse(name)
        kind = topic.kind if topic is not None else "unknown"
        received = self._received.get(kind)
        if received is None:  # labels() costs more than the increment: once per kind
            received = self._received[kind] = metrics.MESSAGES_RECEIVED.labels(kind)
        received.inc()
        held = Held(
            mid=message.mid,
            qos=message.qos,
            topic=name,
            kind=kind,
            payload=payload,
            received=message.timestamp,
            published_at=_published_at(message),
            generation=self.generation,
        )
        try:
            if topic is None:  # the subscriptions match telemetry topics only
                raise ApiError(400, f"{name} is not a telemetry topic.")
            held.readings = messages.readings(topic, payload, batch.limits, self.max_bytes)
        except ApiError as exc:
            held.error = exc
        except Exception:
            # A bug met by this payload: it must not stop the consumer (nor come back forever).
            logger.exception("message on %s could not be judged; refused", name)
            held.error = ApiError(500, "Internal error; it has been logged.")
        batch.add(held)

    # --- the loop -------------------------------------------------------------------------
    def run(self) -> int:
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self._stop)
        if self.config.metrics_port:
            start_http_server(self.config.metrics_port, addr="127.0.0.1")
        metrics.DATABASE_UP.set(1)
        logger.info(
            "ingest_mqtt %s: %s:%d, batches of %d readings or %d ms",
            self.config.client_id,
            self.config.host,
            self.config.port,
            self.config.batch_readings,
            self.config.batch_seconds * 1000,
        )
        while not self.stopping:
            if self.client.socket() is None:
                self._reconnect()
                continue
            if self._ready():
                self._flush()
            else:
                self._pump(self._wait(), read=True)
        self._finish()
        return self.exit_code

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        logger.info("%s: finishing the open batch, then stopping", signal.Signals(signum).name)
        self.stopping = True

    def _full(self) -> bool:
        b, c = self.batch, self.config
        return (
            b.readings >= c.batch_readings
            or b.size >= c.batch_bytes
            or len(b.held) >= c.receive_maximum
        )

    def _ready(self) -> bool:
        if not self.batch.held:
            return False
        return self._full() or time.monotonic() >= self.batch.opened + self.config.batch_seconds

    def _wait(self) -> float:
        # select() resumes after a signal (PEP 475), so a SIGTERM is seen within IDLE_WAIT.
        if not self.batch.held:
            return IDLE_WAIT
        due = self.batch.opened + self.config.batch_seconds - time.monotonic()
        return min(IDLE_WAIT, max(0.0, due))

    def _pump(self, timeout: float, *, read: bool) -> bool:
        """Wait up to timeout for the socket, then read (unless told not to: a batch waits),
        write what is queued and keep the connection alive. False once the connection is lost."""
        client = self.client
        sock = client.socket()
        if sock is None:
            return False
        if read and client.buffered():
            timeout = 0.0
        try:
            readable, _, _ = select.select(
                [sock] if read else [], [sock] if client.want_write() else [], [], timeout
            )
        except (OSError, ValueError):  # closed under us: the reads below find out
            readable = [sock]
        rc = MQTTErrorCode.MQTT_ERR_SUCCESS
        if read and (readable or client.buffered()):
            while rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
                rc = client.loop_read()
                if not client.buffered() or self._full():
                    break
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS and client.want_write():
            rc = client.loop_write()
        if rc == MQTTErrorCode.MQTT_ERR_SUCCESS:
            rc = client.loop_misc()
        if rc != MQTTErrorCode.MQTT_ERR_SUCCESS or client.socket() is None:
            if self.connected or self.batch.held:
                self._lost(mqtt.error_string(rc))
            return False
        return True

    def _reconnect(self) -> None:
        self._sleep(self.reconnect_delay)
        self.reconnect_delay = min(
            max(self.reconnect_delay * 2, 0.25), self.config.reconnect_max_seconds
        )
        if self.stopping:
            return
        try:
            self.client.reconnect()
        except OSError as exc:  # refused, unreachable, TLS failure, timeout: no socket then
            self._broker_state("unreachable", f"cannot reach the broker: {exc}")

    def _sleep(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.stopping and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.1))

    def _broker_state(self, state: str, message: str) -> None:
        """Log a change of the broker connection once, not every retry."""
        if state != self.broker_state:
            (logger.info if state == "connected" else logger.warning)(message)
            self.broker_state = state

    # --- a batch --------------------------------------------------------------------------
    def _flush(self) -> None:
        batch, self.batch = self.batch, Batch()
        good = [h for h in batch.held if h.readings is not None]
        if good and not self._store_all(good):
            return  # stopping with the database down: nothing acknowledged, all redelivered
        refused = [h for h in batch.held if h.error is not None]
        if refused and not self._publish_refusals(refused):
            return
        for held in batch.held:
            if held.generation == self.generation and held.qos:
                self.client.ack(held.mid, held.qos)
        self._pump(0.0, read=False)
        metrics.BATCH_MESSAGES.observe(len(batch.held))

    def _store_all(self, good: list[Held]) -> bool:
        readings = [r for h in good for r in h.readings or ()]
        try:
            result = self._store(readings)
        except Exception:
            # Not the database being away (that is retried) but these readings failing to
            # store: find the message(s) at fault, store the rest, refuse those with a 500.
            logger.exception(
                "a batch of %d readings failed to store; storing message by message", len(readings)
            )
            return self._store_one_by_one(good)
        if result is None:
            return False
        self._stored(good, result, len(readings))
        return True

    def _store_one_by_one(self, good: list[Held]) -> bool:
        for held in good:
            readings = held.readings or []
            try:
                result = self._store(readings)
            except Exception:
                logger.exception("message on %s failed to store; refused", held.topic)
                held.readings = None
                held.error = ApiError(500, "Internal error; it has been logged.")
                continue
            if result is None:
                return False
            self._stored([held], result, len(readings))
        return True

    def _store(self, readings: list[Reading]) -> services.IngestResult | None:
        """services.store, retried with capped backoff while the database is unavailable;
        None if asked to stop meanwhile (the batch then stays unacknowledged)."""
        delay = 0.1
        while True:
            close_old_connections()  # a kept connection past CONN_MAX_AGE, or broken
            started = time.perf_counter()
            try:
                result = self.store(readings)
            except (OperationalError, InterfaceError) as exc:
                connection.close()  # the next attempt connects afresh
                metrics.STORE_RETRIES.inc()
                if self.database_down_since is None:
                    self.database_down_since = time.monotonic()
                    metrics.DATABASE_UP.set(0)
                    logger.warning(
                        "database unavailable (%s); holding %d readings unacknowledged, retrying",
                        _first_line(exc),
                        len(readings),
                    )
                if self.stopping:
                    return None
                self._sleep(delay)
                delay = min(delay * 2, self.config.retry_max_seconds)
                continue
            metrics.COMMIT_SECONDS.observe(time.perf_counter() - started)
            if self.database_down_since is not None:
                logger.info(
                    "database back after %.1f s; committing again",
                    time.monotonic() - self.database_down_since,
                )
                self.database_down_since = None
                metrics.DATABASE_UP.set(1)
            return result

    def _stored(self, good: list[Held], result: services.IngestResult, readings: int) -> None:
        metrics.BATCH_READINGS.observe(readings)
        metrics.READINGS_STORED.inc(result.accepted)
        metrics.READINGS_DUPLICATE.inc(result.duplicates)
        mono, wall = time.monotonic(), time.time()
        for held in good:
            metrics.RECEIVE_TO_COMMIT_SECONDS.observe(mono - held.received)
            if held.published_at is not None:
                metrics.PUBLISH_TO_COMMIT_SECONDS.observe(max(0.0, wall - held.published_at))

    def _publish_refusals(self, refused: list[Held]) -> bool:
        """Publish each refusal (QoS 1) and wait for the broker to confirm them all, so that
        none is lost when the originals are acknowledged. False if the connection is lost."""
        pending = []
        for held in refused:
            assert held.error is not None
            metrics.MESSAGES_REJECTED.labels(held.kind, str(held.error.status_code)).inc()
            body = messages.rejection(held.error, held.payload, self.config.rejected_payload_bytes)
            properties = Properties(PacketTypes.PUBLISH)
            properties.ContentType = "application/json"
            pending.append(
                self.client.publish(topics.rejected(held.topic), body, qos=1, properties=properties)
            )
        generation = self.generation
        deadline = time.monotonic() + REJECTED_CONFIRM_SECONDS
        while not all(info.is_published() for info in pending):
            if generation != self.generation or time.monotonic() > deadline:
                if generation == self.generation:
                    # Start over on a new connection; the session keeps everything unacknowledged.
                    self.client.disconnect()
                    self._pump(0.0, read=False)
                return False
            # Messages that arrive meanwhile open the next batch (while it has room).
            self._pump(0.05, read=not self._full())
        return True

    def _finish(self) -> None:
        """On SIGTERM: the open batch is committed and acknowledged (unless the database is
        down: then it is left to be redelivered), the acknowledgements written, and the
        connection closed with the session kept."""
        if self.batch.held and self.client.socket() is not None:
            self._flush()
        deadline = time.monotonic() + STOP_DRAIN_SECONDS
        while self.client.want_write() and time.monotonic() < deadline:
            if not self._pump(0.05, read=False):
                break
        if self.client.socket() is not None:
            self.client.disconnect()
            self._pump(0.0, read=False)
        connection.close()
        logger.info("ingest_mqtt %s stopped", self.config.client_id)


def _nothing(client: mqtt.Client, userdata: Any, sock: Any) -> None:
    pass


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _published_at(message: mqtt.MQTTMessage) -> float | None:
    for key, value in getattr(message.properties, "UserProperty", None) or ():
        if key == PUBLISHED_AT:
            try:
                return float(value)
            except ValueError:
                return None
    return None
