"""Concurrent batches over the same devices: exact counts, newest status, no deadlock."""

import random
import threading
from collections import Counter

import pytest
from django.db import connections
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from telemetry.models import CurrentVehicleStatus, MeterTelemetry, VehicleTelemetry
from tests.factories import at, make_key, meter, post, vehicle


@pytest.mark.django_db(transaction=True)
@pytest.mark.citus
@pytest.mark.usefixtures("each_layout")
def test_overlapping_batches_from_two_threads_end_with_exact_counts() -> None:
    _, key = make_key(ApiKey.Role.DEVICE)
    devices = [f"VH{i:02d}" for i in range(40)]
    rng = random.Random(7)

    def batches(seed: int) -> list[list[dict]]:
        # Every thread covers the same (device, minute) keys in its own shuffled order, so
        # they collide on history keys, status rows and roll-up rows all the time.
        local = random.Random(seed)
        readings = [vehicle(d, at(m), soc=float(m)) for d in devices for m in range(1, 16)]
        readings += [meter(d.replace("VH", "MT"), at(m)) for d in devices for m in range(1, 16)]
        local.shuffle(readings)
        return [readings[i : i + 100] for i in range(0, len(readings), 100)]

    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        client = APIClient()
        try:
            for batch in batches(seed):
                response = post(client, key, batch)
                with lock:
                    results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(rng.randrange(10**6),)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    unique = 40 * 15
    assert Counter(status for status, _ in results) == {200: 3 * 12}
    assert sum(body["accepted"] for _, body in results) == 2 * unique
    assert sum(body["duplicates"] for _, body in results) == 2 * 2 * unique
    assert VehicleTelemetry.objects.count() == unique
    assert MeterTelemetry.objects.count() == unique
    newest = {(s.vehicle_id, s.ts, s.soc) for s in CurrentVehicleStatus.objects.all()}
    assert newest == {(d, at(1), 1.0) for d in devices}
