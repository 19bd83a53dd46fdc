from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from fleet.registry.management.commands._parsing import parse_instant
from fleet.registry.services.audit import log_command
from fleet.registry.services.mappings import assign_meter


class Command(BaseCommand):
    help = "Map METER to VEHICLE from --at (default now) on; closes both current mappings."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("vehicle")
        parser.add_argument("meter")
        parser.add_argument("--at", help="ISO-8601 instant with offset; default now")

    def handle(self, *args: Any, **options: Any) -> None:
        at = parse_instant(options["at"]) or timezone.now()
        try:
            row = assign_meter(vehicle_id=options["vehicle"], meter_id=options["meter"], at=at)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        if row.valid_from != at:
            # The service keeps a current mapping of the same pair that began earlier.
            self.stdout.write(
                f"unchanged: {row.vehicle_id} is already mapped to {row.meter_id} since "
                f"{row.valid_from.isoformat()} ({row}); nothing to do."
            )
            return
        line = f"assign_meter {row.vehicle_id} {row.meter_id} --at {at.isoformat()}"
        log_command(row, added=True, command=line)
        self.stdout.write(f"mapped {row}")
