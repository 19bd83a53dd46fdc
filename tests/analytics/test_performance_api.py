"""GET /v1/analytics/performance/{vehicleId}: exact numbers from hand-built fixtures."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from rest_framework.test import APIClient

from fleet.registry.services.devices import register_devices
from fleet.registry.services.mappings import add_mapping, assign_meter, unassign_meter
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0, at, iso, make_key, meter, post, vehicle
from tests.support.prepared import prepared_runs

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
H = timedelta(hours=1)
M = timedelta(minutes=1)


def perf(client: APIClient, vehicle_id: str, **params: Any) -> Any:
    response = client.get(f"/v1/analytics/performance/{vehicle_id}", params)
    assert response.status_code == 200, response.content
    return response.json()


def window(start: datetime, end: datetime) -> dict[str, str]:
    return {"from": iso(start), "to": iso(end)}


def test_two_vehicle_and_three_meter_readings_give_exactly_their_own_sums(
    analyst: APIClient, store: Store
) -> None:
    # The seed's JOIN would report 3 x 30 DC and 2 x 36 AC here.
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - 24 * H)
    store(dc("VH1", T0 + 1 * M, "10.0", temp=20.0), dc("VH1", T0 + 2 * M, "20.0", temp=30.0))
    store(
        ac("MT1", T0 + 1 * M, "11.0"), ac("MT1", T0 + 2 * M, "12.0"), ac("MT1", T0 + 3 * M, "13.0")
    )
    body = perf(analyst, "VH1", **window(T0, T0 + H))
    assert body == {
        "total_dc": 30.0,
        "total_ac": 36.0,
        "efficiency": 0.8333,
        "avg_battery_temp": 25.0,
        "vehicleId": "VH1",
        "from": iso(T0),
        "to": iso(T0 + H),
        "readings": {"vehicle": 2, "meter": 3},
        "meters": ["MT1"],
        # 2 and 3 of the 60 readings an hour expected: no hour is paired.
        "coverage": {"vehicle": 0.0333, "meter": 0.05},
        "paired": {"hours": 0, "total_dc": 0.0, "total_ac": 0.0, "efficiency": None},
        "baseline_efficiency": None,
        "health": "insufficient_data",
    }


def test_a_reading_at_from_counts_and_one_at_to_does_not(analyst: APIClient, store: Store) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    store(
        dc("VH1", T0, "1.5"),
        dc("VH1", T0 + H, "100"),
        ac("MT1", T0, "2.5"),
        ac("MT1", T0 + H, "100"),
    )
    body = perf(analyst, "VH1", **window(T0, T0 + H))
    assert (body["total_dc"], body["total_ac"], body["readings"]) == (
        1.5,
        2.5,
        {"vehicle": 1, "meter": 1},
    )


def test_a_remap_mid_window_splits_ac_between_the_meters(analyst: APIClient, store: Store) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + 2 * H + 17 * M)
    store(
        ac("MT1", T0 + 1 * H, "5"),  # MT1 while mapped: counts
        ac("MT1", T0 + 2 * H + 16 * M, "0.25"),  # last minute on MT1: counts
        ac("MT1", T0 + 2 * H + 17 * M, "7"),  # MT1 after the re-map: mapped to nobody
        ac("MT2", T0 + 1 * H, "100"),  # MT2 before it served VH1: not VH1's
        ac("MT2", T0 + 2 * H + 17 * M, "9"),  # MT2 from the re-map on: counts
        dc("VH1", T0 + 1 * H, "12.5"),
    )
    body = perf(analyst, "VH1", **window(T0, T0 + 4 * H))
    assert body["total_ac"] == 14.25
    assert body["readings"]["meter"] == 3
    assert body["meters"] == ["MT1", "MT2"]
    assert body["efficiency"] == round(12.5 / 14.25, 4)


def test_a_meter_mapped_to_nobody_is_ignored(analyst: APIClient, store: Store) -> None:
    register_devices(vehicle_ids=["VH1"])
    store(dc("VH1", T0, "4"), ac("MT9", T0, "5"))
    body = perf(analyst, "VH1", **window(T0, T0 + H))
    assert (body["total_dc"], body["total_ac"], body["efficiency"], body["meters"]) == (
        4.0,
        0.0,
        None,
        [],
    )


def test_a_meter_that_served_another_vehicle_is_not_counted(
    analyst: APIClient, store: Store
) -> None:
    add_mapping(vehicle_id="VH2", meter_id="MT1", valid_from=T0 - H, valid_to=T0 + H)
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 + H)
    store(ac("MT1", T0 + 30 * M, "3"), ac("MT1", T0 + 90 * M, "4"), dc("VH1", T0 + 90 * M, "4"))
    assert perf(analyst, "VH1", **window(T0, T0 + 2 * H))["total_ac"] == 4.0
    assert perf(analyst, "VH2", **window(T0, T0 + 2 * H))["total_ac"] == 3.0


def test_duplicates_are_not_double_counted(analyst: APIClient) -> None:
    _, key = make_key("device")
    assign_meter(vehicle_id="VH001", meter_id="MT001", at=at(120))
    batch = [vehicle(ts=at(5), kwhDeliveredDc=1.25), meter(ts=at(5), kwhConsumedAc=1.5)]
    post(APIClient(), key, batch)
    again = post(APIClient(), key, [*batch, vehicle(ts=at(5), kwhDeliveredDc=99.0)])
    assert again.json()["duplicates"] == 3
    body = perf(analyst, "VH001", hours=1)
    assert (body["total_dc"], body["total_ac"], body["readings"]) == (
        1.25,
        1.5,
        {"vehicle": 1, "meter": 1},
    )


def test_hours_24_and_48_with_a_reading_36_hours_old(analyst: APIClient) -> None:
    _, key = make_key("device")
    post(
        APIClient(),
        key,
        [vehicle(ts=at(36 * 60), kwhDeliveredDc=3.0), vehicle(ts=at(60), kwhDeliveredDc=2.0)],
    )
    assert perf(analyst, "VH001", hours=24)["total_dc"] == 2.0
    assert perf(analyst, "VH001", hours=48)["total_dc"] == 5.0
    assert perf(analyst, "VH001")["readings"]["vehicle"] == 1  # default 24 hours


def test_efficiency_is_null_without_ac_and_not_clamped_above_one(
    analyst: APIClient, store: Store
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    register_devices(vehicle_ids=["VH2"])
    store(dc("VH1", T0, "10"), ac("MT1", T0, "8"), dc("VH2", T0, "10"))
    assert perf(analyst, "VH1", **window(T0, T0 + H))["efficiency"] == 1.25
    body = perf(analyst, "VH2", **window(T0, T0 + H))
    assert (body["total_ac"], body["efficiency"]) == (0.0, None)


def test_a_vehicle_without_readings_has_zero_totals_and_null_averages(analyst: APIClient) -> None:
    register_devices(vehicle_ids=["VH1"])
    body = perf(analyst, "VH1", **window(T0, T0 + H))
    assert (body["total_dc"], body["total_ac"], body["efficiency"], body["avg_battery_temp"]) == (
        0.0,
        0.0,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("dc_kwh", "ac_kwh", "expected"),
    [("1", "3", 0.3333), ("2", "3", 0.6667), ("0.12345", "1", 0.1234), ("0.12355", "1", 0.1236)],
)
def test_rounding_is_stable_half_even_to_four_places(
    analyst: APIClient, store: Store, dc_kwh: str, ac_kwh: str, expected: float
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    store(dc("VH1", T0, dc_kwh), ac("MT1", T0, ac_kwh))
    bodies = [perf(analyst, "VH1", **window(T0, T0 + H)) for _ in range(3)]
    assert [b["efficiency"] for b in bodies] == [expected] * 3


def test_sums_are_exact_to_the_last_reading(analyst: APIClient, store: Store) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    store(
        *[ac("MT1", T0 + i * M, "0.1") for i in range(59)],
        *[dc("VH1", T0 + i * M, "0.07") for i in range(59)],
    )
    body = perf(analyst, "VH1", **window(T0, T0 + H))
    assert (body["total_ac"], body["total_dc"]) == (5.9, 4.13)


def test_an_unknown_vehicle_is_404(analyst: APIClient) -> None:
    response = analyst.get("/v1/analytics/performance/NOPE")
    assert response.status_code == 404
    assert response.json() == {"status": 404, "message": "Vehicle NOPE is not known.", "errors": {}}


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hours": "0"}, "'hours' must be a whole number from 1 to 744."),
        ({"hours": "745"}, "'hours' must be a whole number from 1 to 744."),
        ({"hours": "abc"}, "'hours' must be a whole number from 1 to 744."),
        ({"from": "2026-02-10T00:00:00"}, "'from' needs a UTC offset, e.g. 2026-02-10T16:00:00Z."),
        ({"from": "yesterday"}, "'from' is not an ISO-8601 time; send e.g. 2026-02-10T16:00:00Z."),
        (
            {"from": "2026-02-10T01:00:00Z", "to": "2026-02-10T00:00:00Z"},
            "'from' must be before 'to'.",
        ),
        (
            {"from": "2026-01-01T00:00:00Z", "to": "2026-02-10T00:00:00Z"},
            "A window spans at most 31 days.",
        ),
        (
            {"hours": "2", "from": "2026-02-10T00:00:00Z"},
            "Give either 'hours' or 'from'/'to', not both.",
        ),
        ({"to": "2026-02-10T00:00:00Z"}, "'to' needs a 'from'."),
    ],
)
def test_bad_windows_are_400_with_a_sentence(
    analyst: APIClient, params: dict[str, str], message: str
) -> None:
    register_devices(vehicle_ids=["VH1"])
    response = analyst.get("/v1/analytics/performance/VH1", params)
    assert response.status_code == 400
    assert response.json()["message"] == message


def test_analytics_needs_an_analyst_key(api_client: APIClient) -> None:
    register_devices(vehicle_ids=["VH1"])
    _, device = make_key("device")
    assert api_client.get("/v1/analytics/performance/VH1").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {device}")
    assert api_client.get("/v1/analytics/performance/VH1").status_code == 403
    assert api_client.get("/v1/analytics/fleet").status_code == 403


def test_unassigned_vehicle_after_window_still_counts_inside_it(
    analyst: APIClient, store: Store
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    unassign_meter(vehicle_id="VH1", at=T0 + 30 * M)
    store(ac("MT1", T0 + 10 * M, "1"), ac("MT1", T0 + 40 * M, "2"))
    assert perf(analyst, "VH1", **window(T0, T0 + H))["total_ac"] == 1.0


def test_the_per_vehicle_reads_are_prepared_and_answer_as_unprepared_ones(
    analyst: APIClient, store: Store, settings: Any, each_layout: str
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + 2 * H + 17 * M)
    store(
        ac("MT1", T0 + 1 * H, "5"),
        ac("MT1", T0 + 2 * H + 16 * M, "0.25"),
        ac("MT2", T0 + 2 * H + 17 * M, "9"),
        dc("VH1", T0 + 1 * H, "12.5"),
        dc("VH1", T0 + 2 * H + 30 * M, "3.25"),
    )
    # The window's ends inside hours, so the raw edges are read too.
    params = window(T0 + 10 * M, T0 + 3 * H + 5 * M)
    hourly = ('%FROM "vehicle_hourly" WHERE vehicle_id%',)
    before = prepared_runs(*hourly)
    prepared = perf(analyst, "VH1", **params)
    # Single layout: vehicle_totals and the window's and the baseline's vehicle_hours, one
    # run each. The shard-routed forms are left as they were: they name the device as a
    # literal, which Citus routes on.
    assert prepared_runs(*hourly) - before == (3 if each_layout == "single" else 0)
    settings.DB_PREPARED_STATEMENTS = False
    assert perf(analyst, "VH1", **params) == prepared
    assert (prepared["total_dc"], prepared["total_ac"]) == (15.75, 14.25)
