from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fleet.registry.models import ApiKey, Meter, Vehicle, VehicleMeterMap
from tests.factories import T0

pytestmark = pytest.mark.django_db


def test_create_api_key_prints_the_key_alone_on_its_last_line() -> None:
    out, err = StringIO(), StringIO()
    call_command(
        "create_api_key",
        "--name",
        "VH7 box",
        "--role",
        "device",
        "--vehicle",
        "VH7",
        stdout=out,
        stderr=err,
    )
    key = out.getvalue().strip().splitlines()[-1]
    row = ApiKey.objects.get()
    assert row.is_valid(key)
    assert (row.name, row.role, row.vehicle_id) == ("VH7 box", "device", "VH7")
    assert Vehicle.objects.filter(pk="VH7").exists()
    assert "cannot be shown again" in err.getvalue()


def test_create_api_key_refuses_a_bound_analyst_key() -> None:
    with pytest.raises(CommandError, match="Only device keys"):
        call_command("create_api_key", "--name", "x", "--role", "analyst", "--meter", "MT1")
    assert ApiKey.objects.count() == 0


def test_assign_and_unassign_meter_commands() -> None:
    call_command("assign_meter", "VH1", "MT1", "--at", "2026-02-10T00:00:00Z", stdout=StringIO())
    call_command("unassign_meter", "VH1", "--at", "2026-02-10T06:00:00+00:00", stdout=StringIO())
    assert Meter.objects.filter(pk="MT1").exists()
    row = VehicleMeterMap.objects.get()
    assert row.valid_to is not None
    assert (row.vehicle_id, row.meter_id, row.valid_from, row.valid_to.hour) == (
        "VH1",
        "MT1",
        T0,
        6,
    )


def test_assign_meter_needs_an_offset() -> None:
    with pytest.raises(CommandError, match="needs a UTC offset"):
        call_command("assign_meter", "VH1", "MT1", "--at", "2026-02-10T00:00:00")
    assert VehicleMeterMap.objects.count() == 0
