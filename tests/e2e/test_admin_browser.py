"""End to end in real headless Chromium (Debian's /usr/bin/chromium, never a downloaded one):
an operator logs in, re-maps a vehicle, sees it in the history, finds the flagged vehicle."""

from __future__ import annotations

import os
import re
import zoneinfo
from datetime import datetime, timedelta
from decimal import Decimal
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.utils import timezone
from pytest_django.live_server_helper import LiveServer

from fleet.registry.models import ApiKey, VehicleMeterMap
from fleet.registry.services.devices import register_devices
from fleet.registry.services.keys import create_api_key
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


@pytest.fixture
def berlin_operator_data(settings: Any) -> dict[str, Any]:
    """An operator in Berlin (DISPLAY_TIME_ZONE too), a vehicle that reported 2 minutes ago and
    one silent for 11, a mapping made by the assign_meter command, and a gateway key."""
    settings.DISPLAY_TIME_ZONE = "Europe/Berlin"
    User.objects.create_superuser("operator", "op@example.com", "a-long-Passw0rd")
    now = timezone.now().replace(microsecond=0)
    call_command(
        "assign_meter",
        "VH001",
        "MT001",
        "--at",
        (now - timedelta(days=2)).isoformat(),
        stdout=StringIO(),
    )
    ingest_readings(
        [
            VehicleReading("VH001", now - timedelta(minutes=2), 50.0, Decimal("1.5"), 25.0),
            VehicleReading("VH002", now - timedelta(minutes=11), 50.0, Decimal("1.5"), 25.0),
        ]
    )
    key, _ = create_api_key(name="north gateway", role="device")
    return {"key": key, "mapping": VehicleMeterMap.objects.get(vehicle_id="VH001")}


@pytest.mark.django_db(transaction=True)
def test_an_operator_in_berlin_at_1366_px_reads_times_status_keys_and_import_errors(
    live_server: LiveServer,
    berlin_operator_data: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    key: ApiKey = berlin_operator_data["key"]
    mapping: VehicleMeterMap = berlin_operator_data["mapping"]
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(
            viewport={"width": 1366, "height": 768}, timezone_id="Europe/Berlin"
        )
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(f"{live_server.url}/admin/")
        page.fill("#id_username", "operator")
        page.fill("#id_password", "a-long-Passw0rd")
        page.click("input[type=submit]")

        # Reporting reads the right way round: a tick for 2 minutes ago, a cross for 11.
        page.goto(f"{live_server.url}/admin/fleet/vehicle/")
        row = page.locator("#result_list tbody tr")
        expect(row.filter(has_text="VH001").locator("td.field-reporting img")).to_have_attribute(
            "alt", "True"
        )
        expect(row.filter(has_text="VH002").locator("td.field-reporting img")).to_have_attribute(
            "alt", "False"
        )
        # Every time names its zone: Berlin is CET in winter, CEST in summer.
        expect(row.filter(has_text="VH001").locator("td.field-last_reading")).to_contain_text(
            re.compile(r"CES?T")
        )

        # The mapping the command made is in the admin history, by the command.
        page.goto(f"{live_server.url}/admin/fleet/vehiclemetermap/{mapping.pk}/history/")
        expect(page.locator("#change-history")).to_contain_text("manage.py")

        # Closing before the start: the error, and valid_to still editable on the same page,
        # with no "you are N hours ahead of server time" note in a Berlin browser.
        page.goto(f"{live_server.url}/admin/fleet/vehiclemetermap/{mapping.pk}/change/")
        early = mapping.valid_from.astimezone(zoneinfo.ZoneInfo("Europe/Berlin")) - timedelta(
            hours=1
        )
        page.fill("#id_valid_to_0", f"{early:%Y-%m-%d}")
        page.fill("#id_valid_to_1", f"{early:%H:%M:%S}")
        page.click("input[name=_save]")
        expect(page.locator(".errornote, .errorlist").first).to_be_visible()
        expect(page.locator("#vehiclemetermap_form")).to_contain_text(
            "valid_to must be after valid_from."
        )
        expect(page.locator("#id_valid_to_0")).to_be_editable()
        expect(page.locator(".timezonewarning")).to_have_count(0)
        assert "onstraint" not in page.content()

        # API keys: addressed by prefix, no delete, and the list fits 1366 px.
        page.goto(f"{live_server.url}/admin/fleet/apikey/")
        link = page.locator("#result_list tbody th a").first
        expect(link).to_have_attribute("href", f"/admin/fleet/apikey/{key.prefix}/change/")
        assert page.evaluate("document.documentElement.scrollWidth") <= 1366
        link.click()
        assert key.pk.partition(".")[2] not in page.url
        expect(page.locator(".deletelink")).to_have_count(0)

        # A CSV with a bad line: the preview names its line in the file and says why.
        csv = tmp_path / "map.csv"
        csv.write_text(
            "vehicle,meter,valid_from,valid_to\n"
            "VH005,MT005,2026-02-10T00:00:00Z,\n"
            "VH006,MT006,2026-02-10T00:00:00,\n"
        )
        page.goto(f"{live_server.url}/admin/fleet/vehiclemetermap/import/")
        page.set_input_files("#id_import_file", str(csv))
        page.click("input[type=submit]")
        bad = page.locator("#import-invalid-rows tbody tr")
        expect(bad).to_have_count(1)
        expect(bad.locator("td.line")).to_have_text("3")
        expect(bad.locator("td.reasons")).to_be_visible()
        expect(bad.locator("td.reasons")).to_contain_text("needs a UTC offset")
        browser.close()
    assert VehicleMeterMap.objects.get(pk=mapping.pk).valid_to is None
    assert VehicleMeterMap.objects.count() == 1
