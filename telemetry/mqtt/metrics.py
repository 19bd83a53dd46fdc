"""The consumer's metrics, served on its own port (MQTT_METRICS_PORT) with the ingestion
counters that services.store keeps (fleet_readings_accepted_total, ..._duplicate_total,
fleet_ingest_batch_size), which count the MQTT path there as they count HTTP at /metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

# Latency buckets, seconds: fine enough (about 25% apart) to read a p99 off them.
_LATENCY = (
    0.002, 0.003, 0.005, 0.0075, 0.01, 0.0125, 0.015, 0.02, 0.025, 0.03, 0.04, 0.05, 0.06, 0.075,
    0.1, 0.125, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0, 15.0,
    30.0, 60.0, 120.0, 300.0,
)  # fmt: skip

MESSAGES_RECEIVED = Counter(
    "fleet_mqtt_messages_received_total", "MQTT messages received, by topic kind", ["kind"]
)
MESSAGES_REJECTED = Counter(
    "fleet_mqtt_messages_rejected_total",
    "MQTT messages refused (published on fleet/v1/rejected/...), by topic kind and status",
    ["kind", "status"],
)
READINGS_STORED = Counter(
    "fleet_mqtt_readings_stored_total", "Readings from MQTT newly stored in history"
)
READINGS_DUPLICATE = Counter(
    "fleet_mqtt_readings_duplicate_total",
    "Readings from MQTT whose (device, ts) was already stored (redeliveries among them)",
)
BATCH_MESSAGES = Histogram(
    "fleet_mqtt_batch_messages",
    "Messages per batch (acknowledged together after one commit)",
    buckets=(1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000),
)
BATCH_READINGS = Histogram(
    "fleet_mqtt_batch_readings",
    "Valid readings per batch (stored with one services.store call)",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 3000, 5000, 7000),
)
COMMIT_SECONDS = Histogram(
    "fleet_mqtt_commit_seconds", "Time of one batch's services.store call", buckets=_LATENCY
)
RECEIVE_TO_COMMIT_SECONDS = Histogram(
    "fleet_mqtt_receive_to_commit_seconds",
    "From a message's arrival at the consumer to its batch's commit",
    buckets=_LATENCY,
)
PUBLISH_TO_COMMIT_SECONDS = Histogram(
    "fleet_mqtt_publish_to_commit_seconds",
    "From the publisher's published-at user property (Unix seconds) to the commit; only "
    "messages that carry it, and only as good as the publisher's clock",
    buckets=_LATENCY,
)
STORE_RETRIES = Counter(
    "fleet_mqtt_store_retries_total", "Batch commits retried because the database was unavailable"
)
DATABASE_UP = Gauge("fleet_mqtt_database_up", "1 while the last commit succeeded, 0 while retrying")
BROKER_CONNECTED = Gauge("fleet_mqtt_broker_connected", "1 while connected to the broker")
