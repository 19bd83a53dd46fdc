"""The test clock itself (tests/conftest.py): the suite's timestamps are only as steady as it."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from tests.factories import at
from tests.support.clock import CLOCK_ENV, clock_from_env, real_now


def test_the_clock_stands_still_for_the_whole_of_a_test() -> None:
    before = (timezone.now(), datetime.now(UTC), time.time(), at(0))
    started = time.monotonic()
    time.sleep(0.05)
    # Durations and timeouts (time.monotonic) still run: only the wall clock stands still.
    assert time.monotonic() - started >= 0.05
    assert (timezone.now(), datetime.now(UTC), time.time(), at(0)) == before


def test_a_test_moves_its_clock_only_when_it_says_so(clock: time_machine.Traveller) -> None:
    before = timezone.now()
    clock.shift(timedelta(minutes=2))
    assert timezone.now() - before == timedelta(minutes=2)


def test_each_test_starts_at_the_real_or_the_chosen_time_not_a_fixed_date() -> None:
    # PostgreSQL's now() and the browser run on the real clock: the Python clock the tests
    # start on must stay near it (or near the instant FLEET_TEST_CLOCK chose for the run).
    chosen = os.environ.get(CLOCK_ENV, "").strip()
    if chosen:
        # The chosen clock ticks from the start of the run; no run takes half an hour.
        assert timedelta(0) <= timezone.now() - clock_from_env(chosen) < timedelta(minutes=30)
    else:
        assert abs(timezone.now() - real_now()) < timedelta(minutes=1)


def test_fleet_test_clock_names_an_iso_instant_with_an_offset() -> None:
    assert clock_from_env("2026-12-01T23:59:50Z") == datetime(2026, 12, 1, 23, 59, 50, tzinfo=UTC)
    assert clock_from_env("2026-12-02T01:59:50+02:00") == datetime(
        2026, 12, 1, 23, 59, 50, tzinfo=UTC
    )
    with pytest.raises(pytest.UsageError, match="needs a UTC offset"):
        clock_from_env("2026-12-01T23:59:50")
    with pytest.raises(pytest.UsageError, match="not an ISO-8601 instant"):
        clock_from_env("tomorrow")
