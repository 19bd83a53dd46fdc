from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import pytest_django
import time_machine
from pytest_django.fixtures import Settings
from rest_framework.test import APIClient

from tests.support.clock import CLOCK_ENV, clock_from_env

# FLEET_TEST_CLOCK=<ISO instant with an offset> runs the whole suite with Python's clock moved to
# that instant (still ticking), to show that no test depends on when it runs, e.g.
#
#     FLEET_TEST_CLOCK=2026-12-01T10:59:50Z .venv/bin/pytest -q   # an hour ends mid-suite
#     FLEET_TEST_CLOCK=2026-12-01T23:59:50Z .venv/bin/pytest -q   # and a day
#
# Only this process's Python clock moves: PostgreSQL's now() (audit columns such as received_at),
# gunicorn and manage.py in subprocesses, and Chromium keep the real one. So pick an instant on
# today's date, as above, rather than a date where those clocks would disagree by weeks.


@pytest.fixture(scope="session", autouse=True)
def _moved_clock() -> Iterator[None]:
    value = os.environ.get(CLOCK_ENV, "").strip()
    if not value:
        yield
        return
    with time_machine.travel(clock_from_env(value), tick=True):
        yield


@pytest.fixture(autouse=True)
def clock(_moved_clock: None) -> Iterator[time_machine.Traveller]:
    """Every test runs with Python's clock stopped at the instant the test started.

    Tests build readings "n minutes ago" (tests.factories.at) and the code under test checks them
    against timezone.now(): with the clock standing still, both sides agree however long the
    test takes and wherever an hour or a day ends. Where the test starts stays the real (or
    FLEET_TEST_CLOCK's) time, so PostgreSQL's own clock is never far off. A test that needs time
    to pass moves it itself: clock.shift(timedelta(...)).
    """
    with time_machine.travel(datetime.now(UTC), tick=False) as traveller:
        yield traveller


@pytest.fixture(autouse=True)
def _no_cached_keys() -> Iterator[None]:
    # Each test's keys are its own: a key another test cached (and its database rolled back)
    # must not answer for it.
    from fleet.registry.keycache import forget_keys

    forget_keys()
    yield
    forget_keys()


@pytest.fixture(autouse=True)
def _plain_static_storage(settings: Settings) -> None:
    # The manifest storage needs `collectstatic` first; tests render templates without it.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


# --- the two statement forms, and the Citus session ----------------------------------------------
# Ingestion and the per-vehicle reads have a one-statement form (plain PostgreSQL) and a
# shard-routed one (Citus). Tests that use `each_layout` run once with each form, on whatever
# database the session uses, so neither form can rot where no cluster is at hand.
#
# `make test` then runs the tests marked `citus` a second time, in their own session
# (FLEET_TEST_CITUS=1) against the coordinator in CITUS_URL, with the tables distributed; that
# database is emptied by the run, so give it a throwaway one. Without CITUS_URL every test of that
# session is reported as skipped, with the reason.
CITUS_SESSION = os.environ.get("FLEET_TEST_CITUS") == "1"
CITUS_SHARDS = 4


@pytest.fixture(params=["single", "distributed"])
def each_layout(request: pytest.FixtureRequest, settings: Settings) -> str:
    settings.DB_LAYOUT = request.param
    return str(request.param)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if CITUS_SESSION and not os.environ.get("CITUS_URL"):
        skip = pytest.mark.skip(
            reason="CITUS_URL is not set: these tests ran on plain PostgreSQL only. Point it at "
            "a throwaway database on a Citus coordinator to run them on the cluster."
        )
        for item in items:
            item.add_marker(skip)


if CITUS_SESSION and os.environ.get("CITUS_URL"):

    @pytest.fixture(scope="session")
    def django_db_setup(django_db_blocker: pytest_django.DjangoDbBlocker) -> None:
        """The CITUS_URL database itself (a new database would need Citus set up on every
        node), migrated, laid out by distribute_tables and emptied."""
        from django.core.management import call_command

        from fleet.plumbing import citus

        with django_db_blocker.unblock():
            call_command("migrate", verbosity=0)
            call_command("distribute_tables", shard_count=CITUS_SHARDS, verbosity=0)
            call_command("flush", interactive=False, verbosity=0)
            citus.forget_layout()
