"""assign_meter says plainly when it changed nothing, and why."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

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
