"""GET /v1/analytics/fleet and the per-vehicle series: answered from the hourly roll-ups."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.registry.services.mappings import assign_meter
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0, iso

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]
H = timedelta(hours=1)
M = timedelta(minutes=1)


HEALTH_FIELDS = ("coverage", "paired", "baseline_efficiency", "health")


def without_health(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in HEALTH_FIELDS}


def fleet(client: APIClient, **params: Any) -> Any:
    response = client.get("/v1/analytics/fleet", {"from": iso(T0), "to": iso(T0 + 4 * H), **params})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def three_vehicles(store: Store) -> None:
    # VH_GOOD 0.95, VH_BAD 0.5 (flagged), VH_NOAC no meter (efficiency null).
    assign_meter(vehicle_id="VH_GOOD", meter_id="MT_G", at=T0 - H)
    assign_meter(vehicle_id="VH_BAD", meter_id="MT_B", at=T0 - H)
    store(
        dc("VH_GOOD", T0 + 10 * M, "9.5"),
        ac("MT_G", T0 + 10 * M, "10"),
        dc("VH_BAD", T0 + 70 * M, "2", temp=30.0),
        dc("VH_BAD", T0 + 130 * M, "3", temp=31.0),
        ac("MT_B", T0 + 70 * M, "10"),
        dc("VH_NOAC", T0 + 10 * M, "1"),
        ac("MT_NOBODY", T0 + 10 * M, "50"),
    )


def test_fleet_lists_every_vehicle_worst_first_with_flags(
    analyst: APIClient, three_vehicles: None
) -> None:
    body = fleet(analyst)
    assert (body["count"], body["next"], body["previous"]) == (3, None, None)
    assert (body["from"], body["to"], body["threshold"]) == (iso(T0), iso(T0 + 4 * H), 0.85)
    # A reading or two in four hours: no hour is paired; VH_NOAC has no meter at all.
    assert [(r["health"], r["coverage"]) for r in body["results"]] == [
        ("insufficient_data", {"vehicle": 0.0083, "meter": 0.0042}),
        ("insufficient_data", {"vehicle": 0.0042, "meter": 0.0042}),
        ("no_meter", {"vehicle": 0.0042, "meter": None}),
    ]
    assert body["results"][0]["paired"] == {
        "hours": 0,
        "total_dc": 0.0,
        "total_ac": 0.0,
        "efficiency": None,
    }
    assert [without_health(r) for r in body["results"]] == [
        {
            "vehicleId": "VH_BAD",
            "total_dc": 5.0,
            "total_ac": 10.0,
            "efficiency": 0.5,
            "avg_battery_temp": 30.5,
            "readings": {"vehicle": 2, "meter": 1},
            "flagged": True,
        },
        {
            "vehicleId": "VH_GOOD",
            "total_dc": 9.5,
            "total_ac": 10.0,
            "efficiency": 0.95,
            "avg_battery_temp": 25.0,
            "readings": {"vehicle": 1, "meter": 1},
            "flagged": False,
        },
        {
            "vehicleId": "VH_NOAC",
            "total_dc": 1.0,
            "total_ac": 0.0,
            "efficiency": None,
            "avg_battery_temp": 25.0,
            "readings": {"vehicle": 1, "meter": 0},
            "flagged": False,
        },
    ]


def test_flagged_true_keeps_only_flagged_vehicles(analyst: APIClient, three_vehicles: None) -> None:
    body = fleet(analyst, flagged="true")
    assert body["count"] == 1
    assert [r["vehicleId"] for r in body["results"]] == ["VH_BAD"]


def test_the_threshold_is_a_setting(
    analyst: APIClient, three_vehicles: None, settings: Settings
) -> None:
    settings.EFFICIENCY_ALERT_THRESHOLD = 0.96
    body = fleet(analyst, flagged="true")
    assert [r["vehicleId"] for r in body["results"]] == ["VH_BAD", "VH_GOOD"]


def test_fleet_pages_like_drf(analyst: APIClient, three_vehicles: None) -> None:
    first = fleet(analyst, page_size=2)
    assert (first["count"], len(first["results"]), first["previous"]) == (3, 2, None)
    assert "page=2" in first["next"]
    second = analyst.get(first["next"]).json()
    assert [r["vehicleId"] for r in second["results"]] == ["VH_NOAC"]
    assert second["next"] is None
    assert "page=" not in second["previous"]
    beyond: dict[str, str | int] = {
        "from": iso(T0),
        "to": iso(T0 + 4 * H),
        "page_size": 2,
        "page": 5,
    }
    past = analyst.get("/v1/analytics/fleet", beyond)
    assert past.status_code == 404  # as DRF's own paginator answers
    assert past.json()["message"] == "There is no page 5: 3 results make 2 page(s)."


def test_vehicles_without_readings_in_the_window_are_left_out(
    analyst: APIClient, three_vehicles: None
) -> None:
    body = analyst.get(
        "/v1/analytics/fleet", {"from": iso(T0 + 3 * H), "to": iso(T0 + 4 * H)}
    ).json()
    assert (body["count"], body["results"]) == (0, [])


def test_fleet_totals_equal_the_exact_per_vehicle_totals_across_a_mid_hour_remap(
    analyst: APIClient, store: Store
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - H)
    assign_meter(vehicle_id="VH2", meter_id="MT2", at=T0 - H)
    # At 01:17 the meters swap vehicles: the hour 01:00-02:00 of each meter is split.
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + H + 17 * M)
    assign_meter(vehicle_id="VH2", meter_id="MT1", at=T0 + H + 17 * M)
    readings = []
    for minute in range(0, 240, 3):
        ts = T0 + minute * M
        readings += [
            dc("VH1", ts, "0.9"),
            dc("VH2", ts, "0.8"),
            ac("MT1", ts, "1.01"),
            ac("MT2", ts, "1.1"),
        ]
    store(*readings)
    store(*readings[:40])  # duplicates change nothing
    store(
        ac("MT1", T0 + H + 16 * M, "0.5"), ac("MT1", T0 + H + 17 * M, "0.25")
    )  # late, on both sides of the swap
    rows = {r["vehicleId"]: r for r in fleet(analyst)["results"]}
    for vehicle_id in ("VH1", "VH2"):
        exact = analyst.get(
            f"/v1/analytics/performance/{vehicle_id}", {"from": iso(T0), "to": iso(T0 + 4 * H)}
        ).json()
        assert rows[vehicle_id]["total_dc"] == exact["total_dc"]
        assert rows[vehicle_id]["total_ac"] == exact["total_ac"]
        assert rows[vehicle_id]["efficiency"] == exact["efficiency"]
        assert rows[vehicle_id]["readings"] == exact["readings"]
    # MT1: 26 readings before 01:17 (+0.5 late) for VH1, the rest (+0.25 late) for VH2.
    assert rows["VH1"]["total_ac"] == round(26 * 1.01 + 0.5 + 54 * 1.1, 6)
    assert rows["VH2"]["total_ac"] == round(26 * 1.1 + 54 * 1.01 + 0.25, 6)


def test_series_gives_every_hour_with_dc_ac_and_efficiency(
    analyst: APIClient, three_vehicles: None
) -> None:
    response = analyst.get(
        "/v1/analytics/performance/VH_BAD/series", {"from": iso(T0), "to": iso(T0 + 3 * H)}
    )
    assert response.status_code == 200
    body = response.json()
    assert body["bucket"] == "hour"
    assert [(r["hour"], r["dc"], r["ac"], r["efficiency"]) for r in body["results"]] == [
        (iso(T0), 0.0, 0.0, None),
        (iso(T0 + H), 2.0, 10.0, 0.2),
        (iso(T0 + 2 * H), 3.0, 0.0, None),
    ]


def test_series_only_buckets_by_hour(analyst: APIClient, three_vehicles: None) -> None:
    response = analyst.get("/v1/analytics/performance/VH_BAD/series", {"bucket": "day"})
    assert response.status_code == 400


def test_series_of_an_unknown_vehicle_is_404(analyst: APIClient) -> None:
    assert analyst.get("/v1/analytics/performance/NOPE/series").status_code == 404


def test_hours_means_whole_hour_buckets_up_to_the_current_one(
    analyst: APIClient, three_vehicles: None
) -> None:
    body = analyst.get("/v1/analytics/fleet", {"hours": "3"}).json()
    start, end = (datetime.fromisoformat(body[k].replace("Z", "+00:00")) for k in ("from", "to"))
    assert end - start == 3 * H
    assert (start.minute, start.second, end.minute, end.second) == (0, 0, 0, 0)


@pytest.mark.parametrize(
    "params", [{"page": "0"}, {"page_size": "1001"}, {"flagged": "maybe"}, {"hours": "0"}]
)
def test_bad_fleet_parameters_are_400(analyst: APIClient, params: dict[str, str]) -> None:
    response = analyst.get("/v1/analytics/fleet", params)
    assert response.status_code == 400
    assert response.json()["message"]
