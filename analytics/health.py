"""A vehicle's health over a window: coverage, paired efficiency, baseline and the verdict.

Devices drop out. A vehicle whose telematics is silent for two hours of a charge while its meter
keeps reporting shows a low efficiency over the window, and a meter outage hides a leak. So the
verdict rests on the hours in which both sides reported:

- coverage: each side's share of its expected readings (one every
  TELEMETRY_READING_INTERVAL_SECONDS), the meter side counted only while a meter was mapped;
- paired efficiency: DC / AC over the hours in which both sides have at least
  EFFICIENCY_MIN_COVERAGE of their expected readings;
- baseline: the median of the vehicle's daily paired efficiency over the EFFICIENCY_BASELINE_DAYS
  whole UTC days before the window's first day, when at least EFFICIENCY_BASELINE_MIN_DAYS of
  them have EFFICIENCY_MIN_PAIRED_HOURS paired hours;
- verdict: no_meter, insufficient_data, leak (paired efficiency below
  EFFICIENCY_ALERT_THRESHOLD), degraded (at least EFFICIENCY_DEGRADATION_POINTS below the
  baseline), else ok.

Everything is computed from the hourly parts of analytics.queries (roll-ups plus the raw edges),
in exact decimals; comparisons use the unrounded ratios.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING

from django.conf import settings

if TYPE_CHECKING:  # analytics.models imports the verdict names from here
    from analytics.queries import HourRow, Span

HOUR = timedelta(hours=1)
_HOUR_SECONDS = Decimal(3600)
DAY = timedelta(days=1)

OK, LEAK, DEGRADED, INSUFFICIENT, NO_METER = (
    "ok",
    "leak",
    "degraded",
    "insufficient_data",
    "no_meter",
)
VERDICTS = (LEAK, DEGRADED, OK, INSUFFICIENT, NO_METER)  # the fleet view's order


@dataclass(frozen=True)
class Paired:
    hours: int
    dc: Decimal
    ac: Decimal

    @property
    def ratio(self) -> Decimal | None:
        return self.dc / self.ac if self.ac else None


@dataclass(frozen=True)
class Health:
    vehicle_coverage: Decimal
    meter_coverage: Decimal | None  # None: no meter was mapped during the window
    paired: Paired
    baseline: Decimal | None
    verdict: str


def _hours_of(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime, datetime]]:
    """(hour, part start, part end) for every hour that [start, end) touches, clipped."""
    hour = start.replace(minute=0, second=0, microsecond=0)
    while hour < end:
        yield hour, max(hour, start), min(hour + HOUR, end)
        hour += HOUR


def _seconds(delta: timedelta) -> Decimal:
    """Exact seconds (timedelta.total_seconds() is a float)."""
    return Decimal(delta.days * 86400 + delta.seconds) + Decimal(delta.microseconds) / 1_000_000


def _mapped_seconds(spans: Iterable[Span], start: datetime, end: datetime) -> Decimal:
    total = Decimal(0)
    for span in spans:
        overlap_start, overlap_end = max(span.start, start), min(span.end, end)
        if overlap_end > overlap_start:
            total += _seconds(overlap_end - overlap_start)
    return total


def _share(readings: int, seconds: Decimal) -> Decimal:
    """Readings against those expected in `seconds`, capped at 1 (a device that reports more
    often than the interval is fully covered, not more)."""
    expected = seconds / settings.TELEMETRY_READING_INTERVAL_SECONDS
    return min(Decimal(1), Decimal(readings) / expected)


def coverage(
    vehicle_readings: int, meter_readings: int, start: datetime, end: datetime, mapped: Decimal
) -> tuple[Decimal, Decimal | None]:
    """Each side's share of its expected readings over [start, end); the meter's over the
    `mapped` seconds only, None when no meter was mapped."""
    vehicle = _share(vehicle_readings, _seconds(end - start))
    return vehicle, (_share(meter_readings, mapped) if mapped else None)


@dataclass(frozen=True)
class CoverageFloor:
    """Whether a side's readings cover the seconds it was expected to report for: at least
    EFFICIENCY_MIN_COVERAGE of one reading every TELEMETRY_READING_INTERVAL_SECONDS.

    Compared as readings x interval >= share x seconds, without a division, so that the fleet
    statement (analytics.queries._FLEET) decides every hour exactly as this does. The two
    settings are read once per computation: a baseline checks about 700 hour-sides, and
    reading and converting them for each was a third of a per-vehicle request's CPU."""

    share: Decimal
    interval: int

    @classmethod
    def configured(cls) -> CoverageFloor:
        share = Decimal(str(settings.EFFICIENCY_MIN_COVERAGE))
        return cls(share, settings.TELEMETRY_READING_INTERVAL_SECONDS)

    def covers(self, readings: int, seconds: Decimal) -> bool:
        return readings * self.interval >= self.share * seconds


