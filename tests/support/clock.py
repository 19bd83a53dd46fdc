"""The test clock: which instant FLEET_TEST_CLOCK names, and the real clock behind time-machine.

tests/conftest.py stops Python's clock for each test (and moves it for the whole run when
FLEET_TEST_CLOCK is set). Code that talks to a process on the machine's own clock, such as
gunicorn in a subprocess, reads real_now() instead.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import time_machine

CLOCK_ENV = "FLEET_TEST_CLOCK"


def clock_from_env(value: str) -> datetime:
    """The instant FLEET_TEST_CLOCK names; refused without an offset, which would be ambiguous."""
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise pytest.UsageError(f"{CLOCK_ENV}={value!r} is not an ISO-8601 instant") from None
    if instant.tzinfo is None:
        raise pytest.UsageError(f"{CLOCK_ENV}={value!r} needs a UTC offset, e.g. ...T10:59:50Z")
    return instant


def real_now() -> datetime:
    """The machine's clock, whatever time-machine makes this process's clock say."""
    return time_machine.escape_hatch.datetime.datetime.now(UTC)
