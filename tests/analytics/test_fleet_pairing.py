"""How the fleet statement pairs hours: vehicles whose two sides covered the same hours take a
shortcut (no per-hour join), the others pair hour by hour. Either way the fleet's paired totals
equal the per-vehicle answer (analytics.health), for hand-made cases at the shortcut's edges and
for a random fleet."""

from __future__ import annotations

import random
from datetime import timedelta
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.registry.services.mappings import assign_meter
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0, iso

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
H = timedelta(hours=1)
HOURS = 6
FIELDS = ("coverage", "paired", "baseline_efficiency", "health")
# With one reading expected every 10 minutes, an hour is covered with 6 readings (0.9 x 6 = 5.4).
FULL, LOW, NONE = 6, 3, 0


@pytest.fixture(autouse=True)
def ten_minute_interval(settings: Settings) -> None:
    settings.TELEMETRY_READING_INTERVAL_SECONDS = 600


def readings_of(vehicle: str, meter: str, dc_hours: list[int], ac_hours: list[int]) -> list[Any]:
    """Per hour of the window, that many readings on each side: 0.27 kWh DC and 0.3 kWh AC."""
    assign_meter(vehicle_id=vehicle, meter_id=meter, at=T0 - 24 * H)
    out: list[Any] = []
    for hour, (n_dc, n_ac) in enumerate(zip(dc_hours, ac_hours, strict=True)):
        out += [dc(vehicle, T0 + hour * H + i * timedelta(minutes=10), "0.27") for i in range(n_dc)]
        out += [ac(meter, T0 + hour * H + i * timedelta(minutes=10), "0.3") for i in range(n_ac)]
    return out


def fleet_rows(client: APIClient) -> dict[str, Any]:
    window = {"from": iso(T0), "to": iso(T0 + HOURS * H), "page_size": "1000"}
    body = client.get("/v1/analytics/fleet", window).json()
    return {row["vehicleId"]: row for row in body["results"]}


def per_vehicle(client: APIClient, vehicle: str) -> dict[str, Any]:
    window = {"from": iso(T0), "to": iso(T0 + HOURS * H)}
    one = client.get(f"/v1/analytics/performance/{vehicle}", window).json()
    return {k: one[k] for k in FIELDS}


# (vehicle side, meter side, paired hours): readings per hour of the six.
EDGES = {
    "V_ALL": ([FULL] * 6, [FULL] * 6, 6),
    # Neither side has a row for the last hour (a window that ends in the current hour).
    "V_BOTH_LAST_MISSING": ([FULL] * 5 + [NONE], [FULL] * 5 + [NONE], 5),
    # One side has no row for the last hour, the other a low one: the same hour uncovered.
    "V_LAST_MISSING_AND_LOW": ([FULL] * 5 + [NONE], [FULL] * 5 + [LOW], 5),
    "V_SAME_LOW_HOUR": (
        [FULL, FULL, LOW, FULL, FULL, FULL],
        [FULL, FULL, LOW, FULL, FULL, FULL],
        5,
    ),
    # As many covered hours on each side, but not the same ones.
    "V_OTHER_LOW_HOURS": (
        [FULL, FULL, LOW, FULL, FULL, FULL],
        [FULL, FULL, FULL, LOW, FULL, FULL],
        4,
    ),
    "V_OTHER_MISSING_HOURS": (
        [FULL, FULL, NONE, FULL, FULL, FULL],
        [FULL, FULL, FULL, NONE, FULL, FULL],
        4,
    ),
    # One side without a row in a middle hour, the other without one in the last hour: as many
    # rows each, and the last hour is not the first side's gap.
    "V_MIDDLE_AND_LAST_MISSING": (
        [FULL, FULL, NONE, FULL, FULL, FULL],
        [FULL, FULL, FULL, FULL, FULL, NONE],
        4,
    ),
    "V_LAST_AND_MIDDLE_MISSING": (
        [FULL, FULL, FULL, FULL, FULL, NONE],
        [FULL, NONE, FULL, FULL, FULL, FULL],
        4,
    ),
    "V_LOW_EVERYWHERE_ON_ONE_SIDE": ([LOW] * 6, [FULL] * 6, 0),
}


def test_hours_are_paired_exactly_at_the_shortcuts_edges(analyst: APIClient, store: Store) -> None:
    readings: list[Any] = []
    for n, (vehicle, (dc_hours, ac_hours, _)) in enumerate(EDGES.items()):
        readings += readings_of(vehicle, f"M{n}", dc_hours, ac_hours)
    store(*readings)
    rows = fleet_rows(analyst)
    for vehicle, (_, _, hours) in EDGES.items():
        assert rows[vehicle]["paired"]["hours"] == hours, vehicle
        if hours:
            assert rows[vehicle]["paired"]["total_dc"] == pytest.approx(hours * 1.62), vehicle
            assert rows[vehicle]["paired"]["total_ac"] == pytest.approx(hours * 1.8), vehicle
        assert {k: rows[vehicle][k] for k in FIELDS} == per_vehicle(analyst, vehicle), vehicle
    assert rows["V_ALL"]["health"] == "ok"
    assert rows["V_LOW_EVERYWHERE_ON_ONE_SIDE"]["health"] == "insufficient_data"


def test_a_random_fleet_pairs_like_the_per_vehicle_answer(analyst: APIClient, store: Store) -> None:
    rng = random.Random(14)
    readings: list[Any] = []
    for n in range(40):
        # Mostly healthy, as fleets are; some sides with gaps anywhere.
        def side() -> list[int]:
            return [rng.choice([FULL] * 6 + [LOW, NONE]) for _ in range(HOURS)]

        readings += readings_of(f"VR{n:02d}", f"MR{n:02d}", side(), side())
    rng.shuffle(readings)
    store(*readings)
    rows = fleet_rows(analyst)
    assert len(rows) == 40
    for vehicle, row in rows.items():
        assert {k: row[k] for k in FIELDS} == per_vehicle(analyst, vehicle), vehicle
