from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.registry.management.commands._parsing import parse_instant
from fleet.registry.models import ApiKey
from fleet.registry.services.keys import create_api_key


class Command(BaseCommand):
    help = (
        "Create an API key. The key is printed once, alone on the last line; it is stored hashed."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True)
        parser.add_argument("--role", required=True, choices=ApiKey.Role.values)
        bound = parser.add_mutually_exclusive_group()
        bound.add_argument("--vehicle", help="bind a device key to this vehicle")
        bound.add_argument("--meter", help="bind a device key to this meter")
        parser.add_argument("--expires", help="ISO-8601 instant with offset; the key stops then")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            row, key = create_api_key(
                name=options["name"],
                role=options["role"],
                vehicle_id=options["vehicle"],
                meter_id=options["meter"],
                expires_at=parse_instant(options["expires"], "--expires"),
            )
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        bound = row.bound_device
        self.stderr.write(
            f"created {row.role} key {row.name!r} (prefix {row.prefix})"
            + (f" bound to {bound[0]} {bound[1]}" if bound else "")
            + "; store it now, it cannot be shown again:"
        )
        self.stdout.write(key)
