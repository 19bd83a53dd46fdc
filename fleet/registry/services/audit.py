"""The admin log for changes made outside the admin (management commands), so a mapping's
history page shows them too, with the command as the actor."""

from __future__ import annotations

from django.contrib.admin.models import ADDITION, CHANGE, LogEntry
from django.contrib.auth import get_user_model
from django.db import models

# The admin log needs a user; commands act as this one. It cannot log in: no usable password,
# and inactive.
COMMAND_USER = "manage.py"


def _command_user_id() -> int:
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=COMMAND_USER, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return int(user.pk)


def log_command(row: models.Model, *, added: bool, command: str) -> None:
    """Record that `command` (its whole command line) added or changed `row`."""
    LogEntry.objects.log_actions(
        user_id=_command_user_id(),
        queryset=[row],
        action_flag=ADDITION if added else CHANGE,
        change_message=f"By the command: {command}",
        single_object=True,
    )
