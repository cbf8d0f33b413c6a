"""The scheduler's work on enrollments: keep the horizon of steps written, find overdue steps.

:func:`materialise_due` keeps every step due within the horizon written: an enrollment with
less than a horizon left gets the steps up to three horizons ahead, so it is touched once
per two horizons, not once per step. Each enrollment has a written-up-to mark; claims lock
the enrollments they refill, and a unique index on (enrollment, behaviour, occurrence)
backs this up, so two schedulers or a retry never create a step twice.

Both jobs work across organisations in batches, but one organisation's bad row never stops
another's work: a version whose definition cannot be decoded, or an enrollment that cannot
be planned, is set aside (``core.isolation``) and the batch goes on without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable
from datetime import datetime
from functools import lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from asyncpg import UniqueViolationError
from piccolo.engine.postgres import PostgresEngine

from core import clock
from core.db import LoopPoolPostgresEngine, engine, run_sql, write_transaction
from core.isolation import Quarantine
from core.tenancy import Tenant
from journeys.definition import JourneyDefinition
from journeys.enrollments.planning import (
    OPEN,
    Planned,
    StepFacts,
    horizon,
    horizon_after,
    plan,
    step_facts,
    write,
)
from journeys.services import definitions_by_version
from journeys.tables import Enrollment, Step

log = logging.getLogger("slipguard.enrollments")
BATCH = 2000
PARALLEL_BATCHES = 2
REFILL_HORIZONS = 3  # 2 was 10 % slower with messages planned (docs/benchmarks.md)

# Versions whose stored definition cannot be decoded, enrollments that cannot be planned.
BAD_VERSIONS: Quarantine[UUID] = Quarantine("materialise steps", "journey version")
BAD_ENROLLMENTS: Quarantine[UUID] = Quarantine("materialise steps", "enrollment")

_DUE_COLUMNS = (
    "id, organization, customer, journey_version, anchors, timezone, holdout, "
    "materialised_until, ends_at"
)
# The conditions of the partial index enrollment_refill, so both databases use it.
_DUE_WHERE = (
    "WHERE status = 'active' AND materialised_until < {} "
    "AND (ends_at IS NULL OR materialised_until <= ends_at)"
)
_DUE_ORDER = " ORDER BY materialised_until LIMIT {}"


def _claim_sql(organization: bool, skip_ids: int, skip_versions: int, postgres: bool) -> str:
    """The claim statement: optionally one organisation's, never set-aside rows.

    Claimed row by row on PostgreSQL: a second scheduler skips what the first holds instead
    of waiting. NO KEY UPDATE (the job changes no key column) still lets slips and steps
    that reference a claimed enrollment be written meanwhile: their foreign-key checks take
    KEY SHARE locks, which FOR UPDATE would make wait for the whole batch.
    """
    where = _DUE_WHERE
    if organization:
        where += " AND organization = {}"
    if skip_ids:
        where += f" AND id NOT IN ({', '.join('{}' for _ in range(skip_ids))})"
    if skip_versions:
        where += f" AND journey_version NOT IN ({', '.join('{}' for _ in range(skip_versions))})"
    sql = f"SELECT {_DUE_COLUMNS} FROM enrollment {where}{_DUE_ORDER}"
    return sql + " FOR NO KEY UPDATE SKIP LOCKED" if postgres else sql


async def _claim_due(before: datetime, limit: int, organization: UUID | None) -> list[Any]:
    """Active enrollments whose written-up-to mark is before ``before``, oldest mark first,
    locked until the transaction ends (SQLite: its write lock already excludes others)."""
    skip_ids = BAD_ENROLLMENTS.active()
    skip_versions = BAD_VERSIONS.active()
    postgres = isinstance(engine(), LoopPoolPostgresEngine)
    sql = _claim_sql(organization is not None, len(skip_ids), len(skip_versions), postgres)
    args: list[Any] = [before]
    if organization is not None:
        args.append(organization)
    return await run_sql(sql, *args, *skip_ids, *skip_versions, limit)


async def materialise_due(
    now: datetime | None = None, limit: int = BATCH, organization: UUID | None = None
) -> int:
    """Move the horizon of enrollments that need it (of one ``organization``, or all);
    returns the number of steps written. ``limit`` enrollments per batch (PostgreSQL runs
    ``PARALLEL_BATCHES`` batches per call).

    Claiming, writing and moving the marks happen in one transaction, so a crash writes
    nothing and a retry starts where the marks are. Because the claimed enrollments are
    locked and their steps start at their mark, no step can exist yet, and PostgreSQL gets
    the rows by COPY (the unique index still guards: on a conflict the batch is redone with
    ``ON CONFLICT DO NOTHING``).
    """
    now = now or clock.now()

    async def one_batch() -> int:
        try:
            return await _materialise(now, limit, True, organization)
        except UniqueViolationError:
            return await _materialise(now, limit, False, organization)

    if not isinstance(engine(), PostgresEngine):
        return await one_batch()
    # Two batches at once on PostgreSQL: SKIP LOCKED gives them disjoint enrollments, and
    # one batch's schedule maths runs while the database writes the other's rows. A task
    # group cancels the other batch (rolling it back) if one fails.
    async with asyncio.TaskGroup() as group:
        batches = [group.create_task(one_batch()) for _ in range(PARALLEL_BATCHES)]
    return sum(b.result() for b in batches)


async def _materialise(
    now: datetime, limit: int, exclusive: bool, organization: UUID | None
) -> int:
    # An enrollment is refilled once less than a horizon of steps is left, and then gets
    # steps up to REFILL_HORIZONS ahead: after a run that clears what is due, every step due
    # within the horizon exists, and the fixed cost of a claim (finding, locking and moving
    # the mark of an enrollment) is spread over several days of a daily schedule.
    target = now + REFILL_HORIZONS * horizon()
    async with write_transaction():
        due = await _claim_due(now + horizon(), limit, organization)
        if not due:
            return 0
        facts = await _facts_by_version({e["journey_version"] for e in due})
        planned = Planned()
        moves: list[tuple[UUID, datetime]] = []
        for e in due:
            found = facts.get(e["journey_version"])
            if found is None:
                continue  # its version was set aside
            planned_ok, upcoming = _plan_one(planned, e, found, target, now)
            if planned_ok:
                moves.append((e["id"], horizon_after(target, upcoming, e["ends_at"])))
        stored = await write(planned, exclusive)
        await _move_horizons(moves)
    if planned.nudges_skipped:
        log.warning(
            "messages planned too late were skipped (is the scheduler behind?)",
            extra={"skipped": planned.nudges_skipped},
        )
    return stored


def _plan_one(
    planned: Planned,
    e: Any,
    found: tuple[JourneyDefinition, StepFacts],
    target: datetime,
    now: datetime,
) -> tuple[bool, datetime | None]:
    """Plan one claimed enrollment's steps up to ``target``: whether it could be planned
    (if not, its rows are taken back out and the enrollment is set aside), and the next
    ``plan_at`` (None: no more)."""
    definition, facts = found
    steps, nudges, skipped = len(planned.steps), len(planned.nudges), planned.nudges_skipped
    try:
        anchors = {k: datetime.fromisoformat(v) for k, v in json.loads(e["anchors"]).items()}
        return True, plan(
            planned, (e["organization"], e["id"], e["customer"]), definition, facts,
            (e["materialised_until"], target), anchors, _zone(e["timezone"]), e["holdout"], now,
        )  # fmt: skip
    except Exception as exc:
        del planned.steps[steps:], planned.nudges[nudges:]
        planned.nudges_skipped = skipped
        BAD_ENROLLMENTS.add(e["id"], exc)
        return False, None


async def _facts_by_version(
    version_ids: Iterable[UUID],
) -> dict[UUID, tuple[JourneyDefinition, StepFacts]]:
    """Decoded definitions and their step facts by version; a version that cannot be
    decoded (or planned from) is set aside, and the rest are returned."""
    definitions, failed = await definitions_by_version(version_ids)
    for version, exc in failed.items():
        BAD_VERSIONS.add(version, exc)
    out: dict[UUID, tuple[JourneyDefinition, StepFacts]] = {}
    for version, definition in definitions.items():
        try:
            out[version] = (definition, step_facts(definition))
        except Exception as exc:
            BAD_VERSIONS.add(version, exc)
    return out


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


async def _move_horizons(moves: list[tuple[UUID, datetime]]) -> None:
    """Advance each enrollment's mark (never backwards: a concurrent scheduler may be ahead)."""
    if not moves:
        return
    if isinstance(engine(), PostgresEngine):
        await Enrollment.raw(
            "UPDATE enrollment AS e SET materialised_until = m.until "
            "FROM unnest({}::uuid[], {}::timestamptz[]) AS m(id, until) "
            "WHERE e.id = m.id AND e.materialised_until < m.until",
            [m[0] for m in moves],
            [m[1] for m in moves],
        )
        return
    for enrollment_id, until in moves:
        await Enrollment.update({Enrollment.materialised_until: until}).where(
            (Enrollment.id == enrollment_id) & (Enrollment.materialised_until < until)
        )


