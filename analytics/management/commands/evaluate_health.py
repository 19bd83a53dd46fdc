from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics import webhooks
from analytics.services import evaluate_health


class Command(BaseCommand):
    help = (
        "Judge every vehicle over the last HEALTH_WINDOW_HOURS and record an alert when one "
        "becomes leak or degraded, a recovery when it returns to ok; then deliver the alerts "
        "due to the webhook endpoints (new ones and retries). Run every few minutes; safe to "
        "run twice at once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        say = (lambda line: None) if options["verbosity"] < 1 else self.stdout.write
        report = evaluate_health(say=say)
        self.stdout.write(
            f"health: {report.vehicles} vehicles evaluated, {report.raised} alerts, "
            f"{report.recovered} recoveries"
        )
        sent = webhooks.deliver_due(say=say)
        self.stdout.write(
            f"webhooks: {sent.delivered} delivered, {sent.failed} failed (retried later), "
            f"{sent.given_up} given up"
        )
