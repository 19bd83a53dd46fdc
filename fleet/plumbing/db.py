"""Using a persistent connection the server may have closed since the last request."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import psycopg
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection

T = TypeVar("T")


def on_live_connection(run: Callable[[], T]) -> T:
    """Run a request's first statement once more on a new connection if the kept one turns out
    to be dead (PostgreSQL restarted or failed over since it was last used).

    This replaces Django's CONN_HEALTH_CHECKS, which spends a `SELECT 1` round trip at the
    start of every request to find out the same thing: on a busy two-core machine that round
    trip was about a third of a single-reading POST's wall time (py-spy, bench/RESULTS.md).
    Retrying is safe only outside a transaction, for a read or an idempotent write (storing
    readings: one stored already is a duplicate the second time), and only when the connection
    is what failed: a statement timeout on a live connection is raised, not run twice. If the
    server is really down, the second attempt fails within the connect timeout and the caller
    answers 503.
    """
    try:
        return run()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block or connection.is_usable():
            raise
        connection.close()
        return run()


def fetch_one_prepared(
    query: str, params: Sequence[Any] | Mapping[str, Any]
) -> tuple[Any, ...] | None:
    """Run a hot statement as a server-side prepared statement and return its first row.

    Django's psycopg backend binds parameters on the client, so PostgreSQL parses and plans
    every execution afresh: for the ingest statement (ten data-modifying CTEs) that planning
    was most of PostgreSQL's CPU per single-reading POST. A plain psycopg cursor on the same
    connection (so in the same transaction) binds on the server and, with prepare=True,
    prepares the statement on its first run; after five custom plans PostgreSQL settles on a
    cached generic one. The bare cursor is also cheaper to make than Django's wrapped one,
    which mattered for the per-request key lookup. Errors go through Django's wrapper, so a
    lost server is still django.db.OperationalError (a 503) and the connection is marked as
    failed. Behind PgBouncer in transaction mode this needs PgBouncer 1.21+
    (max_prepared_statements); DB_PREPARED_STATEMENTS=false turns it off.
    """
    rows = _prepared(query, params, one=True)
    return rows[0] if rows else None


def fetch_all_prepared(
    query: str, params: Sequence[Any] | Mapping[str, Any]
) -> list[tuple[Any, ...]]:
    """fetch_one_prepared for every row: for the per-vehicle reads, whose planning (the raw
    edges go through the partitioned history) cost PostgreSQL more than running them."""
    return _prepared(query, params, one=False)


def _prepared(
    query: str, params: Sequence[Any] | Mapping[str, Any], *, one: bool
) -> list[tuple[Any, ...]]:
    if not settings.DB_PREPARED_STATEMENTS:
        with connection.cursor() as cursor:
            cursor.execute(query, params)
            return _rows(cursor, one)
    connection.ensure_connection()
    connection.validate_no_broken_transaction()  # as Django's own cursors do
    with connection.wrap_database_errors, psycopg.Cursor(connection.connection) as cursor:
        cursor.execute(query, params, prepare=True)
        return _rows(cursor, one)


def _rows(cursor: Any, one: bool) -> list[tuple[Any, ...]]:
    if not one:
        return list(cursor.fetchall())
    row = cursor.fetchone()
    return [] if row is None else [row]


def fetch_all_bound(
    query: str, params: Sequence[Any], *, prepare: bool = False
) -> list[tuple[Any, ...]]:
    """Run a statement written with $1, $2, ... placeholders, its values bound on the server,
    and return its rows.

    For statements whose text changes with the batch (multi-row VALUES): prepared only when the
    caller says the text is one of few (a plan per batch size would fill the server's cache,
    and DB_PREPARED_STATEMENTS=false turns it off), but always bound on the server, which for a few
    thousand values is cheaper than Django's client-side quoting into the text; and sent as
    written (a RawCursor), since finding psycopg's `%s` markers in such a text took longer than
    dumping the values.
    """
    connection.ensure_connection()
    connection.validate_no_broken_transaction()
    with connection.wrap_database_errors, psycopg.RawCursor(connection.connection) as cursor:
        cursor.execute(query, params, prepare=prepare and settings.DB_PREPARED_STATEMENTS)
        return cursor.fetchall() if cursor.description else []