def paired(hours: list[HourRow], spans: list[Span], start: datetime, end: datetime) -> Paired:
    """The hours of [start, end) with both sides covered, and their DC and AC totals."""
    return _paired({row.hour: row for row in hours}, spans, start, end, CoverageFloor.configured())


def _paired(
    by_hour: dict[datetime, HourRow],
    spans: list[Span],
    start: datetime,
    end: datetime,
    floor: CoverageFloor,
) -> Paired:
    count, dc, ac = 0, Decimal(0), Decimal(0)
    for hour, part_start, part_end in _hours_of(start, end):
        row = by_hour.get(hour)
        if row is None:  # before the mapped seconds: an hour without readings is common
            continue
        mapped = _mapped_seconds(spans, part_start, part_end)
        if not mapped:
            continue
        seconds = (
            _HOUR_SECONDS if part_end - part_start == HOUR else _seconds(part_end - part_start)
        )
        if floor.covers(row.dc_readings, seconds) and floor.covers(row.ac_readings, mapped):
            count += 1
            dc += row.dc
            ac += row.ac
    return Paired(count, dc, ac)


def baseline_window(start: datetime) -> tuple[datetime, datetime]:
    """The whole UTC days before the day of `start` that the baseline is taken over."""
    first_day = start.replace(hour=0, minute=0, second=0, microsecond=0)
    return first_day - settings.EFFICIENCY_BASELINE_DAYS * DAY, first_day


def baseline(
    hours: list[HourRow], spans: list[Span], start: datetime, end: datetime
) -> Decimal | None:
    """Median daily paired efficiency over [start, end) (whole days), or None with fewer than
    EFFICIENCY_BASELINE_MIN_DAYS days that have enough paired hours."""
    by_hour = {row.hour: row for row in hours}
    floor = CoverageFloor.configured()
    ratios = []
    day = start
    while day < end:
        of_day = _paired(by_hour, spans, day, day + DAY, floor)
        if of_day.hours >= settings.EFFICIENCY_MIN_PAIRED_HOURS and of_day.ratio is not None:
            ratios.append(of_day.ratio)
        day += DAY
    if len(ratios) < settings.EFFICIENCY_BASELINE_MIN_DAYS:
        return None
    return Decimal(statistics.median(ratios))


def assess(
    hours: list[HourRow],
    spans: list[Span],
    start: datetime,
    end: datetime,
    baseline_efficiency: Decimal | None,
) -> Health:
    mapped = _mapped_seconds(spans, start, end)
    vehicle_readings = sum(row.dc_readings for row in hours)
    meter_readings = sum(row.ac_readings for row in hours)
    both = paired(hours, spans, start, end)
    # Ratios compared as products (dc < x * ac), exactly as the fleet statement compares them.
    threshold = Decimal(str(settings.EFFICIENCY_ALERT_THRESHOLD))
    points = Decimal(str(settings.EFFICIENCY_DEGRADATION_POINTS))
    if not mapped:
        verdict = NO_METER
    elif both.hours < settings.EFFICIENCY_MIN_PAIRED_HOURS or not both.ac > 0:
        verdict = INSUFFICIENT
    elif both.dc < threshold * both.ac:
        verdict = LEAK
    elif baseline_efficiency is not None and both.dc <= (baseline_efficiency - points) * both.ac:
        verdict = DEGRADED
    else:
        verdict = OK
    vehicle_coverage, meter_coverage = coverage(
        vehicle_readings, meter_readings, start, end, mapped
    )
    return Health(
        vehicle_coverage=vehicle_coverage,
        meter_coverage=meter_coverage,
        paired=both,
        baseline=baseline_efficiency,
        verdict=verdict,
    )
