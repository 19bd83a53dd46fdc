"""Laying the schema out on a Citus cluster (the distribute_tables command).

Registry tables become reference tables (a copy on every node): the map cannot be distributed,
since its unique keys ((vehicle, valid_from), one current row per meter) do not contain a device
id, and every node needs it to attribute AC anyway. History, hot status and roll-ups are
distributed by device id, all in one colocation group, so one device's rows of every table sit
on one shard group and a per-device statement goes to one worker. Reference tables come first
because the status tables' foreign keys point at them; the single-reading functions come last,
distributed by their device argument into the same group.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.db import models, transaction

from fleet.plumbing import citus
from fleet.registry.models import ApiKey, Meter, Vehicle, VehicleMeterMap
from telemetry.models import (
    CurrentMeterStatus,
    CurrentVehicleStatus,
    MeterHourly,
    MeterTelemetry,
    VehicleHourly,
    VehicleTelemetry,
)

# In foreign-key order: a table comes after every table it references.
REFERENCE_MODELS: tuple[type[models.Model], ...] = (Vehicle, Meter, VehicleMeterMap, ApiKey)
# (model, distribution column); the first is the colocation group's anchor.
DISTRIBUTED_MODELS: tuple[tuple[type[models.Model], str], ...] = (
    (VehicleTelemetry, "vehicle_id"),
    (CurrentVehicleStatus, "vehicle_id"),
    (VehicleHourly, "vehicle_id"),
    (MeterTelemetry, "meter_id"),
    (CurrentMeterStatus, "meter_id"),
    (MeterHourly, "meter_id"),
)
ANCHOR = VehicleTelemetry._meta.db_table
# The single-reading functions (migration telemetry 0004), distributed by their device id
# argument into the same colocation group: a call goes to the worker holding that device.
FUNCTIONS: tuple[str, ...] = (
    "fleet_store_vehicle_reading(text,timestamptz,float8,numeric,float8)",
    "fleet_store_meter_reading(text,timestamptz,numeric,float8)",
)
# The default shard count, per worker at the time of distribution. Shards are what a rebalance
# moves, so there must be enough for the workers a cluster may grow to (4x here); but a batch
# costs a statement per shard it touches, and on the benchmark's cluster the coordinator's CPU
# per reading grew with the shards: 28.7 us at 2, 33.3 at 4, 38.3 at 8, 94.0 at 32 (README).
SHARDS_PER_WORKER = 4


class NotACoordinator(Exception):
    """The database cannot take the layout; the message says why and what to do."""


class LayoutConflict(Exception):
    """A table is already laid out differently; the message names it and the way out."""


@dataclass(frozen=True)
class Step:
    table: str
    action: str  # "reference", "distribute" or "function"
    column: str | None = None  # the distribution column, or the function's argument ($1)

    def describe(self, shard_count: int | None) -> str:
        if self.action == "function":
            name = self.table.split("(")[0]
            return f"{name}(): distributed by its device id, colocated with {ANCHOR}"
        if self.action == "reference":
            return f"{self.table}: reference table (a copy on every node)"
        shards = f"{shard_count} shards" if shard_count else f"{SHARDS_PER_WORKER} shards a worker"
        if self.table == ANCHOR:
            return f"{self.table}: distributed by {self.column}, {shards}"
        return f"{self.table}: distributed by {self.column}, colocated with {ANCHOR}"


@dataclass(frozen=True)
class Plan:
    todo: list[Step]
    done: list[Step]


def _wanted() -> list[Step]:
    steps = [Step(m._meta.db_table, "reference") for m in REFERENCE_MODELS]
    steps += [Step(m._meta.db_table, "distribute", column) for m, column in DISTRIBUTED_MODELS]
    steps += [Step(signature, "function", "$1") for signature in FUNCTIONS]
    return steps


def check_coordinator() -> None:
    """Raise NotACoordinator unless this database is a Citus coordinator with workers."""
    if not citus.citus_installed():
        raise NotACoordinator(
            "This database is plain PostgreSQL (the citus extension is not installed), so "
            "there is nothing to distribute; nothing was changed. Point DATABASE_URL at a "
            "Citus coordinator to lay the tables out there."
        )
    if not citus.is_coordinator():
        raise NotACoordinator(
            "This is a Citus worker, not the coordinator; nothing was changed. The app and "
            "this command talk to the coordinator only: point DATABASE_URL at it."
        )
    if citus.worker_count() == 0:
        raise NotACoordinator(
            "This Citus coordinator has no active workers; nothing was changed. Add them "
            "first (SELECT citus_add_node('host', port)) and run this again."
        )


def _laid_out(step: Step, have: citus.CitusTable, anchor: citus.CitusTable | None) -> bool:
    if step.action == "reference":
        return have.kind == "reference"
    return (
        have.kind == "distributed"
        and have.column == step.column
        and anchor is not None
        and have.colocation_id == anchor.colocation_id
    )


def plan(*, citus_present: bool) -> Plan:
    """What is left to do. Without Citus, every step is left (the dry run's picture)."""
    wanted = _wanted()
    if not citus_present:
        return Plan(todo=wanted, done=[])
    tables = citus.citus_tables()
    anchor = tables.get(ANCHOR)
    todo: list[Step] = []
    done: list[Step] = []
    for step in wanted:
        if step.action == "function":
            group = citus.function_colocation(step.table)
            if group is None:
                todo.append(step)
            elif anchor is not None and group == anchor.colocation_id:
                done.append(step)
            else:
                raise LayoutConflict(
                    f"{step.table} is distributed in colocation group {group}, not with "
                    f"{ANCHOR}; nothing was changed."
                )
            continue
        have = tables.get(step.table)
        if have is None or have.kind == "local":
            todo.append(step)
        elif _laid_out(step, have, anchor):
            done.append(step)
        else:
            raise LayoutConflict(
                f"{step.table} is already a {have.kind} table"
                + (f" distributed by {have.column}" if have.column else "")
                + f" (colocation group {have.colocation_id}); it should be a "
                + step.describe(None).split(": ", 1)[1]
                + ". Undo it with SELECT undistribute_table('"
                + step.table
                + "') and run this again; nothing was changed."
            )
    return Plan(todo=todo, done=done)


def distribute_tables(
    *, shard_count: int | None, say: Callable[[str], None] = lambda line: None
) -> Plan:
    """Lay the schema out on the coordinator; idempotent (what is done already is skipped).

    Each table is its own transaction, so an interrupted run keeps what it finished and the
    next run carries on from there. Existing rows are copied into the shards by Citus.
    """
    check_coordinator()
    if shard_count is None:
        shard_count = SHARDS_PER_WORKER * citus.worker_count()
    todo = plan(citus_present=True)
    for step in todo.todo:
        with transaction.atomic():
            if step.action == "reference":
                citus.create_reference_table(step.table)
            elif step.action == "function":
                assert step.column is not None
                citus.create_distributed_function(step.table, step.column, colocate_with=ANCHOR)
            else:
                assert step.column is not None
                citus.create_distributed_table(
                    step.table,
                    step.column,
                    colocate_with=None if step.table == ANCHOR else ANCHOR,
                    shard_count=shard_count,
                )
        say(step.describe(shard_count))
    citus.forget_layout()
    return todo
