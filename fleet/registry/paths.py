"""Device ids that arrive in a URL path, checked before anything reaches the database."""

from __future__ import annotations

from fleet.plumbing.errors import ApiError
from fleet.registry.models import DEVICE_ID_RE, DEVICE_ID_RULE


def device_id(value: str, kind: str) -> str:
    """value if it can be a device id, else a 400 (a NUL byte, say, would be a database error).

    No device was ever registered under an id that breaks the rule, so the answer is the same
    for every such id, and the id is quoted escaped: it may hold control characters.
    """
    if not DEVICE_ID_RE.fullmatch(value):
        shown = repr(value if len(value) <= 80 else value[:80] + "...")
        raise ApiError(400, f"{shown} is not a {kind} id: a {kind} id is {DEVICE_ID_RULE}.")
    return value
