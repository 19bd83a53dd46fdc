"""Citus: whether the database is a Citus coordinator, and how its tables are laid out.

The app runs unchanged on plain PostgreSQL and on Citus; a few statements have a second form
that Citus can route to one shard (telemetry.queries, analytics.queries). Which form runs is
decided here, once per database: DB_LAYOUT=auto (the default) picks the routed forms when the
history table is distributed, `single` and `distributed` force one (the tests run both forms on
plain PostgreSQL so neither can rot).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from django.conf import settings
from django.db import connection

Layout = Literal["single", "distributed"]
LAYOUTS: tuple[Layout, ...] = ("single", "distributed")

# Detected layouts per database (NAME, HOST, PORT): a table only changes layout when an operator
# runs distribute_tables, which calls forget_layout() (other processes: restart them, as the
# README says).
_detected: dict[tuple[str, str, str], Layout] = {}


@dataclass(frozen=True)
class CitusTable:
    name: str
    kind: str  # "distributed", "reference" or "local", as citus_tables says
    column: str | None  # the distribution column of a distributed table
    colocation_id: int
    shard_count: int


def citus_installed() -> bool:
    """Whether the connected database has the citus extension (a coordinator or a worker)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus')")
        return bool(cursor.fetchone()[0])


def is_coordinator() -> bool:
    """Whether this Citus node is the coordinator (group 0); DDL and the app belong there."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT citus_is_coordinator()")
        return bool(cursor.fetchone()[0])


def worker_count() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM citus_get_active_worker_nodes()")
        return int(cursor.fetchone()[0])


def citus_tables() -> dict[str, CitusTable]:
    """The tables Citus manages in the current schema, by name."""
    query = """
        SELECT c.relname, t.citus_table_type,
            nullif(t.distribution_column, '<none>'), t.colocation_id, t.shard_count
        FROM citus_tables t JOIN pg_class c ON c.oid = t.table_name
        JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = current_schema()
    """
    with connection.cursor() as cursor:
        cursor.execute(query)
        return {row[0]: CitusTable(*row) for row in cursor.fetchall()}


def create_reference_table(table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT create_reference_table(%s::regclass)", [table])


def create_distributed_table(
    table: str, column: str, *, colocate_with: str | None, shard_count: int | None
) -> None:
    """Distribute `table` by `column`; colocated with another table, or first of its group."""
    with connection.cursor() as cursor:
        if colocate_with is None:
            cursor.execute(
                "SELECT create_distributed_table(%s::regclass, %s, 'hash', 'none', %s)",
                [table, column, shard_count],
            )
        else:
            cursor.execute(
                "SELECT create_distributed_table(%s::regclass, %s, colocate_with => %s)",
                [table, column, colocate_with],
            )


def _table_is_distributed(table: str) -> bool:
    query = (
        "SELECT EXISTS (SELECT 1 FROM pg_dist_partition WHERE logicalrelid = %s::regclass "
        "AND partmethod = 'h')"
    )
    with connection.cursor() as cursor:
        cursor.execute(query, [table])
        return bool(cursor.fetchone()[0])


def layout(probe_table: str) -> Layout:
    """Which statement forms to use: DB_LAYOUT if it names one, else whether `probe_table`
    (the vehicle history) is hash-distributed on this database."""
    forced = settings.DB_LAYOUT
    if forced in LAYOUTS:
        return forced
    db = connection.settings_dict
    key = (str(db.get("NAME")), str(db.get("HOST")), str(db.get("PORT")))
    if key not in _detected:
        distributed = citus_installed() and _table_is_distributed(probe_table)
        _detected[key] = "distributed" if distributed else "single"
    return _detected[key]


def forget_layout() -> None:
    """Detect again on next use (after distribute_tables, or between test databases)."""
    _detected.clear()


def function_colocation(signature: str) -> int | None:
    """The colocation group of a distributed function ("name(argtypes)"), None if it is not
    distributed by an argument."""
    query = """
        SELECT colocationid FROM pg_dist_object
        WHERE classid = 'pg_proc'::regclass AND objid = %s::regprocedure
            AND distribution_argument_index IS NOT NULL
    """
    with connection.cursor() as cursor:
        cursor.execute(query, [signature])
        row = cursor.fetchone()
        return int(row[0]) if row else None


def create_distributed_function(signature: str, argument: str, *, colocate_with: str) -> None:
    """Distribute a function by one argument, so a call goes to that value's shard's worker."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT create_distributed_function(%s::regprocedure, %s, colocate_with => %s)",
            [signature, argument, colocate_with],
        )
