"""The operators' back-office, rendered and driven through Django's test client."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from pytest_django import DjangoAssertNumQueries

from fleet.registry.models import ApiKey, Vehicle, VehicleMeterMap
from fleet.registry.services.devices import register_devices
from fleet.registry.services.mappings import add_mapping, assign_meter
from telemetry.readings import MeterReading, VehicleReading
from telemetry.services import ingest_readings
from tests.factories import T0

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)
MAP_ADD = "/admin/fleet/vehiclemetermap/add/"


@pytest.fixture
def staff() -> User:
    return User.objects.create_superuser("op", "op@example.com", "pw")


@pytest.fixture
def staff_client(staff: User) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def errors_of(response: Any) -> list[str]:
    return [str(e) for e in response.context["adminform"].form.non_field_errors()]


def add_in_admin(
    client: Client, vehicle: str, meter: str, valid_from: datetime, valid_to: datetime | None = None
) -> Any:
    """POST the "add vehicle meter map" form as an operator fills it in (UTC date and time)."""
    form = {"vehicle": vehicle, "meter": meter}
    for name, at in (("valid_from", valid_from), ("valid_to", valid_to)):
        if at is not None:
            form[f"{name}_0"], form[f"{name}_1"] = f"{at:%Y-%m-%d}", f"{at:%H:%M:%S}"
    return client.post(MAP_ADD, form)


def map_rows() -> list[tuple[str, str, object, object]]:
    return list(
        VehicleMeterMap.objects.order_by("vehicle_id", "valid_from").values_list(
            "vehicle_id", "meter_id", "valid_from", "valid_to"
        )
    )


@pytest.mark.parametrize(
    "path",
    [
        "/admin/",
        "/admin/fleet/vehicle/",
        "/admin/fleet/meter/",
        "/admin/fleet/vehiclemetermap/",
        MAP_ADD,
        "/admin/fleet/vehiclemetermap/import/",
        "/admin/fleet/vehiclemetermap/export/",
        "/admin/fleet/apikey/",
        "/admin/fleet-health/",
    ],
)
def test_admin_pages_render_for_staff_and_refuse_anonymous_users(
    staff_client: Client, path: str
) -> None:
    assert staff_client.get(path).status_code == 200
    anonymous = Client().get(path)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/admin/login/")


def test_the_vehicle_page_shows_its_mapping_history_and_hourly_chart(staff_client: Client) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + H)
    now = timezone.now()
    ingest_readings([VehicleReading("VH1", now - H, 50.0, Decimal("3.5"), 20.0)])
    page = staff_client.get("/admin/fleet/vehicle/VH1/change/").content.decode()
    assert "Meter mapping history" in page
    assert page.index("MT2") < page.index("MT1")  # newest first
    assert 'class="hourly-chart"' in page
    assert "DC 3.500 kWh" in page
    # One DC reading and no meter reading in a day: nothing paired, no baseline yet.
    health = page.split('id="vehicle-health"', 1)[1].split("</p>", 1)[0]
    assert '<strong class="health-insufficient_data">insufficient_data</strong>' in health
    assert "over 0 hours" in health and "baseline — (fewer than the days needed)" in health


def test_creating_a_mapping_in_the_admin_remaps_and_is_logged(
    staff_client: Client, staff: User
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    register_devices(meter_ids=["MT2"])
    response = add_in_admin(staff_client, "VH1", "MT2", T0 + 5 * H)
    assert response.status_code == 302, errors_of(response)
    assert map_rows() == [("VH1", "MT1", T0, T0 + 5 * H), ("VH1", "MT2", T0 + 5 * H, None)]
    entry = LogEntry.objects.get(action_flag=ADDITION)
    assert (entry.user, entry.object_repr) == (
        staff,
        str(VehicleMeterMap.objects.get(meter_id="MT2")),
    )


def test_an_overlapping_mapping_is_a_form_error_not_a_500(staff_client: Client) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    register_devices(meter_ids=["MT2"])
    response = add_in_admin(staff_client, "VH1", "MT2", T0 - 24 * H)
    assert response.status_code == 200
    assert any("Vehicle VH1 already has a meter" in e for e in errors_of(response))
    assert map_rows() == [("VH1", "MT1", T0, None)]


def test_a_meter_serving_another_vehicle_then_is_a_form_error(staff_client: Client) -> None:
    add_mapping(vehicle_id="VH1", meter_id="MT1", valid_from=T0, valid_to=T0 + 10 * H)
    register_devices(vehicle_ids=["VH2"])
    response = add_in_admin(staff_client, "VH2", "MT1", T0 + 2 * H, T0 + 4 * H)
    assert response.status_code == 200
    assert any("Meter MT1 already serves a vehicle" in e for e in errors_of(response))
    assert VehicleMeterMap.objects.count() == 1


def test_a_closed_interval_inside_a_current_mapping_is_a_form_error_and_closes_nothing(
    staff_client: Client,
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    register_devices(meter_ids=["MT2"])
    response = add_in_admin(staff_client, "VH1", "MT2", T0 + 2 * H, T0 + 4 * H)
    assert response.status_code == 200
    assert any("Vehicle VH1 already has a meter" in e for e in errors_of(response))
    assert map_rows() == [("VH1", "MT1", T0, None)]


def test_valid_to_before_valid_from_is_a_form_error(staff_client: Client) -> None:
    register_devices(vehicle_ids=["VH1"], meter_ids=["MT1"])
    response = add_in_admin(staff_client, "VH1", "MT1", T0 + 4 * H, T0 + 2 * H)
    assert response.status_code == 200
    assert "valid_to must be after valid_from." in errors_of(response)
    assert VehicleMeterMap.objects.count() == 0


def test_closing_a_mapping_in_its_form_and_by_action(staff_client: Client, staff: User) -> None:
    first = assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    second = assign_meter(vehicle_id="VH2", meter_id="MT2", at=T0)
    response = staff_client.post(
        f"/admin/fleet/vehiclemetermap/{first.pk}/change/",
        {"valid_to_0": "2026-02-10", "valid_to_1": "03:00:00"},
    )
    assert response.status_code == 302
    assert VehicleMeterMap.objects.get(pk=first.pk).valid_to == T0 + 3 * H
    staff_client.post(
        "/admin/fleet/vehiclemetermap/",
        {"action": "close_now", "_selected_action": [second.pk]},
    )
    assert VehicleMeterMap.objects.get(pk=second.pk).valid_to is not None
    assert LogEntry.objects.filter(action_flag=CHANGE, user=staff).count() == 2


def test_mappings_cannot_be_deleted(staff_client: Client) -> None:
    row = assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assert staff_client.get(f"/admin/fleet/vehiclemetermap/{row.pk}/delete/").status_code == 403


def _import(client: Client, csv: str) -> Any:
    upload = SimpleUploadedFile("map.csv", csv.encode(), content_type="text/csv")
    return client.post(
        "/admin/fleet/vehiclemetermap/import/",
        {"resource": "0", "format": "0", "import_file": upload},
    )


def test_a_csv_import_is_previewed_then_applied(staff_client: Client) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    csv = (
        "vehicle,meter,valid_from,valid_to\n"
        "VH1,MT1,2026-02-10T00:00:00+00:00,\n"  # already there: skipped
        "VH2,MT2,2026-02-09T00:00:00Z,2026-02-09T12:00:00Z\n"
        "VH2,MT3,2026-02-10T00:00:00Z,\n"
    )
    preview = _import(staff_client, csv)
    assert preview.status_code == 200
    result = preview.context["result"]
    assert not result.has_errors() and not result.has_validation_errors()
    assert (result.totals["new"], result.totals["skip"]) == (2, 1)
    assert VehicleMeterMap.objects.count() == 1  # the preview wrote nothing
    confirm = preview.context["confirm_form"].initial
    applied = staff_client.post(
        "/admin/fleet/vehiclemetermap/process_import/", confirm, follow=True
    )
    assert [str(m) for m in applied.context["messages"]] == [
        "Import finished: 2 new, 0 closed and 1 already stored mappings."
    ]
    assert map_rows() == [
        ("VH1", "MT1", T0, None),
        ("VH2", "MT2", T0 - 24 * H, T0 - 12 * H),
        ("VH2", "MT3", T0, None),
    ]
    logged = LogEntry.objects.filter(action_flag=ADDITION).values_list("object_id", flat=True)
    assert sorted(logged, key=str) == sorted(  # key=str: object_id is nullable in the model
        str(pk)
        for pk in VehicleMeterMap.objects.filter(vehicle_id="VH2").values_list("pk", flat=True)
    )


def test_a_csv_import_closes_an_open_mapping_and_remaps_in_date_order(staff_client: Client) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH9", meter_id="MT9", at=T0 - 9 * 24 * H)
    csv = (
        "vehicle,meter,valid_from,valid_to\n"
        "VH1,MT3,2026-02-10T08:00:00Z,\n"  # listed first, applies after the next row
        "VH1,MT2,2026-02-10T04:00:00Z,\n"  # re-map: closes VH1-MT1 at 04:00
        "VH9,MT9,2026-02-01T00:00:00Z,2026-02-02T00:00:00Z\n"  # closes the stored open mapping
    )
    preview = _import(staff_client, csv)
    assert not preview.context["result"].has_validation_errors()
    staff_client.post(
        "/admin/fleet/vehiclemetermap/process_import/", preview.context["confirm_form"].initial
    )
    assert map_rows() == [
        ("VH1", "MT1", T0, T0 + 4 * H),
        ("VH1", "MT2", T0 + 4 * H, T0 + 8 * H),
        ("VH1", "MT3", T0 + 8 * H, None),
        ("VH9", "MT9", T0 - 9 * 24 * H, T0 - 8 * 24 * H),
    ]


def test_a_bad_csv_is_rejected_with_its_row_numbers_and_writes_nothing(
    staff_client: Client,
) -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    csv = (
        "vehicle,meter,valid_from,valid_to\n"
        "VH5,MT5,2026-02-10T00:00:00Z,\n"
        "VH1,MT9,2026-02-09T00:00:00Z,\n"  # before VH1's current mapping started: overlap
        "VH6,MT6,2026-02-10T00:00:00,\n"  # no offset
        "VH7,MT5,2026-02-10T06:00:00Z,\n"  # valid: MT5 moves from VH5 to VH7
        "VH 8,MT8,2026-02-10T00:00:00Z,\n"  # bad device id
    )
    response = _import(staff_client, csv)
    result = response.context["result"]
    assert [row.number for row in result.invalid_rows] == [2, 3, 5]
    page = response.content.decode()
    assert "Vehicle VH1 already has a meter" in page
    assert "needs a UTC offset" in page
    # Each refused row in the table by its line in the file (the header is line 1), with its
    # reasons written out in the row, and no "Non field specific" heading.
    table = page.split('id="import-invalid-rows"', 1)[1].split("</table>", 1)[0]
    lines = re.findall(r'<tr data-line="(\d+)">.*?<td class="reasons">(.*?)</td>', table, re.S)
    assert [int(line) for line, _ in lines] == [3, 4, 6]
    reasons = {int(line): re.sub(r"<[^>]+>|\s+", " ", html).strip() for line, html in lines}
    assert "Vehicle VH1 already has a meter" in reasons[3]
    assert "needs a UTC offset" in reasons[4]
    assert "VH 8" in reasons[6]
    assert "Non field specific" not in page
    assert "validation-error-count" not in page
    assert "confirm_form" not in response.context or response.context["confirm_form"] is None
    assert map_rows() == [("VH1", "MT1", T0, None)]
    assert not Vehicle.objects.filter(pk="VH5").exists()


def test_a_csv_without_the_needed_columns_is_refused(staff_client: Client) -> None:
    response = _import(staff_client, "car,plug\nVH1,MT1\n")
    assert response.status_code == 200
    assert "missing: meter, valid_from, vehicle" in response.content.decode()
    assert VehicleMeterMap.objects.count() == 0


def test_export_gives_the_map_as_csv(staff_client: Client) -> None:
    add_mapping(vehicle_id="VH1", meter_id="MT1", valid_from=T0, valid_to=T0 + H)
    response = staff_client.post(
        "/admin/fleet/vehiclemetermap/export/",
        {
            "format": "0",
            "resource": "0",
            "vehiclemetermapresource_vehicle": "on",
            "vehiclemetermapresource_meter": "on",
            "vehiclemetermapresource_valid_from": "on",
            "vehiclemetermapresource_valid_to": "on",
        },
    )
    assert response.status_code == 200
    lines = response.content.decode().strip().splitlines()
    assert lines == [
        "vehicle,meter,valid_from,valid_to",
        "VH1,MT1,2026-02-10T00:00:00+00:00,2026-02-10T01:00:00+00:00",
    ]


def _fleet_of(n: int) -> None:
    now = timezone.now()
    readings: list = []
    for i in range(n):
        assign_meter(vehicle_id=f"VH{i:03d}", meter_id=f"MT{i:03d}", at=T0)
        readings.append(VehicleReading(f"VH{i:03d}", now - H, 50.0, Decimal("1"), 20.0))
        readings.append(MeterReading(f"MT{i:03d}", now - H, Decimal("1.2"), 230.0))
    ingest_readings(readings)


@pytest.mark.parametrize("path", ["/admin/fleet/vehicle/", "/admin/fleet/meter/"])
def test_device_list_pages_run_a_constant_number_of_queries(
    staff_client: Client, path: str, django_assert_max_num_queries: DjangoAssertNumQueries
) -> None:
    _fleet_of(10)
    with CaptureQueriesContext(connection) as ten:
        assert len(staff_client.get(path).context["cl"].result_list) == 10
    _fleet_of(100)  # the first 10 again (unchanged) and 90 more
    with django_assert_max_num_queries(len(ten.captured_queries)):
        page = staff_client.get(path)
    assert len(page.context["cl"].result_list) == 100
    assert "MT099" in page.content.decode() or "VH099" in page.content.decode()


def test_device_filters_for_mapping_and_staleness(staff_client: Client) -> None:
    now = timezone.now()
    assign_meter(vehicle_id="VH_MAPPED", meter_id="MT1", at=T0)
    register_devices(vehicle_ids=["VH_LONELY"])
    ingest_readings(
        [
            VehicleReading("VH_MAPPED", now - timedelta(minutes=2), 50.0, Decimal("1"), 20.0),
            VehicleReading("VH_LONELY", now - timedelta(minutes=30), 50.0, Decimal("1"), 20.0),
        ]
    )

    def ids(query: str) -> list[str]:
        response = staff_client.get(f"/admin/fleet/vehicle/?{query}")
        return [v.pk for v in response.context["cl"].result_list]

    assert ids("mapped=yes") == ["VH_MAPPED"]
    assert ids("mapped=no") == ["VH_LONELY"]
    assert ids("stale=yes") == ["VH_LONELY"]
    assert ids("stale=no") == ["VH_MAPPED"]
    assert ids("q=lonely") == ["VH_LONELY"]


def test_the_health_page_puts_flagged_vehicles_first(staff_client: Client) -> None:
    now = timezone.now() - H
    for vehicle_id, dc_kwh in (("VH_OK", "0.95"), ("VH_LEAK", "0.60"), ("VH_MID", "0.86")):
        meter_id = vehicle_id.replace("VH", "MT")
        assign_meter(vehicle_id=vehicle_id, meter_id=meter_id, at=T0)
        ingest_readings(
            [
                VehicleReading(vehicle_id, now, 50.0, Decimal(dc_kwh), 20.0),
                MeterReading(meter_id, now, Decimal("1"), 230.0),
            ]
        )
    ingest_readings([VehicleReading("VH_NOMETER", now, 50.0, Decimal("1"), 20.0)])
    response = staff_client.get("/admin/fleet-health/")
    page = response.content.decode()
    order = re.findall(r'data-vehicle="([^"]+)"', page)
    assert order == ["VH_LEAK", "VH_MID", "VH_OK", "VH_NOMETER"]
    assert response.context["flagged_count"] == 1
    assert "1 flagged" in page
    assert 'class="fleet-chart"' in page and 'class="bad"' in page


def test_an_api_key_created_in_the_admin_is_shown_once_and_stored_hashed(
    staff_client: Client,
) -> None:
    response = staff_client.post(
        "/admin/fleet/apikey/add/",
        {"name": "gateway", "role": "device", "vehicle": "", "meter": "", "expiry_date": ""},
        follow=True,
    )
    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    shown = re.search(r"The API key for gateway is: (\S+)\.", messages[0])
    assert shown is not None
    key = shown.group(1)
    row = ApiKey.objects.get()
    assert row.role == "device"
    assert row.is_valid(key)
    assert key not in row.hashed_key


def test_api_keys_are_revoked_by_an_admin_action(staff_client: Client) -> None:
    row, _ = ApiKey.objects.create_key(name="old", role="analyst")
    staff_client.post("/admin/fleet/apikey/", {"action": "revoke", "_selected_action": [row.pk]})
    assert ApiKey.objects.get(pk=row.pk).revoked is True


def test_an_analyst_key_bound_to_a_device_is_a_form_error_not_a_500(staff_client: Client) -> None:
    register_devices(vehicle_ids=["VH1"])
    response = staff_client.post(
        "/admin/fleet/apikey/add/",
        {"name": "x", "role": "analyst", "vehicle": "VH1", "meter": "", "expiry_date": ""},
    )
    assert response.status_code == 200
    assert "Only device keys can be bound to a device." in response.content.decode()
    assert ApiKey.objects.count() == 0


def test_the_api_key_pages_name_a_key_by_its_prefix_never_by_its_hash(
    staff_client: Client,
) -> None:
    # Added with "save and continue": the redirect, the message's link and the log entry are
    # all built from the key's primary key, which is "prefix.hash".
    response = staff_client.post(
        "/admin/fleet/apikey/add/",
        {
            "name": "gw",
            "role": "device",
            "vehicle": "",
            "meter": "",
            "expiry_date": "",
            "_continue": "1",
        },
    )
    key = ApiKey.objects.get()
    secret_part = key.pk.partition(".")[2]
    assert response.status_code == 302
    assert response["Location"] == f"/admin/fleet/apikey/{key.prefix}/change/"
    assert LogEntry.objects.get().object_id == key.prefix

    for page in (
        "/admin/fleet/apikey/",
        f"/admin/fleet/apikey/{key.prefix}/change/",
        f"/admin/fleet/apikey/{key.prefix}/history/",
        "/admin/",
    ):
        html = staff_client.get(page).content.decode()
        assert secret_part not in html, page
    assert (
        f'href="/admin/fleet/apikey/{key.prefix}/change/"'
        in staff_client.get("/admin/fleet/apikey/").content.decode()
    )
    history = staff_client.get(f"/admin/fleet/apikey/{key.prefix}/history/").content.decode()
    assert "Added." in history

    # An old link with the hash in it lands on the prefix address.
    old = staff_client.get(f"/admin/fleet/apikey/{key.pk}/change/")
    assert (old.status_code, old["Location"]) == (302, f"/admin/fleet/apikey/{key.prefix}/change/")

    # The list's checkboxes carry prefixes, and the revoke action finds the keys by them.
    staff_client.post(
        "/admin/fleet/apikey/", {"action": "revoke", "_selected_action": [key.prefix]}
    )
    assert ApiKey.objects.get().revoked is True
    assert LogEntry.objects.filter(object_id=key.prefix).count() == 2
