"""Every query parameter of the analytics endpoints, parsed (and refused with a 400) here.

The window is ?hours=H or ?from=ISO&to=ISO, half-open [from, to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from analytics.health import VERDICTS
from fleet.plumbing.errors import ApiError
from fleet.plumbing.pagination import PageRequest
from fleet.registry import paths

MAX_HOURS = 744
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_SPAN = timedelta(days=31)
# The instants a window may name. Wide enough for any real reading, and far enough inside
# Python's calendar (years 1-9999) that aligning to hours and adding a window never overflows.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Window:
    start: datetime
    end: datetime

    def aligned_to_hours(self) -> Window:
        """The smallest whole-hour window that covers this one (what the roll-ups can answer)."""
        start = self.start.replace(minute=0, second=0, microsecond=0)
        end = self.end.replace(minute=0, second=0, microsecond=0)
        if end < self.end:
            end += HOUR
        return Window(start, end)


def _instant(params: Mapping[str, str], name: str) -> datetime:
    text = params[name].strip().replace(" ", "+")  # a '+' in a query string arrives as ' '
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ApiError(
            400, f"'{name}' is not an ISO-8601 time; send e.g. 2026-02-10T16:00:00Z."
        ) from None
    if value.tzinfo is None:
        raise ApiError(400, f"'{name}' needs a UTC offset, e.g. 2026-02-10T16:00:00Z.")
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the first instant Python has
        value = EARLIEST - HOUR
    if not EARLIEST <= value <= LATEST:
        raise ApiError(
            400,
            f"'{name}' must be between {EARLIEST:%Y-%m-%d} and {LATEST:%Y-%m-%d} (UTC); "
            "no reading is older or newer.",
        )
    return value


def parse_window(params: Mapping[str, str], now: datetime) -> Window:
    """?hours=H (default 24, 1-744), or ?from=&to= (to defaults to now, at most 31 days)."""
    if "hours" in params and ("from" in params or "to" in params):
        raise ApiError(400, "Give either 'hours' or 'from'/'to', not both.")
    if "from" in params or "to" in params:
        if "from" not in params:
            raise ApiError(400, "'to' needs a 'from'.")
        start = _instant(params, "from")
        end = _instant(params, "to") if "to" in params else now
        if start >= end:
            raise ApiError(400, "'from' must be before 'to'.")
        if end - start > MAX_SPAN:
            raise ApiError(400, "A window spans at most 31 days.")
        return Window(start, end)
    raw = params.get("hours", "24")
    try:
        hours = int(raw)
    except ValueError:
        raise ApiError(400, f"'hours' must be a whole number from 1 to {MAX_HOURS}.") from None
    if not 1 <= hours <= MAX_HOURS:
        raise ApiError(400, f"'hours' must be a whole number from 1 to {MAX_HOURS}.")
    return Window(now - timedelta(hours=hours), now)


def parse_hour_window(params: Mapping[str, str], now: datetime) -> Window:
    """Like parse_window, but whole hours: ?hours=H means the H hour buckets up to the current
    (partial) one; from/to are widened to hour boundaries."""
    if "from" in params or "to" in params:
        return parse_window(params, now).aligned_to_hours()
    window = parse_window(params, now)
    end = Window(now, now).aligned_to_hours().end
    if end == now:
        end += HOUR  # exactly on the hour: the bucket that starts now is the current one
    return Window(end - (window.end - window.start), end)


@dataclass(frozen=True)
class FleetQuery:
    window: Window
    flagged_only: bool
    page: PageRequest
    health: list[str] | None = None  # only vehicles with these verdicts


def _health_filter(params: Mapping[str, str]) -> list[str] | None:
    if "health" not in params:
        return None
    wanted = [v.strip() for v in params["health"].split(",") if v.strip()]
    unknown = [v for v in wanted if v not in VERDICTS]
    if not wanted or unknown:
        raise ApiError(
            400,
            "'health' is a comma list of "
            + ", ".join(VERDICTS)
            + (f"; not {', '.join(repr(v) for v in unknown)}." if unknown else "."),
        )
    return wanted


def parse_fleet_query(params: Mapping[str, str], now: datetime) -> FleetQuery:
    """The fleet view's ?hours / ?from&to (whole hours), ?flagged and ?page&page_size."""
    window = parse_hour_window(params, now)
    flagged = params.get("flagged", "false").lower()
    if flagged not in ("true", "false", "1", "0"):
        raise ApiError(400, "'flagged' must be true or false.")
    page = PageRequest.from_query(params, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE)
    return FleetQuery(window, flagged in ("true", "1"), page, _health_filter(params))


def parse_series_query(params: Mapping[str, str], now: datetime) -> Window:
    """The series' whole-hour window; ?bucket may only be "hour" so far."""
    if params.get("bucket", "hour") != "hour":
        raise ApiError(400, "'bucket' must be 'hour' (the only bucket size so far).")
    return parse_hour_window(params, now)


ALERT_STATES = ("open", "acknowledged")


@dataclass(frozen=True)
class AlertQuery:
    vehicle_id: str | None
    state: str | None  # "open", "acknowledged", or None for both
    page: PageRequest


def parse_alert_query(params: Mapping[str, str]) -> AlertQuery:
    """GET /v1/alerts: ?vehicle=ID, ?state=open|acknowledged, ?page&page_size."""
    vehicle_id = params.get("vehicle")
    if vehicle_id is not None:
        vehicle_id = paths.device_id(vehicle_id, "vehicle")
    state = params.get("state")
    if state is not None and state not in ALERT_STATES:
        raise ApiError(400, "'state' must be open or acknowledged.")
    page = PageRequest.from_query(params, default_size=DEFAULT_PAGE_SIZE, max_size=MAX_PAGE_SIZE)
    return AlertQuery(vehicle_id, state, page)
