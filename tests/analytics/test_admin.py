"""The analytics pages of the admin: the vehicle page's efficiency chart against its baseline."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
import time_machine
from django.test import Client
from pytest_django.fixtures import Settings

from fleet.registry.services.mappings import assign_meter
from tests.analytics.conftest import Store, ac, dc
from tests.factories import T0

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)
M = timedelta(minutes=1)


def test_the_vehicle_page_draws_each_hours_efficiency_against_its_baseline(
    admin_client: Client, store: Store, settings: Settings, clock: time_machine.Traveller
) -> None:
    settings.TELEMETRY_READING_INTERVAL_SECONDS = 600
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 - 30 * DAY)
    readings: list[Any] = []
    for n in range(15 * 24 * 6):  # 14 days at 0.92, then a day at 0.86
        ts = T0 - 14 * DAY + n * 10 * M
        efficiency = "0.92" if ts < T0 else "0.86"
        readings.append(dc("VH1", ts, str(Decimal("2") * Decimal(efficiency))))
        readings.append(ac("MT1", ts, "2"))
    store(*readings)
    clock.move_to(T0 + DAY - 30 * M)  # the page's last 24 hours: T0 to T0 + 1 day
    page = admin_client.get("/admin/fleet/vehicle/VH1/change/").content.decode()
    chart = page.split('id="efficiency-chart"', 1)[1].split("</svg>", 1)[0]
    assert "baseline 0.9200" in chart and 'class="baseline-line"' in chart
    assert "threshold 0.8500" in chart
    assert chart.count("<circle") == 24  # one dot an hour, each at 0.86
    assert chart.count(" 0.8600</title>") == 24
    health = page.split('id="vehicle-health"', 1)[1].split("</p>", 1)[0]
    assert '<strong class="health-degraded">degraded</strong>' in health
