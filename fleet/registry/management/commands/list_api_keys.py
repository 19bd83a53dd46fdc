from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from fleet.registry.models import ApiKey

ROW = "{:<9} {:<8} {:<17} {:<26} {:<26} {:<8} {}"


def _when(value: Any) -> str:
    return value.isoformat(timespec="seconds") if value else "-"


class Command(BaseCommand):
    help = "List API keys by their public prefix (never any secret): role, device, use, state."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="include revoked keys")

    def handle(self, *args: Any, **options: Any) -> None:
        keys = ApiKey.objects.order_by("created")
        if not options["all"]:
            keys = keys.filter(revoked=False)
        self.stdout.write(
            ROW.format("prefix", "role", "bound to", "last used", "expires", "state", "name")
        )
        for key in keys:
            bound = key.bound_device
            state = "revoked" if key.revoked else ("expired" if key.has_expired else "active")
            device = f"{bound[0]} {bound[1]}" if bound else "-"
            when_used, expires = _when(key.last_used_at), _when(key.expiry_date)
            self.stdout.write(
                ROW.format(key.prefix, key.role, device, when_used, expires, state, key.name)
            )
