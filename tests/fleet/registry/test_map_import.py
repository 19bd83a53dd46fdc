"""import_mappings applied directly (not through the admin): all rows or nothing, devices too."""

from __future__ import annotations

from datetime import timedelta

import pytest

from fleet.registry.models import Meter, Vehicle, VehicleMeterMap
from fleet.registry.services.map_import import MapRow, import_mappings
from fleet.registry.services.mappings import assign_meter
from tests.factories import T0

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)


def test_a_file_with_one_overlapping_row_writes_nothing_not_even_its_new_devices() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    report = import_mappings(
        [
            MapRow(2, "VH_NEW", "MT_NEW", T0, None),  # valid on its own, with two new devices
            MapRow(3, "VH1", "MT2", T0 - 2 * H, T0 + H),  # overlaps VH1's current mapping
        ]
    )
    assert list(report.errors) == [3]
    assert report.created == {}
    assert (Vehicle.objects.count(), Meter.objects.count()) == (1, 1)
    assert VehicleMeterMap.objects.count() == 1


def test_a_file_with_one_malformed_row_writes_nothing_either() -> None:
    report = import_mappings(
        [MapRow(2, "VH_NEW", "MT_NEW", T0, None), MapRow(3, "bad id", "MT2", T0, None)]
    )
    assert list(report.errors) == [3]
    assert (Vehicle.objects.count(), Meter.objects.count(), VehicleMeterMap.objects.count()) == (
        0,
        0,
        0,
    )


def test_a_valid_file_registers_its_devices_and_writes_every_row() -> None:
    report = import_mappings(
        [MapRow(2, "VH1", "MT1", T0, T0 + H), MapRow(3, "VH1", "MT2", T0 + H, None)]
    )
    assert report.errors == {}
    assert sorted(report.created) == [2, 3]
    assert (Vehicle.objects.count(), Meter.objects.count(), VehicleMeterMap.objects.count()) == (
        1,
        2,
        2,
    )
