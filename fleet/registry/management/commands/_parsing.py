from __future__ import annotations

from datetime import datetime

from django.core.management.base import CommandError


def parse_instant(value: str | None, option: str = "--at") -> datetime | None:
    """An ISO-8601 instant with a UTC offset (Z or +hh:mm), or None for "now"."""
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{option} {value!r} is not ISO-8601, e.g. 2026-02-10T16:23:00Z."
        ) from None
    if parsed.tzinfo is None:
        raise CommandError(f"{option} {value!r} needs a UTC offset, e.g. 2026-02-10T16:23:00Z.")
    return parsed
