"""Usable API keys are cached per process for API_KEY_CACHE_SECONDS: a revoked key is refused
within that bound, and at once by the process that revoked it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.registry.models import ApiKey
from fleet.registry.services.keys import revoke_api_key
from tests.factories import at, make_key, meter, post

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def five_seconds(settings: Settings) -> None:
    settings.API_KEY_CACHE_SECONDS = 5


def test_a_key_revoked_elsewhere_is_refused_within_the_cache_bound(
    api_client: APIClient, clock: time_machine.Traveller
) -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    assert post(api_client, key, meter("MT1", at(3))).status_code == 200
    # Revoked by another process (the admin on another worker): this one's cache still holds it.
    ApiKey.objects.filter(pk=row.pk).update(revoked=True)
    clock.shift(timedelta(seconds=4.9))
    assert post(api_client, key, meter("MT1", at(2))).status_code == 200
    clock.shift(timedelta(seconds=0.2))  # 5.1 s after it was cached
    refused = post(api_client, key, meter("MT1", at(1)))
    assert refused.status_code == 401
    assert refused.json()["message"] == "The API key is not valid."


def test_a_key_revoked_in_this_process_is_refused_at_once(api_client: APIClient) -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    assert post(api_client, key, meter("MT1", at(2))).status_code == 200
    revoke_api_key(key_id=row.pk)
    assert post(api_client, key, meter("MT1", at(1))).status_code == 401


def test_with_no_cache_every_request_looks_the_key_up(
    api_client: APIClient, settings: Settings
) -> None:
    settings.API_KEY_CACHE_SECONDS = 0
    row, key = make_key(ApiKey.Role.DEVICE)
    assert post(api_client, key, meter("MT1", at(2))).status_code == 200
    ApiKey.objects.filter(pk=row.pk).update(revoked=True)
    assert post(api_client, key, meter("MT1", at(1))).status_code == 401


def test_a_cached_key_writes_its_last_use_once_a_minute(
    api_client: APIClient, clock: time_machine.Traveller
) -> None:
    row, key = make_key(ApiKey.Role.DEVICE)
    for minute in range(3):
        assert post(api_client, key, meter("MT1", at(10 - minute))).status_code == 200
    first = ApiKey.objects.get(pk=row.pk).last_used_at
    assert first is not None
    clock.shift(timedelta(seconds=3))
    assert post(api_client, key, meter("MT1", at(5))).status_code == 200
    assert ApiKey.objects.get(pk=row.pk).last_used_at == first
