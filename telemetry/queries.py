"""Raw SQL of the telemetry app: one typed function per statement.

Identifiers come from the models' db_table through psycopg.sql; values are always bound, except
partition bounds, which DDL cannot bind and which go in as sql.Literal (quoted by psycopg).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection
from psycopg import sql

_BOUND = re.compile(r"FOR VALUES FROM \('([^']+)'\) TO \('([^']+)'\)")


@dataclass(frozen=True)
class Partition:
    name: str
    start: datetime | None  # None for the DEFAULT partition
    end: datetime | None

    @property
    def is_default(self) -> bool:
        return self.start is None


def _parse_timestamp(text: str) -> datetime:
    # pg_get_expr renders timestamptz in the session's TimeZone, which Django sets to UTC.
    text = text.replace(" ", "T")
    if re.search(r"[+-]\d\d$", text):
        text += ":00"
    return datetime.fromisoformat(text)


def list_partitions(table: str) -> list[Partition]:
    """Partitions of `table` with their ranges, as the catalog records them."""
    query = """
        SELECT child.relname, pg_get_expr(child.relpartbound, child.oid)
        FROM pg_inherits
        JOIN pg_class parent ON parent.oid = pg_inherits.inhparent
        JOIN pg_class child ON child.oid = pg_inherits.inhrelid
        JOIN pg_namespace ns ON ns.oid = parent.relnamespace
        WHERE parent.relname = %s AND ns.nspname = current_schema()
        ORDER BY child.relname
    """
    partitions = []
    with connection.cursor() as cursor:
        cursor.execute(query, [table])
        for name, bound in cursor.fetchall():
            match = _BOUND.search(bound)
            if match:
                start, end = (_parse_timestamp(g) for g in match.groups())
                partitions.append(Partition(name, start, end))
            else:
                partitions.append(Partition(name, None, None))
    ranged = sorted((p for p in partitions if not p.is_default), key=lambda p: p.start)
    return ranged + [p for p in partitions if p.is_default]  # in time order, DEFAULT last


def create_partition(table: str, name: str, start: datetime, end: datetime) -> None:
    query = sql.SQL(
        "CREATE TABLE {name} PARTITION OF {table} FOR VALUES FROM ({s}) TO ({e})"
    ).format(
        name=sql.Identifier(name),
        table=sql.Identifier(table),
        s=sql.Literal(start),
        e=sql.Literal(end),
    )
    with connection.cursor() as cursor:
        cursor.execute(query)


def drop_partition(name: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP TABLE {name}").format(name=sql.Identifier(name)))


def lock_table_exclusively(table: str) -> None:
    """Hold off writers while rows move out of the DEFAULT partition.

    Creating a partition takes this lock on the parent anyway; taking it first means no reading
    can land in DEFAULT between moving its rows out and creating the partition that covers them.
    """
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE").format(
                table=sql.Identifier(table)
            )
        )


def default_partition_starts(
    default_partition: str, size: timedelta, origin: datetime
) -> list[datetime]:
    """Start of every partition-sized range that has rows sitting in the DEFAULT partition."""
    query = sql.SQL(
        "SELECT DISTINCT date_bin(%s, ts, %s) AS start FROM {default} ORDER BY start"
    ).format(default=sql.Identifier(default_partition))
    with connection.cursor() as cursor:
        cursor.execute(query, [size, origin])
        return [row[0] for row in cursor.fetchall()]


def stash_default_rows(default_partition: str, start: datetime, end: datetime) -> int:
    """Move DEFAULT rows in [start, end) into a transaction-scoped temp table; returns the count."""
    query = sql.SQL(
        "CREATE TEMP TABLE partition_move ON COMMIT DROP AS "
        "WITH moved AS (DELETE FROM {default} WHERE ts >= %s AND ts < %s RETURNING *) "
        "SELECT * FROM moved"
    ).format(default=sql.Identifier(default_partition))
    with connection.cursor() as cursor:
        cursor.execute(query, [start, end])
        cursor.execute("SELECT count(*) FROM partition_move")
        count = int(cursor.fetchone()[0])
        if not count:
            # Dropped now rather than at COMMIT: the caller's transaction may go on (tests).
            cursor.execute("DROP TABLE partition_move")
        return count


def restore_stashed_rows(table: str) -> int:
    """Insert the stashed rows through the parent (so they route to the new partition)."""
    query = sql.SQL(
        "WITH ins AS (INSERT INTO {table} SELECT * FROM partition_move RETURNING 1) "
        "SELECT count(*) FROM ins"
    ).format(table=sql.Identifier(table))
    with connection.cursor() as cursor:
        cursor.execute(query)
        count = int(cursor.fetchone()[0])
        cursor.execute("DROP TABLE partition_move")
        return count
