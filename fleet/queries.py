"""Raw SQL of the fleet app: one typed function per statement, identifiers from the models."""

from __future__ import annotations

from collections.abc import Sequence

from django.db import connection
from psycopg import sql

from fleet.models import Meter, Vehicle


def _table(model: type[Vehicle] | type[Meter]) -> sql.Identifier:
    return sql.Identifier(model._meta.db_table)


def insert_missing_devices(model: type[Vehicle] | type[Meter], device_ids: Sequence[str]) -> int:
    """Register devices not seen before; returns how many were new.

    ids are sorted so two concurrent registrations take index locks in the same order. ON
    CONFLICT DO NOTHING makes a concurrent first report of the same device harmless.
    """
    if not device_ids:
        return 0
    query = sql.SQL(
        "INSERT INTO {table} (id, name, created_at) "
        "SELECT id, '', now() FROM unnest(%s::text[]) AS t(id) ORDER BY id "
        "ON CONFLICT (id) DO NOTHING RETURNING id"
    ).format(table=_table(model))
    with connection.cursor() as cursor:
        cursor.execute(query, [sorted(set(device_ids))])
        return len(cursor.fetchall())
