from datetime import timedelta

import pytest
from django.db import IntegrityError, transaction

from fleet.models import ApiKey, VehicleMeterMap
from tests.factories import T0, make_meter, make_vehicle

pytestmark = pytest.mark.django_db


def test_database_refuses_a_mapping_that_ends_before_it_starts() -> None:
    vehicle, meter = make_vehicle(), make_meter()
    with pytest.raises(IntegrityError, match="vmm_valid_to_after_from"):
        VehicleMeterMap.objects.create(
            vehicle=vehicle, meter=meter, valid_from=T0, valid_to=T0 - timedelta(seconds=1)
        )


def test_database_refuses_two_current_meters_for_one_vehicle() -> None:
    vehicle = make_vehicle()
    VehicleMeterMap.objects.create(vehicle=vehicle, meter=make_meter("MT1"), valid_from=T0)
    with pytest.raises(IntegrityError, match="vmm_one_current_meter"), transaction.atomic():
        VehicleMeterMap.objects.create(
            vehicle=vehicle, meter=make_meter("MT2"), valid_from=T0 + timedelta(hours=1)
        )
    assert VehicleMeterMap.objects.count() == 1


def test_database_refuses_one_meter_current_on_two_vehicles() -> None:
    meter = make_meter()
    VehicleMeterMap.objects.create(vehicle=make_vehicle("VH1"), meter=meter, valid_from=T0)
    with pytest.raises(IntegrityError, match="vmm_one_current_vehicle"):
        VehicleMeterMap.objects.create(
            vehicle=make_vehicle("VH2"), meter=meter, valid_from=T0 + timedelta(hours=1)
        )


def test_only_device_keys_may_be_bound_to_a_device() -> None:
    vehicle = make_vehicle()
    with pytest.raises(IntegrityError, match="api_key_only_device_keys_bound"):
        ApiKey.objects.create_key(name="x", role=ApiKey.Role.ANALYST, vehicle=vehicle)


def test_a_key_is_bound_to_at_most_one_device() -> None:
    with pytest.raises(IntegrityError, match="api_key_bound_to_one_device"):
        ApiKey.objects.create_key(
            name="x", role=ApiKey.Role.DEVICE, vehicle=make_vehicle(), meter=make_meter()
        )
