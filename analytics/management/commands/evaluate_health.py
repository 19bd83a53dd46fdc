from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from analytics.services import evaluate_health


class Command(BaseCommand):
    help = (
        "Judge every vehicle over the last HEALTH_WINDOW_HOURS and record an alert when one "
        "becomes leak or degraded, a recovery when it returns to ok. Run every few minutes; "
        "safe to run twice at once."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        quiet = options["verbosity"] < 1
        report = evaluate_health(say=(lambda line: None) if quiet else self.stdout.write)
        self.stdout.write(
            f"health: {report.vehicles} vehicles evaluated, {report.raised} alerts, "
            f"{report.recovered} recoveries"
        )
