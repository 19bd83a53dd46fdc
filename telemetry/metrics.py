"""Ingestion counters (served with the rest at /metrics, fleet.plumbing.metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

READINGS_ACCEPTED = Counter("fleet_readings_accepted_total", "Readings stored in history", ["kind"])
READINGS_DUPLICATE = Counter(
    "fleet_readings_duplicate_total", "Readings whose (device, ts) was already stored", ["kind"]
)
READINGS_REJECTED = Counter(
    "fleet_readings_rejected_total",
    "Readings in batches refused as invalid (nothing stored)",
    ["kind"],
)
INGEST_BATCH_SIZE = Histogram(
    "fleet_ingest_batch_size",
    "Readings per ingested request",
    buckets=(1, 2, 5, 10, 50, 100, 500, 1000, 2500, 5000),
)
