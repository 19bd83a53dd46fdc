"""evaluate_health records one alert per change, /v1/alerts lists them, operators acknowledge."""

from __future__ import annotations

import threading
from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db import connections
from django.test import Client
from rest_framework.test import APIClient

from analytics.models import HealthAlert, HealthState
from analytics.services import acknowledge_alerts, evaluate_health
from fleet.registry.models import ApiKey
from fleet.registry.services.mappings import assign_meter
from tests.analytics.conftest import Store
from tests.analytics.test_health import charge
from tests.factories import T0, make_key

pytestmark = pytest.mark.citus
H = timedelta(hours=1)
DAY = timedelta(days=1)


def leak_then_recovery(store: Store) -> None:
    """VH1 leaks (0.70) from T0 for 3 hours; from T0 + 2 days it charges at 0.93."""
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - DAY)
    store(*charge("VH1", "MT1", T0, 3 * 60, "0.70"))
    store(*charge("VH1", "MT1", T0 + 2 * DAY, 3 * 60, "0.93"))


def kinds() -> list[tuple[str, str, str]]:
    return list(
        HealthAlert.objects.order_by("created_at", "id").values_list("kind", "verdict", "previous")
    )


@pytest.mark.django_db
def test_a_leak_is_recorded_once_while_it_stays_and_its_recovery_once(store: Store) -> None:
    leak_then_recovery(store)
    first = T0 + 4 * H  # the last 24 hours hold the leaking charge
    for minutes in (0, 5, 10):
        evaluate_health(now=first + timedelta(minutes=minutes))
    assert kinds() == [("alert", "leak", "")]
    alert = HealthAlert.objects.get()
    assert (alert.window_start, alert.window_end) == (first - DAY, first)
    assert alert.paired_efficiency == Decimal("0.7")
    # A day without charging says nothing: the leak stays the vehicle's state, no recovery.
    evaluate_health(now=T0 + DAY + 12 * H)
    assert HealthState.objects.get().verdict == "leak"
    assert len(kinds()) == 1
    for minutes in (0, 5):
        evaluate_health(now=T0 + 2 * DAY + 4 * H + timedelta(minutes=minutes))
    assert kinds() == [("alert", "leak", ""), ("recovery", "ok", "leak")]


@pytest.mark.django_db
def test_a_first_verdict_of_ok_records_no_alert(store: Store) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - DAY)
    store(*charge("VH1", "MT1", T0, 3 * 60, "0.93"))
    report = evaluate_health(now=T0 + 4 * H)
    assert (report.vehicles, report.raised, report.recovered) == (1, 0, 0)
    assert HealthState.objects.get().verdict == "ok"
    assert not HealthAlert.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_evaluations_at_once_record_the_change_once(store: Store) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - DAY)
    store(*charge("VH1", "MT1", T0, 3 * 60, "0.70"))
    for n in range(2, 12):  # more vehicles, so the two runs overlap on them
        assign_meter(vehicle_id=f"VH{n}", meter_id=f"MT{n}", at=T0 - DAY)
        store(*charge(f"VH{n}", f"MT{n}", T0, 3 * 60, "0.70"))
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=10)
            evaluate_health(now=T0 + 4 * H)
        except BaseException as error:  # reported below, not lost in the thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert HealthAlert.objects.count() == 11
    assert HealthAlert.objects.values("vehicle_id").distinct().count() == 11


@pytest.mark.django_db
def test_the_command_reports_what_it_recorded(store: Store, clock: Any) -> None:
    leak_then_recovery(store)
    clock.move_to(T0 + 4 * H)
    out = StringIO()
    call_command("evaluate_health", stdout=out)
    assert out.getvalue().splitlines() == [
        "alert: VH1 is leak (was -)",
        "health: 1 vehicles evaluated, 1 alerts, 0 recoveries",
        "webhooks: 0 delivered, 0 failed (retried later), 0 given up",
    ]


@pytest.fixture
def three_alerts(store: Store) -> list[HealthAlert]:
    leak_then_recovery(store)
    evaluate_health(now=T0 + 4 * H)
    evaluate_health(now=T0 + 2 * DAY + 4 * H)
    assign_meter(vehicle_id="VH2", meter_id="MT2", at=T0 - DAY)
    store(*charge("VH2", "MT2", T0, 3 * 60, "0.60"))
    evaluate_health(now=T0 + 5 * H, vehicle_ids=["VH2"])
    return list(HealthAlert.objects.order_by("-created_at", "-id"))


def alerts(client: APIClient, **params: Any) -> Any:
    return client.get("/v1/alerts", params)


@pytest.mark.django_db
def test_alerts_are_listed_newest_first_paged_and_filtered(
    analyst: APIClient, three_alerts: list[HealthAlert]
) -> None:
    body = alerts(analyst).json()
    assert body["count"] == 3
    assert [(a["vehicleId"], a["kind"], a["health"]) for a in body["results"]] == [
        ("VH1", "recovery", "ok"),
        ("VH2", "alert", "leak"),
        ("VH1", "alert", "leak"),
    ]
    first = body["results"][2]
    assert first["previous"] is None and first["paired_efficiency"] == 0.7
    assert first["from"] == "2026-02-09T04:00:00Z" and first["to"] == "2026-02-10T04:00:00Z"
    assert first["acknowledged_at"] is None and first["acknowledged_by"] is None

    page = alerts(analyst, page_size=2, page=2).json()
    assert [a["id"] for a in page["results"]] == [three_alerts[2].pk]
    assert page["previous"] is not None and page["next"] is None
    assert [a["kind"] for a in alerts(analyst, vehicle="VH1").json()["results"]] == [
        "recovery",
        "alert",
    ]

    user = User.objects.create_user("op")
    assert acknowledge_alerts([three_alerts[1].pk], user_id=user.pk) == 1
    open_ones = alerts(analyst, state="open").json()
    assert [a["id"] for a in open_ones["results"]] == [three_alerts[0].pk, three_alerts[2].pk]
    seen = alerts(analyst, state="acknowledged").json()["results"]
    assert [(a["id"], a["acknowledged_by"]) for a in seen] == [(three_alerts[1].pk, "op")]


@pytest.mark.django_db
def test_bad_alert_filters_are_400s_and_device_keys_are_refused(
    analyst: APIClient, api_client: APIClient
) -> None:
    response = alerts(analyst, state="closed")
    assert response.status_code == 400
    assert response.json()["message"] == "'state' must be open or acknowledged."
    assert alerts(analyst, vehicle="VH 1").status_code == 400
    assert alerts(analyst, page=5).status_code == 404
    _, key = make_key(ApiKey.Role.DEVICE)
    api_client.credentials(HTTP_AUTHORIZATION=f"Api-Key {key}")
    assert alerts(api_client).status_code == 403


@pytest.mark.django_db
def test_operators_acknowledge_alerts_in_the_admin_with_who_and_when(
    three_alerts: list[HealthAlert], clock: Any
) -> None:
    staff = User.objects.create_superuser("op", "op@example.com", "pw")
    client = Client()
    client.force_login(staff)
    page = client.get("/admin/analytics/healthalert/").content.decode()
    assert "VH2" in page and "0.6000" in page
    client.post(
        "/admin/analytics/healthalert/",
        {"action": "acknowledge", "_selected_action": [three_alerts[1].pk]},
    )
    alert = HealthAlert.objects.get(pk=three_alerts[1].pk)
    assert alert.acknowledged_by == staff and alert.acknowledged_at is not None
    assert HealthAlert.objects.filter(acknowledged_at__isnull=True).count() == 2
    assert "Delete" not in client.get("/admin/analytics/healthalert/").content.decode()
