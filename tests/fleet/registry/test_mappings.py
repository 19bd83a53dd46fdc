from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError

from fleet.registry.models import Meter, Vehicle, VehicleMeterMap
from fleet.registry.services.devices import register_devices
from fleet.registry.services.mappings import MappingError, add_mapping, assign_meter, unassign_meter
from tests.factories import T0

H = timedelta(hours=1)
pytestmark = pytest.mark.django_db


def rows(vehicle_id: str) -> list[tuple[str, object, object]]:
    return list(
        VehicleMeterMap.objects.filter(vehicle_id=vehicle_id)
        .order_by("valid_from")
        .values_list("meter_id", "valid_from", "valid_to")
    )


def test_assign_registers_unknown_devices_and_opens_a_current_mapping() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assert Vehicle.objects.filter(pk="VH1").exists()
    assert Meter.objects.filter(pk="MT1").exists()
    assert rows("VH1") == [("MT1", T0, None)]


def test_remap_closes_the_vehicles_current_mapping_at_that_time() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + 5 * H)
    assert rows("VH1") == [("MT1", T0, T0 + 5 * H), ("MT2", T0 + 5 * H, None)]


def test_assigning_a_busy_meter_closes_its_other_vehicles_mapping() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH2", meter_id="MT1", at=T0 + 2 * H)
    assert rows("VH1") == [("MT1", T0, T0 + 2 * H)]
    assert rows("VH2") == [("MT1", T0 + 2 * H, None)]


def test_assigning_the_same_pair_again_changes_nothing() -> None:
    first = assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    again = assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0 + H)
    assert again.pk == first.pk
    assert rows("VH1") == [("MT1", T0, None)]


def test_an_assignment_before_the_current_mapping_started_is_refused_and_writes_nothing() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    with pytest.raises(MappingError, match="Vehicle VH1 already has a meter"):
        assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 - H)
    assert rows("VH1") == [("MT1", T0, None)]
    assert not VehicleMeterMap.objects.filter(meter_id="MT2").exists()


def test_a_closed_historic_mapping_cannot_overlap_another_vehicle_on_the_same_meter() -> None:
    add_mapping(vehicle_id="VH1", meter_id="MT1", valid_from=T0, valid_to=T0 + 10 * H)
    with pytest.raises(MappingError, match="Meter MT1 already serves a vehicle"):
        add_mapping(vehicle_id="VH2", meter_id="MT1", valid_from=T0 + 9 * H, valid_to=T0 + 12 * H)
    assert rows("VH2") == []


def test_a_closed_interval_inside_a_current_mapping_is_refused_and_closes_nothing() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH2", meter_id="MT2", at=T0)
    with pytest.raises(MappingError) as refused:
        add_mapping(vehicle_id="VH1", meter_id="MT2", valid_from=T0 + 2 * H, valid_to=T0 + 4 * H)
    assert "Vehicle VH1 already has a meter" in str(refused.value)
    assert "Meter MT2 already serves a vehicle" in str(refused.value)
    assert rows("VH1") == [("MT1", T0, None)]
    assert rows("VH2") == [("MT2", T0, None)]


def test_a_closed_interval_before_the_current_mapping_is_recorded_beside_it() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    add_mapping(vehicle_id="VH1", meter_id="MT2", valid_from=T0 - 4 * H, valid_to=T0)
    assert rows("VH1") == [("MT2", T0 - 4 * H, T0), ("MT1", T0, None)]


def test_historic_mappings_may_touch_end_to_start() -> None:
    add_mapping(vehicle_id="VH1", meter_id="MT1", valid_from=T0, valid_to=T0 + 10 * H)
    add_mapping(vehicle_id="VH2", meter_id="MT1", valid_from=T0 + 10 * H, valid_to=T0 + 12 * H)
    assert rows("VH2") == [("MT1", T0 + 10 * H, T0 + 12 * H)]


def test_valid_to_before_valid_from_is_refused() -> None:
    with pytest.raises(MappingError, match="valid_to must be after valid_from"):
        add_mapping(vehicle_id="VH1", meter_id="MT1", valid_from=T0, valid_to=T0)


def test_naive_times_are_refused() -> None:
    with pytest.raises(ValidationError, match="UTC offset"):
        assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0.replace(tzinfo=None))


def test_unassign_closes_the_current_mapping() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    unassign_meter(vehicle_id="VH1", at=T0 + 3 * H)
    assert rows("VH1") == [("MT1", T0, T0 + 3 * H)]


def test_unassign_without_a_current_mapping_says_so() -> None:
    register_devices(vehicle_ids=["VH1"])
    with pytest.raises(MappingError, match="has no current meter"):
        unassign_meter(vehicle_id="VH1", at=T0)


def test_unassign_at_or_before_the_start_is_refused() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    with pytest.raises(MappingError, match="close it at a later time"):
        unassign_meter(vehicle_id="VH1", at=T0)
    assert rows("VH1") == [("MT1", T0, None)]


def test_device_ids_are_validated_on_registration() -> None:
    with pytest.raises(ValidationError, match="1-64 characters"):
        register_devices(vehicle_ids=["bad id with spaces"])
    with pytest.raises(ValidationError, match="1-64 characters"):
        register_devices(vehicle_ids=["VH001\n"])
    assert Vehicle.objects.count() == 0
