"""The consumer's settings (MQTT_* in fleet/project/settings.py, where their defaults and
meanings are written), gathered into one typed object."""

from __future__ import annotations

import socket
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from django.conf import settings

DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


@dataclass(frozen=True)
class MqttConfig:
    host: str
    port: int
    tls: bool
    ca_file: str  # "" with tls: the system's trusted CAs
    username: str
    password: str
    client_id: str
    share_group: str
    keepalive: int
    session_expiry: int
    receive_maximum: int
    batch_readings: int
    batch_seconds: float
    batch_bytes: int
    metrics_port: int
    retry_max_seconds: float
    reconnect_max_seconds: float
    rejected_payload_bytes: int


def parse_url(url: str) -> tuple[bool, str, int, str, str]:
    """(tls, host, port, username, password) of mqtt://user:password@host:port or mqtts://..."""
    parts = urlsplit(url)
    if parts.scheme not in DEFAULT_PORTS:
        raise ValueError(f"MQTT_URL must start with mqtt:// or mqtts://, not {url!r}")
    if not parts.hostname:
        raise ValueError(f"MQTT_URL names no host: {url!r}")
    return (
        parts.scheme == "mqtts",
        parts.hostname,
        parts.port or DEFAULT_PORTS[parts.scheme],
        unquote(parts.username or ""),
        unquote(parts.password or ""),
    )


def load() -> MqttConfig:
    tls, host, port, username, password = parse_url(settings.MQTT_URL)
    return MqttConfig(
        host=host,
        port=port,
        tls=tls,
        ca_file=settings.MQTT_CA_FILE,
        # Set on their own, they win over the URL's (a password need not sit in a URL).
        username=settings.MQTT_USERNAME or username,
        password=settings.MQTT_PASSWORD or password,
        # Fixed across restarts: the broker keeps this client's session (its subscription and
        # every message not yet acknowledged) under this id. One id per consumer process.
        client_id=settings.MQTT_CLIENT_ID or f"fleet-ingest-{socket.gethostname()}",
        share_group=settings.MQTT_SHARE_GROUP,
        keepalive=settings.MQTT_KEEPALIVE,
        session_expiry=settings.MQTT_SESSION_EXPIRY,
        receive_maximum=settings.MQTT_RECEIVE_MAXIMUM,
        batch_readings=settings.MQTT_BATCH_READINGS,
        batch_seconds=settings.MQTT_BATCH_MS / 1000,
        batch_bytes=settings.MQTT_BATCH_BYTES,
        metrics_port=settings.MQTT_METRICS_PORT,
        retry_max_seconds=settings.MQTT_RETRY_MAX_SECONDS,
        reconnect_max_seconds=settings.MQTT_RECONNECT_MAX_SECONDS,
        rejected_payload_bytes=settings.MQTT_REJECTED_PAYLOAD_BYTES,
    )
