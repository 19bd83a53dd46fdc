"""Coverage, paired efficiency, baseline and the health verdict of GET /v1/analytics/performance,
against an oracle computed in Python from the raw readings and the map."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.registry.services.mappings import assign_meter, unassign_meter
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0, iso

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
H = timedelta(hours=1)
M = timedelta(minutes=1)
DAY = timedelta(days=1)
PLACES = Decimal("0.0001")


def perf(client: APIClient, vehicle_id: str, start: datetime, end: datetime) -> Any:
    response = client.get(
        f"/v1/analytics/performance/{vehicle_id}", {"from": iso(start), "to": iso(end)}
    )
    assert response.status_code == 200, response.content
    return response.json()


def four(value: Decimal | None) -> float | None:
    return None if value is None else float(value.quantize(PLACES, rounding=ROUND_HALF_EVEN))


@dataclass
class World:
    """What was stored, kept in Python: the oracle's only input."""

    dc: dict[tuple[str, datetime], Decimal] = field(default_factory=dict)
    ac: dict[tuple[str, datetime], Decimal] = field(default_factory=dict)
    # (vehicle, meter, from, to or None)
    maps: list[tuple[str, str, datetime, datetime | None]] = field(default_factory=list)

    def store(self, store: Store, readings: list[Any]) -> None:
        store(*readings)
        for r in readings:  # the first of a (device, ts) counts, as in storage
            if hasattr(r, "vehicle_id"):
                self.dc.setdefault((r.vehicle_id, r.ts), r.kwh_delivered_dc)
            else:
                self.ac.setdefault((r.meter_id, r.ts), r.kwh_consumed_ac)

    def assign(self, vehicle: str, meter: str, at: datetime) -> None:
        assign_meter(vehicle_id=vehicle, meter_id=meter, at=at)
        # A re-map closes the vehicle's open row and the meter's open row at `at`.
        self.maps = [
            (v, m, f, at if t is None and (v == vehicle or m == meter) else t)
            for v, m, f, t in self.maps
        ]
        self.maps.append((vehicle, meter, at, None))

    def unassign(self, vehicle: str, at: datetime) -> None:
        unassign_meter(vehicle_id=vehicle, at=at)
        self.maps = [(v, m, f, at if t is None and v == vehicle else t) for v, m, f, t in self.maps]


def oracle(world: World, vehicle: str, start: datetime, end: datetime, *, interval: int) -> dict:
    """Coverage, paired totals and verdict (baseline aside) straight from the raw readings."""

    def spans(a: datetime, b: datetime) -> list[tuple[str, datetime, datetime]]:
        out = []
        for v, m, f, t in world.maps:
            s, e = max(f, a), min(t or b, b)
            if v == vehicle and s < e:
                out.append((m, s, e))
        return out

    def counts(a: datetime, b: datetime) -> tuple[int, Decimal, int, Decimal, float]:
        n_dc = sum(1 for (v, ts) in world.dc if v == vehicle and a <= ts < b)
        kwh_dc = sum(
            (k for (v, ts), k in world.dc.items() if v == vehicle and a <= ts < b), Decimal(0)
        )
        n_ac, kwh_ac, mapped = 0, Decimal(0), 0.0
        for m, s, e in spans(a, b):
            mapped += (e - s).total_seconds()
            for (meter, ts), k in world.ac.items():
                if meter == m and s <= ts < e:
                    n_ac += 1
                    kwh_ac += k
        return n_dc, kwh_dc, n_ac, kwh_ac, mapped

    def share(n: int, seconds: float) -> Decimal:
        return min(Decimal(1), Decimal(n) / (Decimal(seconds) / interval))

    n_dc, _, n_ac, _, mapped = counts(start, end)
    hours, p_dc, p_ac = 0, Decimal(0), Decimal(0)
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        a, b = max(hour, start), min(hour + H, end)
        h_dc, k_dc, h_ac, k_ac, h_mapped = counts(a, b)
        if (
            h_mapped
            and share(h_dc, (b - a).total_seconds()) >= Decimal("0.9")
            and share(h_ac, h_mapped) >= Decimal("0.9")
        ):
            hours, p_dc, p_ac = hours + 1, p_dc + k_dc, p_ac + k_ac
        hour += H
    ratio = p_dc / p_ac if p_ac else None
    if not mapped:
        verdict = "no_meter"
    elif hours < 2 or ratio is None:
        verdict = "insufficient_data"
    elif ratio < Decimal("0.85"):
        verdict = "leak"
    else:
        verdict = "ok"
    return {
        "coverage": {
            "vehicle": four(share(n_dc, (end - start).total_seconds())),
            "meter": four(share(n_ac, mapped)) if mapped else None,
        },
        "paired": {
            "hours": hours,
            "total_dc": float(p_dc),
            "total_ac": float(p_ac),
            "efficiency": four(ratio),
        },
        "health": verdict,
    }


