"""How often this session ran the server-side prepared statements whose text matches."""

from __future__ import annotations

from django.db import connection


def prepared_runs(like: str, not_like: str = "-") -> int:
    """Executions in this session of the prepared statements matching `like` (0 if none)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT coalesce(sum(generic_plans + custom_plans), 0) FROM pg_prepared_statements "
            "WHERE statement LIKE %s AND statement NOT LIKE %s",
            [like, not_like],
        )
        return int(cursor.fetchone()[0])
