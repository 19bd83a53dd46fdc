from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.registry.services.keys import revoke_by_prefix


class Command(BaseCommand):
    help = "Revoke the API key with this public prefix: it stops working at once; the row stays."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            key = revoke_by_prefix(prefix=options["prefix"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from None
        self.stdout.write(f"revoked {key.role} key {key.name!r} (prefix {key.prefix})")