def charge(
    vehicle: str, meter: str, start: datetime, minutes: int, efficiency: str, *, ac_kwh: str = "0.2"
) -> list[Any]:
    """A charge with a reading a minute on both sides at the given DC/AC efficiency."""
    readings: list[Any] = []
    for i in range(minutes):
        ts = start + i * M
        ac_value = Decimal(ac_kwh)
        readings.append(dc(vehicle, ts, str((ac_value * Decimal(efficiency)).quantize(PLACES))))
        readings.append(ac(meter, ts, ac_kwh))
    return readings


def test_a_two_hour_telematics_gap_in_a_charge_is_ok_not_a_leak(
    analyst: APIClient, store: Store
) -> None:
    world = World()
    world.assign("VH1", "MT1", T0 - DAY)
    readings = charge("VH1", "MT1", T0, 6 * 60, "0.92")
    gap = (T0 + 2 * H, T0 + 4 * H)  # telematics offline; the meter keeps reporting
    readings = [r for r in readings if not (hasattr(r, "vehicle_id") and gap[0] <= r.ts < gap[1])]
    world.store(store, readings)
    body = perf(analyst, "VH1", T0, T0 + 6 * H)
    assert body["efficiency"] == 0.6133  # over the raw window: looks like a leak
    assert body["health"] == "ok"
    assert body["paired"] == {"hours": 4, "total_dc": 44.16, "total_ac": 48.0, "efficiency": 0.92}
    assert body["coverage"] == {"vehicle": 0.6667, "meter": 1.0}
    assert {k: body[k] for k in ("coverage", "paired", "health")} == oracle(
        world, "VH1", T0, T0 + 6 * H, interval=60
    )


def test_a_real_leak_with_full_coverage_is_a_leak(analyst: APIClient, store: Store) -> None:
    world = World()
    world.assign("VH1", "MT1", T0 - DAY)
    world.store(store, charge("VH1", "MT1", T0, 3 * 60, "0.70"))
    body = perf(analyst, "VH1", T0, T0 + 3 * H)
    assert body["health"] == "leak"
    assert body["coverage"] == {"vehicle": 1.0, "meter": 1.0}
    assert body["paired"]["hours"] == 3 and body["paired"]["efficiency"] == 0.7


def test_a_meter_outage_is_insufficient_data_and_no_map_is_no_meter(
    analyst: APIClient, store: Store
) -> None:
    world = World()
    world.assign("VH1", "MT1", T0 - DAY)
    readings = charge("VH1", "MT1", T0, 3 * 60, "0.70")
    # The meter is silent for all but the first 50 minutes: one paired hour is not enough.
    world.store(store, [r for r in readings if hasattr(r, "vehicle_id") or r.ts < T0 + 50 * M])
    body = perf(analyst, "VH1", T0, T0 + 3 * H)
    assert body["health"] == "insufficient_data"
    assert body["paired"]["hours"] == 0
    world.store(store, charge("VH2", "MT9", T0, 60, "0.9"))
    assert perf(analyst, "VH2", T0, T0 + H)["health"] == "no_meter"
    assert perf(analyst, "VH2", T0, T0 + H)["coverage"] == {"vehicle": 1.0, "meter": None}


