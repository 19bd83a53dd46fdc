"""An invalid body gets an error of bounded size, however much is wrong with it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from telemetry.services import MAX_PROBLEMS_LISTED, MAX_READINGS_LISTED
from tests.factories import make_key, post, vehicle

pytestmark = pytest.mark.django_db


@pytest.fixture
def device_key() -> str:
    return make_key(ApiKey.Role.DEVICE)[1]


def test_a_reading_with_thousands_of_unknown_fields_lists_ten_and_counts_the_rest(
    api_client: APIClient, device_key: str
) -> None:
    junk: dict[str, Any] = {f"junk{i}": i for i in range(5_000)}
    reading = vehicle(**junk)
    response = post(api_client, device_key, reading)
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert len(errors) == MAX_PROBLEMS_LISTED + 1
    assert errors["more"] == [f"and {5_000 - MAX_PROBLEMS_LISTED:,} more problems in this reading"]
    assert len(response.content) < 4_000


def test_a_batch_of_bad_readings_lists_twenty_and_counts_the_rest(
    api_client: APIClient, device_key: str
) -> None:
    junk: dict[str, Any] = {f"junk{j}": j for j in range(100)}
    batch = [vehicle(soc=500.0, **junk) for _ in range(2_000)]
    response = post(api_client, device_key, batch)
    assert response.status_code == 400
    body = response.json()
    assert body["message"] == "2000 of 2000 readings are invalid; nothing was stored."
    errors = body["errors"]
    assert sorted(k for k in errors if k != "more") == sorted(str(i) for i in range(20))
    assert errors["more"] == [
        f"and {2_000 - MAX_READINGS_LISTED:,} more invalid readings; fix these and send again "
        "to see the rest"
    ]
    assert all(
        len(problems) == MAX_PROBLEMS_LISTED + 1 for k, problems in errors.items() if k != "more"
    )
    assert len(response.content) < 64 * 1024


def test_a_batch_with_few_problems_lists_them_all_as_before(
    api_client: APIClient, device_key: str
) -> None:
    batch = [vehicle(), vehicle("VH2", soc=101.0), vehicle("VH3", batteryTemp="hot")]
    response = post(api_client, device_key, batch)
    assert response.status_code == 400
    assert json.loads(response.content)["errors"] == {
        "1": {"soc": ["must be between 0 and 100"]},
        "2": {"batteryTemp": ["must be a number, not str"]},
    }
