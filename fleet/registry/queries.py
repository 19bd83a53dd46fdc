"""Raw SQL of the fleet app: one typed function per statement, identifiers from the models."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.db import connection
from psycopg import sql

from fleet.plumbing.db import fetch_one_prepared
from fleet.plumbing.sql import identifier
from fleet.registry.models import ApiKey, Meter, Vehicle, VehicleMeterMap


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
    ).format(table=identifier(model))
    with connection.cursor() as cursor:
        cursor.execute(query, [sorted(set(device_ids))])
        return len(cursor.fetchall())


def lock_devices(model: type[Vehicle] | type[Meter], device_ids: Sequence[str]) -> None:
    """FOR NO KEY UPDATE on many devices, in id order (the order every map change uses)."""
    query = sql.SQL(
        "SELECT id FROM {table} WHERE id = ANY(%s) ORDER BY id FOR NO KEY UPDATE"
    ).format(table=identifier(model))
    with connection.cursor() as cursor:
        cursor.execute(query, [list(device_ids)])


def close_open_mappings(ends: dict[int, datetime]) -> int:
    """Set valid_to on open map rows, many at once; returns how many were closed.

    "valid_to IS NULL" keeps it from ever moving an end that a concurrent change set first.
    """
    if not ends:
        return 0
    ids = sorted(ends)
    query = sql.SQL(
        "UPDATE {table} AS m SET valid_to = c.valid_to "
        "FROM unnest(%s::bigint[], %s::timestamptz[]) AS c(id, valid_to) "
        "WHERE m.id = c.id AND m.valid_to IS NULL RETURNING m.id"
    ).format(table=identifier(VehicleMeterMap))
    with connection.cursor() as cursor:
        cursor.execute(query, [ids, [ends[i] for i in ids]])
        return len(cursor.fetchall())


def usable_api_key(prefix: str) -> ApiKey | None:
    """The unrevoked key with this prefix, read with one plain statement.

    Every API request authenticates, and the ORM's query building cost about ten times the
    query itself here (py-spy, bench/RESULTS.md); the instance is built from the row directly.
    """
    query, attnames = _api_key_query()
    row = fetch_one_prepared(query, [prefix])
    if row is None:
        return None
    return ApiKey.from_db(connection.alias, attnames, list(row))


def _identifiers(names: Iterable[str | None]) -> list[sql.Composable]:
    # A concrete field always has a column; the model API types it as optional.
    return [sql.Identifier(str(name)) for name in names]


@functools.cache
def _api_key_query() -> tuple[str, list[str]]:
    """The key lookup rendered once per process: composing it (and quoting every identifier
    again on each execute) was about a tenth of a single-reading POST's worker CPU (py-spy)."""
    # from_db wants every concrete field, in the model's order.
    fields = ApiKey._meta.concrete_fields
    query = sql.SQL("SELECT {columns} FROM {table} WHERE prefix = %s AND NOT revoked").format(
        columns=sql.SQL(", ").join(_identifiers(f.column for f in fields)),
        table=identifier(ApiKey),
    )
    return query.as_string(), [f.attname for f in fields]
