"""Step planning: which occurrences of a definition fall in a window, as rows to write.

Enrolling writes steps only up to ``now + horizon`` (48 h by default), so it costs the same
for a 7-day and an 84-day journey; the scheduler's refill (``jobs.materialise_due``) keeps
every step due within the horizon written. Horizons count from a step's ``plan_at``: its
due time less its behaviour's lead, the time of its earliest message. So "your appointment
is in 3 days" is planned a horizon before it goes out, not a horizon before the appointment.

A step is written with its companion rows (the messages; see ``journeys.hooks``) in one
transaction. Plain tuples, not table objects: building objects per row costs more than the
insert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from piccolo.engine.postgres import PostgresEngine

from core.db import copy_rows, engine, insert_rows
from core.ids import new_id
from journeys import hooks
from journeys.definition import JourneyDefinition
from journeys.durations import Duration
from journeys.schedule import grace_of, lead_of, occurrences, shift
from settings import get_settings

OPEN = "pending"

STEP_COLUMNS = (
    "id", "organization", "enrollment", "customer", "behaviour", "occurrence",
    "due_at", "grace_until", "confirmable", "status", "created_at",
)  # fmt: skip
PG_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "varchar", "int",
    "timestamptz", "timestamptz", "bool", "varchar", "timestamptz",
)  # fmt: skip
StepRow = tuple[UUID, UUID, UUID, UUID, str, int, datetime, datetime, bool, str, datetime]
DUE_AT = STEP_COLUMNS.index("due_at")


def horizon() -> timedelta:
    """How far ahead steps are written."""
    return timedelta(hours=get_settings().scheduler.step_horizon_hours)


@dataclass(frozen=True)
class StepFacts:
    """What writing a step looks up per behaviour, worked out once per definition by the
    caller: grace, whether confirmation is expected, the companion's plan (the messages),
    and the lead (how long before its due time the step must be planned, for its earliest
    message)."""

    behaviours: dict[str, tuple[Duration, bool, Any]]
    leads: dict[str, timedelta]
    companion: hooks.StepCompanion | None  # None: no behaviour has messages


def step_facts(definition: JourneyDefinition) -> StepFacts:
    """The :class:`StepFacts` of a definition."""
    companion = hooks.companion() if any(b.nudges for b in definition.behaviours) else None
    return StepFacts(
        {
            b.key: (
                grace_of(b),
                b.confirm is not None,
                companion.prepare(b) if companion is not None and b.nudges else None,
            )
            for b in definition.behaviours
        },
        {b.key: lead_of(b) for b in definition.behaviours},
        companion,
    )


@dataclass
class Planned:
    """Rows to write: steps and their messages (several enrollments' in a batch)."""

    steps: list[StepRow] = field(default_factory=list)
    nudges: list[tuple[Any, ...]] = field(default_factory=list)
    steps_skipped: int = 0
    nudges_skipped: int = 0


def plan(
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
    ``plan_at``), and their messages, to ``out``; returns the ``plan_at`` of the first
    occurrence at or after the window's end (None: no more). Steps due before ``due_from``
    are left out, and so are messages due before ``now``.
    """
    organization, enrollment_id, customer = ids
    start, end = window
    companion = facts.companion
    for plan_at, due, key, index in occurrences(
        definition, anchors, tz, start=start, leads=facts.leads
    ):
        if plan_at >= end:
            return plan_at
        if due_from is not None and due < due_from:
            out.steps_skipped += 1
            continue
        grace, confirmable, prepared = facts.behaviours[key]
        step_id = new_id()
        until = shift(due, 1, grace, tz)
        out.steps.append(
            (
                step_id, organization, enrollment_id, customer, key, index, due,
                until, confirmable, OPEN, now,
            )
        )  # fmt: skip
        if prepared and companion is not None:
            step_ids = (organization, enrollment_id, customer, step_id)
            out.nudges_skipped += companion.plan(
                out.nudges, step_ids, due, prepared, tz, now, holdout
            )
    return None


def horizon_after(end: datetime, upcoming: datetime | None, ends_at: datetime | None) -> datetime:
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


async def write(planned: Planned, exclusive: bool) -> int:
    """Write planned steps and messages; returns how many steps were new.

    ``exclusive``: the caller's locks rule out existing rows, so PostgreSQL takes them by
    COPY. Otherwise a step that already exists is skipped, and so are the messages planned
    for the copy of it that was not written (their step ids are unknown to the database).
    """
    companion = hooks.companion() if planned.nudges else None
    if exclusive and isinstance(engine(), PostgresEngine):
        await copy_rows("step", STEP_COLUMNS, PG_TYPES, planned.steps)
        if companion is not None:
            await copy_rows(companion.table, companion.columns, companion.pg_types, planned.nudges)
        return len(planned.steps)
    written = await _insert_steps(planned.steps)
    if companion is not None:
        at = companion.step_column
        kept = [n for n in planned.nudges if str(n[at]) in written]
        await insert_rows(companion.table, companion.columns, companion.pg_types, kept)
    return len(written)