# --- overdue steps --------------------------------------------------------------------------


async def overdue_steps(
    now: datetime,
    limit: int,
    organization: UUID | None = None,
    skip_versions: Iterable[UUID] = (),
    skip_organizations: Iterable[UUID] = (),
) -> list[dict[str, Any]]:
    """Pending steps whose grace has passed, oldest grace first, with their enrollment's
    journey and version (what a system slip needs)."""
    query = Step.select(
        Step.id,
        Step.organization,
        Step.customer,
        Step.enrollment,
        Step.behaviour,
        Step.due_at,
        Step.confirmable,
        Step.enrollment.journey.as_alias("journey"),
        Step.enrollment.journey_version.as_alias("version"),
    ).where((Step.status == OPEN) & (Step.grace_until < now))
    if organization is not None:
        query = query.where(Step.organization == organization)
    versions, organizations = list(skip_versions), list(skip_organizations)
    if versions:
        query = query.where(Step.enrollment.journey_version.not_in(versions))
    if organizations:
        query = query.where(Step.organization.not_in(organizations))
    return await query.order_by(Step.grace_until).limit(limit)


async def close_overdue(tenant: Tenant, step_ids: list[UUID]) -> list[UUID]:
    """Overdue steps of one organisation become missed (confirmable) or excused (not
    confirmable), in the caller's transaction; returns the ids of the newly missed ones,
    each exactly once even when several schedulers race (the updates are conditional on
    the step still being pending)."""
    if not step_ids:
        return []
    missed = (
        await tenant.update(Step, {Step.status: "missed"})
        .where(Step.id.is_in(step_ids) & (Step.status == OPEN) & (Step.confirmable == True))  # noqa: E712
        .returning(Step.id)
    )
    await tenant.update(
        Step, {Step.status: "excused", Step.completed_via: "no_confirmation_expected"}
    ).where(Step.id.is_in(step_ids) & (Step.status == OPEN) & (Step.confirmable == False))  # noqa: E712
    return [UUID(str(row["id"])) for row in missed]
