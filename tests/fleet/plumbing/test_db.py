"""Kept connections the server has closed, and the prepared ingest statement, on a real server."""

from __future__ import annotations

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from fleet.plumbing.db import on_live_connection
from fleet.registry import queries
from fleet.registry.models import ApiKey
from telemetry.models import MeterTelemetry
from tests.factories import at, make_key, meter, post
from tests.support.prepared import prepared_runs


def backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def terminate(pid: int) -> None:
    """What a PostgreSQL restart or failover does to a kept connection, from another session."""
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


@pytest.mark.django_db(transaction=True)
def test_a_connection_the_server_closed_is_replaced_and_the_read_retried_once() -> None:
    key, _ = make_key()
    before = backend_pid()
    terminate(before)

    found = on_live_connection(lambda: queries.usable_api_key(key.prefix))

    assert found is not None and found.pk == key.pk
    assert backend_pid() != before


@pytest.mark.django_db(transaction=True)
def test_inside_a_transaction_a_lost_connection_is_not_retried() -> None:
    key, _ = make_key()
    with pytest.raises(OperationalError), transaction.atomic():
        terminate(backend_pid())
        on_live_connection(lambda: queries.usable_api_key(key.prefix))
    connection.close()


METER_INGEST = ('%INSERT INTO "meter_telemetry"%', '%INSERT INTO "vehicle_telemetry"%')
KEY_LOOKUP = ('%FROM "fleet_api_key" WHERE prefix%',)


@pytest.mark.django_db
def test_the_key_lookup_and_ingest_statements_are_prepared_on_the_server(
    api_client: APIClient, settings: Settings
) -> None:
    settings.API_KEY_CACHE_SECONDS = 0  # every request looks its key up
    _, raw = make_key(ApiKey.Role.DEVICE)
    # The session may have served earlier tests: count what these three requests add.
    before = prepared_runs(*METER_INGEST), prepared_runs(*KEY_LOOKUP)
    for minute in (1, 2, 3):
        assert post(api_client, raw, meter("MT1", at(minute))).json()["accepted"] == 1
    after = prepared_runs(*METER_INGEST), prepared_runs(*KEY_LOOKUP)
    assert (after[0] - before[0], after[1] - before[1]) == (3, 3)
    assert MeterTelemetry.objects.count() == 3


@pytest.mark.django_db
def test_a_cached_key_is_looked_up_once_for_many_requests(
    api_client: APIClient, settings: Settings
) -> None:
    settings.API_KEY_CACHE_SECONDS = 5
    _, raw = make_key(ApiKey.Role.DEVICE)
    before = prepared_runs(*KEY_LOOKUP)
    for minute in (1, 2, 3):
        assert post(api_client, raw, meter("MT1", at(minute))).json()["accepted"] == 1
    assert prepared_runs(*KEY_LOOKUP) - before == 1


@pytest.mark.django_db(transaction=True)
def test_with_the_key_cached_the_ingest_statement_finds_a_closed_connection_and_retries(
    api_client: APIClient, settings: Settings
) -> None:
    settings.API_KEY_CACHE_SECONDS = 5
    _, raw = make_key(ApiKey.Role.DEVICE)
    assert post(api_client, raw, meter("MT1", at(2))).json()["accepted"] == 1
    before = backend_pid()
    terminate(before)  # the key is cached: no lookup runs before the ingest statement
    answer = post(api_client, raw, meter("MT1", at(1)))
    assert (answer.status_code, answer.json()["accepted"]) == (200, 1)
    assert backend_pid() != before
    assert MeterTelemetry.objects.count() == 2


@pytest.mark.django_db
def test_ingest_works_with_prepared_statements_turned_off(
    api_client: APIClient, settings: Settings
) -> None:
    settings.DB_PREPARED_STATEMENTS = False
    _, raw = make_key(ApiKey.Role.DEVICE)
    assert post(api_client, raw, meter("MT1", at(1))).json()["accepted"] == 1
    assert post(api_client, raw, meter("MT1", at(1))).json()["duplicates"] == 1
    assert MeterTelemetry.objects.count() == 1