def test_a_fall_from_a_steady_092_to_086_is_degraded_not_a_leak(
    analyst: APIClient, store: Store, settings: Settings
) -> None:
    # A reading every 10 minutes keeps the fifteen days small.
    settings.TELEMETRY_READING_INTERVAL_SECONDS = 600
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - 30 * DAY)
    day0 = T0 - 14 * DAY
    readings: list[Any] = []
    for n in range(15 * 24 * 6):
        ts = day0 + n * 10 * M
        efficiency = "0.92" if ts < T0 else "0.86"
        readings.append(dc("VH1", ts, str((Decimal("2") * Decimal(efficiency)).quantize(PLACES))))
        readings.append(ac("MT1", ts, "2"))
    store(*readings)
    body = perf(analyst, "VH1", T0, T0 + DAY)
    assert body["baseline_efficiency"] == 0.92
    assert body["paired"]["efficiency"] == 0.86 and body["paired"]["hours"] == 24
    assert body["health"] == "degraded"
    # With six days of history the baseline is null, and 0.86 is above the alert threshold.
    assert perf(analyst, "VH1", T0 - 8 * DAY, T0 - 7 * DAY)["baseline_efficiency"] is None


def test_coverage_paired_totals_and_verdict_equal_the_oracle_under_gaps_remaps_and_repeats(
    analyst: APIClient, store: Store
) -> None:
    rng = random.Random(14)
    world = World()
    world.assign("V1", "M1", T0 - DAY)
    world.assign("V2", "M2", T0 - DAY)
    world.assign("V1", "M3", T0 + 3 * H + 17 * M)  # a re-map mid-hour
    world.assign("V2", "M1", T0 + 5 * H + 40 * M)  # M1 moves on to V2
    world.unassign("V1", T0 + 8 * H + 5 * M)
    readings: list[Any] = []
    for minute in range(10 * 60):
        ts = T0 + minute * M
        for vehicle, efficiency in (("V1", "0.9"), ("V2", "0.8")):
            in_gap = vehicle == "V1" and 60 <= minute < 150  # a 90-minute telematics gap
            if rng.random() < 0.93 and not in_gap:
                kwh = (Decimal("0.3") * Decimal(efficiency)).quantize(PLACES)
                readings.append(dc(vehicle, ts, str(kwh)))
        for meter_id in ("M1", "M2", "M3"):
            if rng.random() < 0.95:
                readings.append(ac(meter_id, ts, "0.3"))
    rng.shuffle(readings)
    world.store(store, readings[: len(readings) // 2])
    world.store(store, readings[len(readings) // 3 :])  # late readings and repeats
    for _ in range(25):
        start = T0 + rng.randrange(-60, 9 * 60) * M + rng.randrange(60) * timedelta(seconds=1)
        end = start + rng.choice([30, 60, 61, 90, 150, 300, 600]) * M
        for vehicle in ("V1", "V2"):
            body = perf(analyst, vehicle, start, end)
            got = {k: body[k] for k in ("coverage", "paired", "health")}
            assert got == oracle(world, vehicle, start, end, interval=60), (vehicle, start, end)


def test_an_hour_with_a_meter_mapped_for_minutes_is_judged_on_those_minutes(
    analyst: APIClient, store: Store
) -> None:
    world = World()
    world.assign("VH1", "MT1", T0 - DAY)
    world.unassign("VH1", T0 + 2 * H + 10 * M)  # the meter feeds VH1 for 10 minutes of hour 2
    world.store(store, charge("VH1", "MT1", T0, 3 * 60, "0.9"))
    body = perf(analyst, "VH1", T0, T0 + 3 * H)
    assert body["paired"]["hours"] == 3  # hour 2 paired on its 10 mapped minutes
    assert body["paired"]["total_ac"] == 26.0  # 60 + 60 + 10 readings of 0.2 kWh
    assert body["coverage"] == {"vehicle": 1.0, "meter": 1.0}
    assert {k: body[k] for k in ("coverage", "paired", "health")} == oracle(
        world, "VH1", T0, T0 + 3 * H, interval=60
    )
