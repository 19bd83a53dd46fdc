"""The hourly roll-ups must always equal the raw sums, whatever order readings arrive in."""

import pytest
from django.db import connection
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from tests.factories import at, make_key, meter, post, vehicle

pytestmark = [pytest.mark.django_db, pytest.mark.citus, pytest.mark.usefixtures("each_layout")]


def raw_vs_rollup(sql_raw: str, sql_rollup: str) -> tuple[list, list]:
    with connection.cursor() as cursor:
        cursor.execute(sql_raw)
        raw = cursor.fetchall()
        cursor.execute(sql_rollup)
        return raw, cursor.fetchall()


def test_rollups_equal_raw_sums_after_late_and_duplicate_readings(api_client: APIClient) -> None:
    _, key = make_key(ApiKey.Role.DEVICE)
    first = [
        vehicle(
            f"VH{i}", at(m), kwhDeliveredDc=0.1 * (m + 1), batteryTemp=20 + (m % 8) * 0.25
        )  # exact in binary: sums do not depend on order
        for i in range(3)
        for m in range(0, 180, 7)
    ]
    first += [
        meter(f"MT{i}", at(m), kwhConsumedAc=0.13 * (m + 1))
        for i in range(3)
        for m in range(0, 180, 7)
    ]
    assert post(api_client, key, first).json()["accepted"] == len(first)
    # Late readings into old hours, repeats with other values, and a repeat inside a batch.
    late = [vehicle("VH0", at(m), kwhDeliveredDc=1.0) for m in range(3, 180, 11)]
    late += [vehicle("VH1", at(0), kwhDeliveredDc=50.0), meter("MT2", at(7), kwhConsumedAc=50.0)]
    late += [meter("MT0", at(200), kwhConsumedAc=2.5), meter("MT0", at(200), kwhConsumedAc=7.5)]
    response = post(api_client, key, late)
    # VH0 repeats at 14, 91 and 168 minutes ago, VH1 and MT2 once each, MT0 within the batch.
    assert (response.json()["accepted"], response.json()["duplicates"]) == (len(late) - 6, 6)

    raw, rollup = raw_vs_rollup(
        "SELECT vehicle_id, date_trunc('hour', ts), sum(kwh_delivered_dc), sum(battery_temp), "
        "count(*) FROM vehicle_telemetry GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT vehicle_id, hour, kwh_dc, battery_temp_sum, readings FROM vehicle_hourly "
        "ORDER BY 1, 2",
    )
    assert raw == rollup
    assert len(raw) >= 9
    raw, rollup = raw_vs_rollup(
        "SELECT meter_id, date_trunc('hour', ts), sum(kwh_consumed_ac), count(*) "
        "FROM meter_telemetry GROUP BY 1, 2 ORDER BY 1, 2",
        "SELECT meter_id, hour, kwh_ac, readings FROM meter_hourly ORDER BY 1, 2",
    )
    assert raw == rollup
