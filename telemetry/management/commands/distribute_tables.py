from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from fleet.plumbing import citus
from telemetry import distribution


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(value)
    return number


class Command(BaseCommand):
    help = (
        "On a Citus coordinator: make the registry tables reference tables and distribute "
        "history, hot status and roll-ups by device id, colocated. Safe to run again."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--shard-count",
            type=_positive,
            help="shards of the colocation group (default: 4 for each active worker)",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="print what would change; change nothing"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        shard_count = options["shard_count"]
        if options["dry_run"]:
            self._dry_run(shard_count)
            return
        try:
            done = distribution.distribute_tables(
                shard_count=shard_count, say=lambda line: self.stdout.write(f"  {line}")
            )
        except (distribution.NotACoordinator, distribution.LayoutConflict) as error:
            raise CommandError(str(error)) from error
        if not done.todo:
            self.stdout.write(
                f"Nothing to change: all {len(done.done)} tables and functions are laid out "
                "already."
            )
        else:
            self.stdout.write(
                f"Laid out {len(done.todo)} tables and functions ({len(done.done)} were already). "
                "Restart the app's processes so they pick the shard-routed statements."
            )

    def _dry_run(self, shard_count: int | None) -> None:
        present = citus.citus_installed()
        try:
            if present:
                distribution.check_coordinator()
            todo = distribution.plan(citus_present=present)
        except (distribution.NotACoordinator, distribution.LayoutConflict) as error:
            raise CommandError(str(error)) from error
        if not todo.todo:
            self.stdout.write(
                f"Nothing to change: all {len(todo.done)} tables and functions are laid out."
            )
            return
        self.stdout.write(f"Would lay out {len(todo.todo)} tables and functions, in this order:")
        for step in todo.todo:
            self.stdout.write(f"  {step.describe(shard_count)}")
        if not present:
            self.stdout.write(
                "This database is plain PostgreSQL (no citus extension): without --dry-run "
                "the command refuses. Nothing was changed."
            )
        else:
            self.stdout.write("Nothing was changed (--dry-run).")
