from datetime import datetime, timedelta

import pytest
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from fleet.registry.models import ApiKey, VehicleMeterMap, overlaps
from fleet.registry.services.mappings import assign_meter, unassign_meter
from tests.factories import T0, make_meter, make_vehicle

pytestmark = pytest.mark.django_db
H = timedelta(hours=1)
US = timedelta(microseconds=1)


def meters(rows: QuerySet[VehicleMeterMap]) -> list[str]:
    return list(rows.order_by("valid_from").values_list("meter_id", flat=True))


def test_at_includes_the_start_and_excludes_the_end() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + 5 * H)
    vh1 = VehicleMeterMap.objects.filter(vehicle_id="VH1")
    assert meters(vh1.at(T0 - US)) == []
    assert meters(vh1.at(T0)) == ["MT1"]
    assert meters(vh1.at(T0 + 5 * H - US)) == ["MT1"]
    assert meters(vh1.at(T0 + 5 * H)) == ["MT2"]
    assert meters(vh1.at(T0 + 500 * H)) == ["MT2"]


def test_overlapping_is_half_open_on_both_sides_and_open_ended_without_an_end() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + 5 * H)
    unassign_meter(vehicle_id="VH1", at=T0 + 8 * H)
    vh1 = VehicleMeterMap.objects.filter(vehicle_id="VH1")
    assert meters(vh1.overlapping(T0 + 2 * H, T0 + 10 * H)) == ["MT1", "MT2"]
    assert meters(vh1.overlapping(T0 + 5 * H, T0 + 6 * H)) == ["MT2"]
    assert meters(vh1.overlapping(T0 + 8 * H, T0 + 9 * H)) == []
    assert meters(vh1.overlapping(T0 - 2 * H, T0)) == []
    assert meters(vh1.overlapping(T0 - 2 * H, None)) == ["MT1", "MT2"]
    assert meters(vh1.overlapping(T0 + 8 * H, None)) == []


def test_current_is_the_open_ended_rows_only() -> None:
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=T0)
    assign_meter(vehicle_id="VH1", meter_id="MT2", at=T0 + 5 * H)
    assert meters(VehicleMeterMap.objects.current()) == ["MT2"]


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ((0, 5), (5, 8), False),
        ((0, 5), (4, 8), True),
        ((0, None), (100, 101), True),
        ((5, None), (0, 5), False),
        ((5, 6), (0, None), True),
    ],
)
def test_the_in_memory_overlap_predicate_agrees_with_the_query(
    a: tuple[int, int | None], b: tuple[int, int | None], expected: bool
) -> None:
    def span(hours: tuple[int, int | None]) -> tuple[datetime, datetime | None]:
        start, end = hours
        return T0 + start * H, None if end is None else T0 + end * H

    (start, end), (other_start, other_end) = span(a), span(b)
    assert overlaps(start, end, other_start, other_end) is expected
    assign_meter(vehicle_id="VH1", meter_id="MT1", at=start)
    if end is not None:
        unassign_meter(vehicle_id="VH1", at=end)
    rows = VehicleMeterMap.objects.overlapping(other_start, other_end)
    assert rows.exists() is expected


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
