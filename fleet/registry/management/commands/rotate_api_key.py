from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.registry.management.commands._parsing import parse_instant
from fleet.registry.services.keys import rotate_api_key


class Command(BaseCommand):
    help = (
        "A new key for the same device (name, role, bound device) while the old one keeps "
        "working until --old-valid-until. The new key is printed once, alone on the last line."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", help="the public prefix of the key to replace")
        parser.add_argument("--old-valid-until", required=True, help="ISO-8601 instant with offset")

    def handle(self, *args: Any, **options: Any) -> None:
        until = parse_instant(options["old_valid_until"], "--old-valid-until")
        assert until is not None  # the option is required
        try:
            old, new, plain = rotate_api_key(prefix=options["prefix"], old_valid_until=until)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stderr.write(
            f"new {new.role} key {new.name!r} (prefix {new.prefix}); the old key {old.prefix} "
            f"works until {until.isoformat()}. Store the new key now, it cannot be shown again:"
        )
        self.stdout.write(plain)
