"""Writes of the analytics side: the periodic health evaluation and acknowledging alerts."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from analytics import health, queries, selectors, webhooks
from analytics.models import ALERTING, RECOVERED, HealthAlert, HealthState, VehicleBaseline
from fleet.registry.models import Vehicle

DECISIVE = (*ALERTING, RECOVERED)


@dataclass
class EvaluationReport:
    vehicles: int = 0
    alerts: list[HealthAlert] = field(default_factory=list)

    @property
    def raised(self) -> int:
        return sum(1 for a in self.alerts if a.kind == HealthAlert.Kind.ALERT)

    @property
    def recovered(self) -> int:
        return sum(1 for a in self.alerts if a.kind == HealthAlert.Kind.RECOVERY)


def record_verdict(
    vehicle_id: str, assessed: health.Health, start: datetime, end: datetime, now: datetime
) -> HealthAlert | None:
    """Compare a vehicle's new verdict with its last decisive one and record the change: an
    alert when it becomes leak or degraded, a recovery when it returns to ok, nothing while it
    stays (or says nothing: insufficient_data, no_meter).

    The per-vehicle advisory lock makes two evaluations running at once take turns on each
    vehicle, so the second sees the first one's state and records nothing again.
    """
    verdict = assessed.verdict
    with transaction.atomic():
        queries.lock_vehicle_health(vehicle_id)
        state = HealthState.objects.filter(vehicle_id=vehicle_id).first()
        previous = state.verdict if state else ""
        if verdict not in DECISIVE or verdict == previous:
            if state is not None:
                HealthState.objects.filter(pk=vehicle_id).update(evaluated_at=now)
            return None
        HealthState.objects.update_or_create(
            vehicle_id=vehicle_id, defaults={"verdict": verdict, "evaluated_at": now}
        )
        if verdict in ALERTING:
            kind = HealthAlert.Kind.ALERT
        elif previous in ALERTING:
            kind = HealthAlert.Kind.RECOVERY
        else:
            return None  # a first verdict of ok: nothing to report
        alert = HealthAlert.objects.create(
            vehicle_id=vehicle_id,
            kind=kind,
            verdict=verdict,
            previous=previous,
            paired_efficiency=assessed.paired.ratio,
            baseline_efficiency=assessed.baseline,
            window_start=start,
            window_end=end,
            created_at=now,
        )
        webhooks.enqueue(alert, now)  # the outbox, in the alert's transaction
        return alert


def evaluate_health(
    *,
    now: datetime | None = None,
    vehicle_ids: Iterable[str] | None = None,
    say: Callable[[str], None] = lambda line: None,
) -> EvaluationReport:
    """Judge every vehicle over the last HEALTH_WINDOW_HOURS and record what changed.

    Each vehicle is its own transaction: a failure halfway keeps what was recorded, and the next
    run (every few minutes) carries on. Safe to run twice at once (record_verdict).
    """
    now = now or timezone.now()
    end = now
    start = end - timedelta(hours=settings.HEALTH_WINDOW_HOURS)
    ids = (
        list(vehicle_ids)
        if vehicle_ids is not None
        else list(Vehicle.objects.order_by("id").values_list("id", flat=True))
    )
    report = EvaluationReport()
    first_day = health.baseline_window(start)[1]
    for n, vehicle_id in enumerate(ids, 1):
        assessed = selectors.vehicle_health(vehicle_id, start, end)
        # Stored for the fleet view, which cannot afford 14 days of roll-ups per request.
        VehicleBaseline.objects.update_or_create(
            vehicle_id=vehicle_id,
            first_day=first_day,
            defaults={"efficiency": assessed.baseline, "computed_at": now},
        )
        alert = record_verdict(vehicle_id, assessed, start, end, now)
        if alert is not None:
            report.alerts.append(alert)
            say(f"{alert.kind}: {vehicle_id} is {alert.verdict} (was {alert.previous or '-'})")
        report.vehicles = n
        if n % 1000 == 0:
            say(f"evaluated {n:,} of {len(ids):,} vehicles")
    return report


def acknowledge_alerts(
    alert_ids: Iterable[int], *, user_id: int, now: datetime | None = None
) -> int:
    """Mark alerts seen by `user_id`; alerts acknowledged already keep their first ack."""
    return HealthAlert.objects.filter(pk__in=list(alert_ids), acknowledged_at__isnull=True).update(
        acknowledged_at=now or timezone.now(), acknowledged_by_id=user_id
    )
