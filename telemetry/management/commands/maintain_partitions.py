from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from telemetry.partitions import maintain_partitions


class Command(BaseCommand):
    help = (
        "Create missing history partitions, move rows out of the DEFAULT partition into their "
        "own, and drop partitions older than TELEMETRY_RETENTION_DAYS (if set). Run daily."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--days-back", type=int, help="default: TELEMETRY_BACKFILL_DAYS")
        parser.add_argument("--days-ahead", type=int, help="default: TELEMETRY_PRECREATE_DAYS")
        parser.add_argument("--retention-days", type=int, help="default: TELEMETRY_RETENTION_DAYS")

    def handle(self, *args: Any, **options: Any) -> None:
        report = maintain_partitions(
            days_back=options["days_back"],
            days_ahead=options["days_ahead"],
            retention_days=options["retention_days"],
            say=self.stdout.write if options["verbosity"] >= 1 else lambda line: None,
        )
        moved = sum(report.moved.values())
        self.stdout.write(
            f"partitions: {len(report.created)} created, {moved} rows moved out of DEFAULT, "
            f"{len(report.dropped)} dropped"
        )
