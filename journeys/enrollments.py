"""Enrollments and steps: pin a version, materialise steps on a rolling horizon, detect misses.

Enrolling writes steps only up to ``now + horizon`` (48 h by default), so it costs the same
for a 7-day and an 84-day journey. The scheduler's :func:`materialise_due` job keeps every
step due within the horizon written: an enrollment with less than a horizon left gets the
steps up to three horizons ahead, so it is touched once per two horizons, not once per
step. Each enrollment has a written-up-to mark; claims lock the enrollments they refill,
and a unique index on (enrollment, behaviour, occurrence) backs this up, so two schedulers
or a retry never create a step twice.

A step is written with its messages (the nudge outbox rows; none for a holdout), in one
transaction. Horizons count from a step's ``plan_at``: its due time less its behaviour's
lead, the time of its earliest message. So "your appointment is in 3 days" is planned a
horizon before it goes out, not a horizon before the appointment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from asyncpg import UniqueViolationError
from piccolo.engine.postgres import PostgresEngine

from api.db import (
    LoopPoolPostgresEngine,
    copy_rows,
    engine,
    insert_rows,
    native_sql,
    new_id,
    run_sql,
    write_transaction,
)
from api.domain import FieldError
from api.tenancy import Tenant
from coaching import nudges
from coaching.nudges import NUDGE_COLUMNS, NudgePlan, NudgeRow
from journeys.definition import JourneyDefinition
from journeys.durations import Duration
from journeys.errors import (
    CustomerNotFound,
    EnrollmentInvalid,
    EnrollmentNotFound,
    StepClosed,
    StepNotFound,
)
from journeys.schedule import grace_of, last_due, lead_of, occurrences, shift
from journeys.services import (
    current_definition,
    definitions_by_version,
    parse_anchors,
    parse_timezone,
)
from journeys.slips import record_missed_steps
from journeys.tables import Customer, Enrollment, Step
from settings import get_settings

log = logging.getLogger("slipguard.enrollments")
_random = secrets.SystemRandom()
OPEN = "pending"
BATCH = 2000
PARALLEL_BATCHES = 2
REFILL_HORIZONS = 3  # 2 was 10 % slower with messages planned (docs/benchmarks.md)


def horizon() -> timedelta:
    """How far ahead steps are written."""
    return timedelta(hours=get_settings().scheduler.step_horizon_hours)


@dataclass(frozen=True)
class Enrolled:
    """The result of an enrollment."""

    enrollment: Enrollment
    steps_created: int
    past_steps_skipped: int
    past_steps_backfilled: int
    nudges_planned: int
    past_nudges_skipped: int


STEP_COLUMNS = (
    "id", "organization", "enrollment", "customer", "behaviour", "occurrence",
    "due_at", "grace_until", "confirmable", "status", "created_at",
)  # fmt: skip
PG_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "varchar", "int",
    "timestamptz", "timestamptz", "bool", "varchar", "timestamptz",
)  # fmt: skip
StepRow = tuple[UUID, UUID, UUID, UUID, str, int, datetime, datetime, bool, str, datetime]
_DUE_AT = STEP_COLUMNS.index("due_at")
_STEP_OF_NUDGE = NUDGE_COLUMNS.index("step")


@dataclass(frozen=True)
class StepFacts:
    """What writing a step looks up per behaviour, worked out once per definition by the
    caller: grace, whether confirmation is expected, the messages, and the lead (how long
    before its due time the step must be planned, for its earliest message)."""

    behaviours: dict[str, tuple[Duration, bool, tuple[NudgePlan, ...]]]
    leads: dict[str, timedelta]


def step_facts(definition: JourneyDefinition) -> StepFacts:
    """The :class:`StepFacts` of a definition."""
    behaviours = definition.behaviours
    return StepFacts(
        {
            b.key: (grace_of(b), b.confirm is not None, nudges.plans_of(b))
            for b in definition.behaviours
        },
        {b.key: lead_of(b) for b in behaviours},
    )


@dataclass
class Planned:
    """Rows to write: steps and their messages (several enrollments' in a batch)."""

    steps: list[StepRow] = field(default_factory=list)
    nudges: list[NudgeRow] = field(default_factory=list)
    steps_skipped: int = 0
    nudges_skipped: int = 0


def _plan(
    out: Planned,
    ids: tuple[UUID, UUID, UUID],
    definition: JourneyDefinition,
    facts: StepFacts,
    window: tuple[datetime | None, datetime],
    anchors: dict[str, datetime],
    tz: ZoneInfo,
    holdout: bool,
    now: datetime,
    due_from: datetime | None = None,
) -> datetime | None:
    """Add the steps of (organisation, enrollment, customer) planned in ``window`` (by
    ``plan_at``), and their messages unless ``holdout``, to ``out``; returns the ``plan_at``
    of the first occurrence at or after the window's end (None: no more). Steps due before
    ``due_from`` are left out, and so are messages due before ``now``.

    Plain tuples, not table objects: building objects per row costs more than the insert.
    """
    organization, enrollment_id, customer = ids
    start, end = window
    for plan_at, due, key, index in occurrences(
        definition, anchors, tz, start=start, leads=facts.leads
    ):
        if plan_at >= end:
            return plan_at
        if due_from is not None and due < due_from:
            out.steps_skipped += 1
            continue
        grace, confirmable, plans = facts.behaviours[key]
        step_id = new_id()
        until = shift(due, 1, grace, tz)
        out.steps.append(
            (
                step_id, organization, enrollment_id, customer, key, index, due,
                until, confirmable, OPEN, now,
            )
        )  # fmt: skip
        if plans and not holdout:
            out.nudges_skipped += nudges.plan_step(
                out.nudges, (organization, enrollment_id, step_id), due, plans, tz, now, now
            )
    return None


def _horizon_after(end: datetime, upcoming: datetime | None, ends_at: datetime | None) -> datetime:
    """Where the written-up-to mark can go: up to the next step (nothing is due in between,
    so quiet weeks cost no refills), or past the end when no step is left (which takes the
    enrollment out of the refill query)."""
    if upcoming is not None:
        return max(end, upcoming)
    return max(end, (ends_at or end) + timedelta(microseconds=1))


async def _insert_steps(rows: list[StepRow]) -> set[str]:
    """Insert steps, skipping any that exist (the unique occurrence index makes this safe
    for retries and concurrent schedulers); returns the ids of the new ones, as text."""
    new = await insert_rows("step", STEP_COLUMNS, PG_TYPES, rows, returning="id")
    return {str(step_id) for step_id in new}  # SQLite hands ids back as text


async def _write(planned: Planned, exclusive: bool) -> int:
    """Write planned steps and messages; returns how many steps were new.

    ``exclusive``: the caller's locks rule out existing rows, so PostgreSQL takes them by
    COPY. Otherwise a step that already exists is skipped, and so are the messages planned
    for the copy of it that was not written (their step ids are unknown to the database).
    """
    if exclusive and isinstance(engine(), PostgresEngine):
        await copy_rows("step", STEP_COLUMNS, PG_TYPES, planned.steps)
        await copy_rows("nudge", NUDGE_COLUMNS, nudges.PG_TYPES, planned.nudges)
        return len(planned.steps)
    written = await _insert_steps(planned.steps)
    kept = [n for n in planned.nudges if str(n[_STEP_OF_NUDGE]) in written]
    await insert_rows("nudge", NUDGE_COLUMNS, nudges.PG_TYPES, kept)
    return len(written)


async def enroll(
    tenant: Tenant,
    customer_id: UUID,
    journey_key: str,
    anchors_in: dict[str, str],
    holdout: bool | None = None,
    backfill: bool = False,
    now: datetime | None = None,
) -> Enrolled:
    """Enroll a customer on a journey's current version and write the first horizon of steps.

    Steps due before now are skipped (and counted) unless ``backfill`` is set; backfilled
    steps are created pending and become missed once their grace has passed.
    """
    now = now or datetime.now(UTC)
    customer = await tenant.get(Customer, customer_id, CustomerNotFound, "customer")
    if customer.erased_at is not None:
        raise EnrollmentInvalid(
            "customer was erased", [FieldError("customer_id", "this customer's data was erased")]
        )
    journey, version, definition = await current_definition(tenant, journey_key)
    anchors = parse_anchors(definition, anchors_in, now)
    tz = parse_timezone(customer.timezone, "customer.timezone")
    if holdout is None:
        holdout = definition.holdout > 0 and _random.random() < definition.holdout
    end = now + horizon()
    enrollment = tenant.new(
        Enrollment,
        customer=customer.id,
        journey=journey.id,
        journey_version=version.id,
        anchors=json.dumps({k: v.isoformat() for k, v in anchors.items()}),
        timezone=customer.timezone,
        holdout=holdout,
        backfill=backfill,
        ends_at=last_due(definition, anchors, tz),
    )
    ids = (enrollment.organization, enrollment.id, enrollment.customer)
    planned = Planned()
    upcoming = _plan(
        planned, ids, definition, step_facts(definition), (None, end), anchors, tz,
        holdout, now, due_from=None if backfill else now,
    )  # fmt: skip
    enrollment.materialised_until = _horizon_after(end, upcoming, enrollment.ends_at)
    # Every step already due was walked (its plan_at is before ``end``): skipped, or kept.
    past = sum(s[_DUE_AT] < now for s in planned.steps) if backfill else planned.steps_skipped
    async with write_transaction():
        await enrollment.save()
        await _write(planned, exclusive=False)
    return Enrolled(
        enrollment,
        steps_created=len(planned.steps),
        past_steps_skipped=0 if backfill else past,
        past_steps_backfilled=past if backfill else 0,
        nudges_planned=len(planned.nudges),
        past_nudges_skipped=planned.nudges_skipped,
    )


async def get_enrollment(tenant: Tenant, enrollment_id: UUID) -> Enrollment:
    """One enrollment of this organisation."""
    return await tenant.get(Enrollment, enrollment_id, EnrollmentNotFound, "enrollment")


async def cancel_enrollment(
    tenant: Tenant, enrollment_id: UUID, now: datetime | None = None
) -> Enrollment:
    """Stop an enrollment: its pending steps and the messages not yet sent are cancelled
    (idempotent)."""
    now = now or datetime.now(UTC)
    async with write_transaction():
        enrollment = await get_enrollment(tenant, enrollment_id)
        if enrollment.status != "cancelled":
            await tenant.update(
                Enrollment, {Enrollment.status: "cancelled", Enrollment.cancelled_at: now}
            ).where(Enrollment.id == enrollment_id)
            await tenant.update(Step, {Step.status: "cancelled"}).where(
                (Step.enrollment == enrollment_id) & (Step.status == OPEN)
            )
            await nudges.cancel_for_enrollments(
                tenant, [enrollment_id], "enrollment_cancelled", now
            )
            enrollment.status, enrollment.cancelled_at = "cancelled", now
    return enrollment


async def steps_of(tenant: Tenant, enrollment_id: UUID) -> list[Step]:
    """An enrollment's materialised steps in due order."""
    await get_enrollment(tenant, enrollment_id)
    return await tenant.objects(Step).where(Step.enrollment == enrollment_id).order_by(Step.due_at)


async def get_step(tenant: Tenant, step_id: UUID) -> Step:
    """One step of this organisation."""
    return await tenant.get(Step, step_id, StepNotFound, "step")


async def complete_step(
    tenant: Tenant, step_id: UUID, via: str, now: datetime | None = None
) -> Step:
    """Mark a step done (also late, after it was missed); its ``unless: confirmed`` messages
    are suppressed. Completing twice changes nothing."""
    now = now or datetime.now(UTC)
    async with write_transaction():
        step = await get_step(tenant, step_id)
        if step.status in ("cancelled", "excused"):
            raise StepClosed(f"step {step_id} is {step.status} and cannot be completed")
        if step.status != "done":
            await tenant.update(
                Step, {Step.status: "done", Step.completed_at: now, Step.completed_via: via}
            ).where((Step.id == step_id) & (Step.status.is_in([OPEN, "missed"])))
            await nudges.suppress_confirmed(tenant, step_id, now)
            step.status, step.completed_at, step.completed_via = "done", now, via
    return step


# --- scheduler jobs ------------------------------------------------------------------------


_DUE_COLUMNS = (
    "id, organization, customer, journey_version, anchors, timezone, holdout, "
    "materialised_until, ends_at"
)
# Claimed row by row: a second scheduler skips what the first holds instead of waiting.
# NO KEY UPDATE (the job changes no key column) still lets slips and steps that reference a
# claimed enrollment be written meanwhile: their foreign-key checks take KEY SHARE locks,
# which FOR UPDATE would make wait for the whole batch.
_DUE_WHERE = (
    "WHERE status = 'active' AND materialised_until < {} "
    "AND (ends_at IS NULL OR materialised_until <= ends_at) "
    "ORDER BY materialised_until LIMIT {}"
)  # the conditions of the partial index enrollment_refill, so both databases use it
_DUE_PG = native_sql(
    f"SELECT {_DUE_COLUMNS} FROM enrollment {_DUE_WHERE} FOR NO KEY UPDATE SKIP LOCKED"
)
_DUE_SQLITE = f"SELECT {_DUE_COLUMNS} FROM enrollment {_DUE_WHERE}"


async def _claim_due(before: datetime, limit: int) -> list[Any]:
    """Active enrollments whose written-up-to mark is before ``before``, oldest mark first,
    locked until the transaction ends (SQLite: its write lock already excludes others)."""
    eng = engine()
    if isinstance(eng, LoopPoolPostgresEngine):
        return await eng.fetch(_DUE_PG, before, limit)
    return await run_sql(_DUE_SQLITE, before, limit)


async def materialise_due(now: datetime | None = None, limit: int = BATCH) -> int:
    """Move the horizon of enrollments that need it; returns the number of steps written.
    ``limit`` enrollments per batch (PostgreSQL runs ``PARALLEL_BATCHES`` batches per call).

    Claiming, writing and moving the marks happen in one transaction, so a crash writes
    nothing and a retry starts where the marks are. Because the claimed enrollments are
    locked and their steps start at their mark, no step can exist yet, and PostgreSQL gets
    the rows by COPY (the unique index still guards: on a conflict the batch is redone with
    ``ON CONFLICT DO NOTHING``).
    """
    now = now or datetime.now(UTC)

    async def one_batch() -> int:
        try:
            return await _materialise(now, limit, exclusive=True)
        except UniqueViolationError:
            return await _materialise(now, limit, exclusive=False)

    if not isinstance(engine(), PostgresEngine):
        return await one_batch()
    # Two batches at once on PostgreSQL: SKIP LOCKED gives them disjoint enrollments, and
    # one batch's schedule maths runs while the database writes the other's rows. A task
    # group cancels the other batch (rolling it back) if one fails.
    async with asyncio.TaskGroup() as group:
        batches = [group.create_task(one_batch()) for _ in range(PARALLEL_BATCHES)]
    return sum(b.result() for b in batches)


async def _materialise(now: datetime, limit: int, exclusive: bool) -> int:
    # An enrollment is refilled once less than a horizon of steps is left, and then gets
    # steps up to REFILL_HORIZONS ahead: after a run that clears what is due, every step due
    # within the horizon exists, and the fixed cost of a claim (finding, locking and moving
    # the mark of an enrollment) is spread over several days of a daily schedule.
    target = now + REFILL_HORIZONS * horizon()
    async with write_transaction():
        due = await _claim_due(now + horizon(), limit)
        if not due:
            return 0
        definitions = await definitions_by_version({e["journey_version"] for e in due})
        facts = {version: step_facts(d) for version, d in definitions.items()}
        planned = Planned()
        moves: list[tuple[UUID, datetime]] = []
        for e in due:
            anchors = {k: datetime.fromisoformat(v) for k, v in json.loads(e["anchors"]).items()}
            version = e["journey_version"]
            upcoming = _plan(
                planned, (e["organization"], e["id"], e["customer"]), definitions[version],
                facts[version], (e["materialised_until"], target), anchors,
                _zone(e["timezone"]), e["holdout"], now,
            )  # fmt: skip
            moves.append((e["id"], _horizon_after(target, upcoming, e["ends_at"])))
        stored = await _write(planned, exclusive)
        await _move_horizons(moves)
    if planned.nudges_skipped:
        log.warning(
            "messages planned too late were skipped (is the scheduler behind?)",
            extra={"skipped": planned.nudges_skipped},
        )
    return stored


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


async def mark_missed(now: datetime | None = None, limit: int = 5000) -> list[UUID]:
    """Pending steps past due + grace become missed (confirmable) or excused (not confirmable).

    Returns the ids of newly missed steps, each exactly once even when several schedulers
    race: the update is conditional on the step still being pending.
    """
    now = now or datetime.now(UTC)
    expired = (
        await Step.select(Step.id)
        .where((Step.status == OPEN) & (Step.grace_until < now))
        .limit(limit)
    )
    if not expired:
        return []
    ids = [row["id"] for row in expired]
    async with write_transaction():
        missed = (
            await Step.update({Step.status: "missed"})
            .where(
                Step.id.is_in(ids) & (Step.status == OPEN) & (Step.confirmable == True)  # noqa: E712
            )
            .returning(Step.id)
        )
        await Step.update(
            {Step.status: "excused", Step.completed_via: "no_confirmation_expected"}
        ).where(Step.id.is_in(ids) & (Step.status == OPEN) & (Step.confirmable == False))  # noqa: E712
        # In the same transaction: a step is never missed without its system slip.
        await record_missed_steps([row["id"] for row in missed])
    return [row["id"] for row in missed]


async def labels(tenant: Tenant, enrollments: list[Enrollment]) -> dict[UUID, tuple[str, int]]:
    """Journey key and pinned version number per enrollment id (one query)."""
    if not enrollments:
        return {}
    rows = await tenant.select(
        Enrollment,
        Enrollment.id,
        Enrollment.journey.key.as_alias("journey_key"),
        Enrollment.journey_version.version.as_alias("version"),
    ).where(Enrollment.id.is_in([e.id for e in enrollments]))
    return {row["id"]: (row["journey_key"], row["version"]) for row in rows}


async def list_enrollments(
    tenant: Tenant,
    customer_id: UUID | None = None,
    journey_key: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Enrollment], str | None]:
    """Enrollments, oldest first, filtered; returns the page and the next cursor."""
    from api.pagination import keyset, page

    query = tenant.objects(Enrollment)
    if customer_id is not None:
        query = query.where(Enrollment.customer == customer_id)
    if journey_key is not None:
        query = query.where(Enrollment.journey.key == journey_key)
    if status is not None:
        query = query.where(Enrollment.status == status)
    rows = await keyset(query, Enrollment, cursor, limit)
    return page(rows, limit)
