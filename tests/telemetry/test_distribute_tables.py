"""distribute_tables: refuses on plain PostgreSQL, prints its plan, is idempotent on Citus."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fleet.plumbing.citus import citus_installed, citus_tables, function_colocation
from telemetry.distribution import FUNCTIONS

pytestmark = pytest.mark.django_db

PLAN = [
    "  fleet_vehicle: reference table (a copy on every node)",
    "  fleet_meter: reference table (a copy on every node)",
    "  vehicle_meter_map: reference table (a copy on every node)",
    "  fleet_api_key: reference table (a copy on every node)",
    "  vehicle_telemetry: distributed by vehicle_id, 8 shards",
    "  current_vehicle_status: distributed by vehicle_id, colocated with vehicle_telemetry",
    "  vehicle_hourly: distributed by vehicle_id, colocated with vehicle_telemetry",
    "  meter_telemetry: distributed by meter_id, colocated with vehicle_telemetry",
    "  current_meter_status: distributed by meter_id, colocated with vehicle_telemetry",
    "  meter_hourly: distributed by meter_id, colocated with vehicle_telemetry",
    "  fleet_store_vehicle_reading(): distributed by its device id, colocated with "
    "vehicle_telemetry",
    "  fleet_store_meter_reading(): distributed by its device id, colocated with vehicle_telemetry",
]


def run(*args: str) -> str:
    out = StringIO()
    call_command("distribute_tables", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def plain() -> None:
    if citus_installed():
        pytest.skip("this database is Citus; the plain-PostgreSQL behaviour is tested there")


@pytest.fixture
def cluster() -> None:
    if not citus_installed():
        pytest.skip("needs a Citus coordinator: runs in the Citus session (CITUS_URL)")


def test_on_plain_postgresql_it_refuses_with_a_reason_and_changes_nothing(plain: None) -> None:
    with pytest.raises(CommandError) as refused:
        run("--shard-count", "8")
    assert str(refused.value) == (
        "This database is plain PostgreSQL (the citus extension is not installed), so there is "
        "nothing to distribute; nothing was changed. Point DATABASE_URL at a Citus coordinator "
        "to lay the tables out there."
    )


def test_a_dry_run_on_plain_postgresql_lists_every_table_in_foreign_key_order(plain: None) -> None:
    lines = run("--dry-run", "--shard-count", "8").splitlines()
    assert lines == [
        "Would lay out 12 tables and functions, in this order:",
        *PLAN,
        "This database is plain PostgreSQL (no citus extension): without --dry-run the command "
        "refuses. Nothing was changed.",
    ]


def test_a_shard_count_below_one_is_refused(plain: None) -> None:
    with pytest.raises(CommandError, match="--shard-count"):
        run("--shard-count", "0")


@pytest.mark.citus
def test_on_the_cluster_a_second_run_changes_nothing_and_says_so(cluster: None) -> None:
    before = citus_tables()
    assert run() == "Nothing to change: all 12 tables and functions are laid out already.\n"
    assert run("--dry-run") == "Nothing to change: all 12 tables and functions are laid out.\n"
    assert citus_tables() == before


@pytest.mark.citus
def test_on_the_cluster_the_layout_is_reference_registry_and_colocated_history(
    cluster: None,
) -> None:
    tables = citus_tables()
    for name in ("fleet_vehicle", "fleet_meter", "vehicle_meter_map", "fleet_api_key"):
        assert tables[name].kind == "reference", name
    anchor = tables["vehicle_telemetry"]
    for name, column in [
        ("vehicle_telemetry", "vehicle_id"),
        ("current_vehicle_status", "vehicle_id"),
        ("vehicle_hourly", "vehicle_id"),
        ("meter_telemetry", "meter_id"),
        ("current_meter_status", "meter_id"),
        ("meter_hourly", "meter_id"),
    ]:
        table = tables[name]
        assert (table.kind, table.column, table.colocation_id) == (
            "distributed",
            column,
            anchor.colocation_id,
        ), name
    for signature in FUNCTIONS:
        assert function_colocation(signature) == anchor.colocation_id, signature
