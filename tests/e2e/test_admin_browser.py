"""End to end in real headless Chromium (Debian's /usr/bin/chromium, never a downloaded one):
an operator logs in, re-maps a vehicle, sees it in the history, finds the flagged vehicle."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from fleet.registry.models import VehicleMeterMap
from fleet.registry.services.devices import register_devices
from fleet.registry.services.mappings import assign_meter
from telemetry.readings import MeterReading, VehicleReading
from telemetry.services import ingest_readings
from tests.factories import T0

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
pytestmark = [
    pytest.mark.browser,
    # CI sets REQUIRE_BROWSER=1 so a missing browser fails there instead of skipping.
    pytest.mark.skipif(
        not Path(CHROMIUM).exists() and not os.environ.get("REQUIRE_BROWSER"),
        reason=f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does)",
    ),
]
# As root in a sandbox, and on a machine with no network: no sandbox, no background traffic.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def remap_at() -> datetime:
    """When the browser re-maps VH001 to MT002: six whole hours ago, inside the last day the
    vehicle page and the fleet page show, so the chart shows the re-map."""
    return timezone.now().replace(minute=0, second=0, microsecond=0) - timedelta(hours=6)


@pytest.fixture
def fleet_data() -> None:
    """A realistic day: readings every 10 minutes for 24 hours from four vehicles and their
    meters (and MT002, unmapped until the browser maps it), one vehicle leaking (0.61)."""
    User.objects.create_superuser("operator", "op@example.com", "a-long-Passw0rd")
    efficiencies = {"VH001": "0.93", "VH002": "0.91", "VH003": "0.87", "VH_LEAKY": "0.61"}
    meters = {"VH001": "MT001", "VH002": "MT_2", "VH003": "MT_3", "VH_LEAKY": "MT_LEAKY"}
    for vehicle, meter in meters.items():
        assign_meter(vehicle_id=vehicle, meter_id=meter, at=T0)
    register_devices(meter_ids=["MT002"])
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=24)
    readings: list[VehicleReading | MeterReading] = []
    for step in range(144):
        ts = start + timedelta(minutes=10 * step)
        # Charging harder in the evening: the chart has a shape.
        ac = Decimal("1.2") + Decimal(step % 36) / Decimal(40)
        for vehicle, meter in meters.items():
            dc = (ac * Decimal(efficiencies[vehicle])).quantize(Decimal("0.001"))
            readings.append(VehicleReading(vehicle, ts, 40.0 + step / 4, dc, 24.0 + step % 7))
            readings.append(MeterReading(meter, ts, ac, 230.0))
        readings.append(MeterReading("MT002", ts, ac, 231.0))
    ingest_readings(readings)


@pytest.mark.django_db(transaction=True)
def test_operator_remaps_a_vehicle_and_finds_the_flagged_one(
    live_server: LiveServer, fleet_data: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from playwright.sync_api import expect, sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls below are plain
    # synchronous test code, not async views.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    shots = Path(os.environ.get("SCREENSHOT_DIR", "/tmp/fleet-e2e"))
    shots.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.set_default_timeout(15_000)

        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "a-long-Passw0rd")
        page.click("input[type=submit]")
        expect(page.locator("#fleet-health-link")).to_be_visible()

        # Re-map VH001 from MT001 to MT002 six hours ago, through the select2 widgets.
        page.goto(f"{live_server.url}/admin/fleet/vehiclemetermap/add/")
        for field, value in (("vehicle", "VH001"), ("meter", "MT002")):
            page.click(f"#id_{field} + .select2 .select2-selection")
            page.fill(".select2-search__field", value)
            page.click(f".select2-results__option:text-is('{value}')")
        page.fill("#id_valid_from_0", f"{remap_at():%Y-%m-%d}")
        page.fill("#id_valid_from_1", f"{remap_at():%H:%M:%S}")
        page.screenshot(path=str(shots / "map-add.png"), full_page=True)
        page.click("input[name=_save]")
        expect(page.locator(".messagelist .success")).to_contain_text("was added successfully")

        page.goto(f"{live_server.url}/admin/fleet/vehicle/VH001/change/")
        history = page.locator("#mappings-group")
        expect(history).to_contain_text("MT002")
        expect(history).to_contain_text("MT001")
        expect(page.locator("svg.hourly-chart")).to_be_visible()
        page.screenshot(path=str(shots / "vehicle-history.png"), full_page=True)

        page.goto(f"{live_server.url}/admin/fleet-health/")
        leaky = page.locator("tr[data-vehicle=VH_LEAKY]")
        expect(leaky).to_contain_text("FLAGGED")
        expect(page.locator("#fleet-health-table tbody tr").first).to_have_attribute(
            "data-vehicle", "VH_LEAKY"
        )
        expect(page.locator("tr[data-vehicle=VH001]")).not_to_contain_text("FLAGGED")
        expect(page.locator("svg.fleet-chart rect.bad")).to_have_count(1)
        page.screenshot(path=str(shots / "fleet-health.png"), full_page=True)
        browser.close()

    rows = list(
        VehicleMeterMap.objects.filter(vehicle_id="VH001")
        .order_by("valid_from")
        .values_list("meter_id", "valid_to")
    )
    assert [meter for meter, _ in rows] == ["MT001", "MT002"]
    assert rows[0][1] is not None and rows[1][1] is None
