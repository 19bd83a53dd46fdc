"""The fleet view's coverage, paired efficiency and verdicts: the same as the per-vehicle answer
for every vehicle, filtered with ?health=, ordered leaks first; degraded from stored baselines."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from analytics.services import evaluate_health
from fleet.registry.services.mappings import assign_meter, unassign_meter
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0, iso

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
H = timedelta(hours=1)
M = timedelta(minutes=1)
DAY = timedelta(days=1)
FIELDS = ("coverage", "paired", "baseline_efficiency", "health")


def fleet(client: APIClient, **params: Any) -> Any:
    response = client.get("/v1/analytics/fleet", {"page_size": "100", **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def mixed_fleet(store: Store) -> None:
    """Ten hours: V1 with a 90-minute telematics gap (0.9), V2 leaking (0.8), V3 fine (0.93),
    V4 with no meter; mid-hour re-maps and an unmapping; random dropouts; late repeats."""
    rng = random.Random(21)
    assign_meter(vehicle_id="V1", meter_id="M1", at=T0 - DAY)
    assign_meter(vehicle_id="V2", meter_id="M2", at=T0 - DAY)
    assign_meter(vehicle_id="V3", meter_id="M3", at=T0 - DAY)
    assign_meter(vehicle_id="V1", meter_id="M5", at=T0 + 3 * H + 17 * M)
    unassign_meter(vehicle_id="V3", at=T0 + 8 * H + 5 * M)
    readings: list[Any] = []
    for minute in range(10 * 60):
        ts = T0 + minute * M
        for vehicle, efficiency in (("V1", "0.9"), ("V2", "0.8"), ("V3", "0.93"), ("V4", "0.9")):
            in_gap = vehicle == "V1" and 60 <= minute < 150
            if rng.random() < 0.95 and not in_gap:
                readings.append(dc(vehicle, ts, str(Decimal("0.3") * Decimal(efficiency))))
        for meter_id in ("M1", "M2", "M3", "M5"):
            if rng.random() < 0.96:
                readings.append(ac(meter_id, ts, "0.3"))
    rng.shuffle(readings)
    store(*readings[: 2 * len(readings) // 3])
    store(*readings[len(readings) // 2 :])


def test_fleet_verdicts_coverage_and_paired_totals_equal_the_per_vehicle_ones(
    analyst: APIClient, mixed_fleet: None
) -> None:
    window = {"from": iso(T0), "to": iso(T0 + 10 * H)}
    body = fleet(analyst, **window)
    assert [r["vehicleId"] for r in body["results"]][:1] == ["V2"]  # the leak first
    verdicts = {r["vehicleId"]: r["health"] for r in body["results"]}
    assert verdicts == {"V1": "ok", "V2": "leak", "V3": "ok", "V4": "no_meter"}
    for row in body["results"]:
        one = analyst.get(f"/v1/analytics/performance/{row['vehicleId']}", window).json()
        assert {k: row[k] for k in FIELDS} == {k: one[k] for k in FIELDS}, row["vehicleId"]


def test_the_health_filter_keeps_the_verdicts_asked_for(
    analyst: APIClient, mixed_fleet: None
) -> None:
    window = {"from": iso(T0), "to": iso(T0 + 10 * H)}
    body = fleet(analyst, health="leak,degraded", **window)
    assert (body["count"], [r["vehicleId"] for r in body["results"]]) == (1, ["V2"])
    ok = fleet(analyst, health="ok,no_meter", **window)["results"]
    assert sorted(r["vehicleId"] for r in ok) == ["V1", "V3", "V4"]
    refused = analyst.get("/v1/analytics/fleet", {"health": "leak,broken", **window})
    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "'health' is a comma list of leak, degraded, ok, insufficient_data, no_meter; not 'broken'."
    )


def test_a_vehicle_below_its_stored_baseline_is_degraded_in_the_fleet(
    analyst: APIClient, store: Store, settings: Settings
) -> None:
    settings.TELEMETRY_READING_INTERVAL_SECONDS = 600
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - 30 * DAY)
    readings: list[Any] = []
    for n in range(15 * 24 * 6):
        ts = T0 - 14 * DAY + n * 10 * M
        efficiency = "0.92" if ts < T0 else "0.86"
        readings.append(dc("VH1", ts, str(Decimal("2") * Decimal(efficiency))))
        readings.append(ac("MT1", ts, "2"))
    store(*readings)
    window = {"from": iso(T0), "to": iso(T0 + DAY)}
    before = fleet(analyst, **window)["results"][0]
    assert (before["health"], before["baseline_efficiency"]) == ("ok", None)  # not evaluated
    evaluate_health(now=T0 + DAY)
    after = fleet(analyst, **window)["results"][0]
    assert (after["health"], after["baseline_efficiency"]) == ("degraded", 0.92)
    assert after["paired"] == {
        "hours": 24,
        "total_dc": 247.68,
        "total_ac": 288.0,
        "efficiency": 0.86,
    }
    assert fleet(analyst, health="degraded", **window)["count"] == 1


def test_the_fleet_health_page_shows_verdicts_with_coverage_leaks_first(
    admin_client: Client, mixed_fleet: None, clock: time_machine.Traveller
) -> None:
    clock.move_to(T0 + 10 * H + 30 * M)  # the page's window: the 24 hours up to this one's end
    response = admin_client.get("/admin/fleet-health/")
    page = response.content.decode()
    assert re.findall(r'data-vehicle="([^"]+)"', page) == ["V2", "V1", "V3", "V4"]
    rows = {row["vehicleId"]: row for row in response.context["rows"]}
    assert [rows[v]["health"] for v in ("V1", "V2", "V3", "V4")] == [
        "ok",
        "leak",
        "ok",
        "no_meter",
    ]
    assert rows["V4"]["coverage"]["meter"] is None
    v2 = rows["V2"]
    cells = re.search(r'data-vehicle="V2">(.*?)</tr>', page, re.S)
    assert cells is not None
    assert 'health-leak"><strong' in cells.group(1)
    assert f"{v2['paired']['efficiency']:.4f} ({v2['paired']['hours']} h)" in cells.group(1)
    assert f"{v2['coverage']['vehicle']:.2f} / {v2['coverage']['meter']:.2f}" in cells.group(1)
