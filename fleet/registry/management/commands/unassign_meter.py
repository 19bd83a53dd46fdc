from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.registry.management.commands._parsing import parse_instant
from fleet.registry.services.audit import log_command
from fleet.registry.services.mappings import unassign_meter


class Command(BaseCommand):
    help = "Close VEHICLE's current meter mapping at --at (default now)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("vehicle")
        parser.add_argument("--at", help="ISO-8601 instant with offset; default now")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            row = unassign_meter(vehicle_id=options["vehicle"], at=parse_instant(options["at"]))
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        assert row.valid_to is not None  # the service just closed it
        line = f"unassign_meter {row.vehicle_id} --at {row.valid_to.isoformat()}"
        log_command(row, added=False, command=line)
        self.stdout.write(f"closed {row}")
