"""End to end in real headless Chromium (Debian's /usr/bin/chromium, never a downloaded one):
an operator logs in, re-maps a vehicle, sees it in the history, finds the flagged vehicle."""

from __future__ import annotations

import os
from datetime import timedelta
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


@pytest.fixture
def fleet_data() -> None:
    User.objects.create_superuser("operator", "op@example.com", "a-long-Passw0rd")
    assign_meter(vehicle_id="VH001", meter_id="MT001", at=T0)
    assign_meter(vehicle_id="VH_LEAKY", meter_id="MT_LEAKY", at=T0)
    register_devices(meter_ids=["MT002"])
    hour_ago = timezone.now() - timedelta(hours=1)
    ingest_readings(
        [
            VehicleReading("VH001", hour_ago, 80.0, Decimal("9.3"), 24.0),
            MeterReading("MT001", hour_ago, Decimal("10"), 230.0),
            VehicleReading("VH_LEAKY", hour_ago, 60.0, Decimal("6.1"), 31.0),
            MeterReading("MT_LEAKY", hour_ago, Decimal("10"), 229.0),
        ]
    )


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

        # Re-map VH001 from MT001 to MT002 at 2026-02-11 06:00 UTC, through the select2 widgets.
        page.goto(f"{live_server.url}/admin/fleet/vehiclemetermap/add/")
        for field, value in (("vehicle", "VH001"), ("meter", "MT002")):
            page.click(f"#id_{field} + .select2 .select2-selection")
            page.fill(".select2-search__field", value)
            page.click(f".select2-results__option:text-is('{value}')")
        page.fill("#id_valid_from_0", "2026-02-11")
        page.fill("#id_valid_from_1", "06:00:00")
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
