"""assign_meter says plainly when it changed nothing, and why."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client

from fleet.registry.models import VehicleMeterMap

pytestmark = pytest.mark.django_db


def assign(*args: str) -> str:
    out = StringIO()
    call_command("assign_meter", *args, stdout=out)
    return out.getvalue().strip()


def test_assigning_a_pair_that_is_already_mapped_says_unchanged_and_since_when() -> None:
    assert assign("VH1", "MT1", "--at", "2026-02-10T00:00:00Z").startswith("mapped VH1 ← MT1")
    again = assign("VH1", "MT1", "--at", "2026-02-11T00:00:00Z")
    assert again.startswith(
        "unchanged: VH1 is already mapped to MT1 since 2026-02-10T00:00:00+00:00"
    )
    assert again.endswith("nothing to do.")
    assert VehicleMeterMap.objects.count() == 1


def test_assigning_without_at_maps_from_now_and_says_mapped(
    clock: time_machine.Traveller,
) -> None:
    assert assign("VH2", "MT2").startswith("mapped VH2 ← MT2")
    clock.shift(timedelta(minutes=1))
    assert assign("VH2", "MT2").startswith("unchanged: VH2 is already mapped to MT2")


def test_map_changes_from_the_command_line_appear_in_the_admin_history() -> None:
    assign("VH3", "MT3", "--at", "2026-02-10T00:00:00Z")
    call_command("unassign_meter", "VH3", "--at", "2026-02-10T05:00:00Z", stdout=StringIO())
    row = VehicleMeterMap.objects.get(vehicle_id="VH3")
    entries = LogEntry.objects.filter(object_id=str(row.pk)).order_by("pk")
    assert [(e.user.username, e.action_flag, e.get_change_message()) for e in entries] == [
        (
            "manage.py",
            ADDITION,
            "By the command: assign_meter VH3 MT3 --at 2026-02-10T00:00:00+00:00",
        ),
        ("manage.py", CHANGE, "By the command: unassign_meter VH3 --at 2026-02-10T05:00:00+00:00"),
    ]
    actor = User.objects.get(username="manage.py")
    assert not actor.is_active and not actor.has_usable_password()
    client = Client()
    client.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    history = client.get(f"/admin/fleet/vehiclemetermap/{row.pk}/history/").content.decode()
    assert "By the command: unassign_meter VH3" in history
