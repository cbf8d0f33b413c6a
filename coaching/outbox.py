"""The nudge outbox: what a behaviour's ``nudges`` list becomes for one step, and what
happens to planned messages when their step or enrollment changes.

Installed as the journeys' step companion (``journeys.hooks``) when this module is
imported: planning runs inside the journeys' step writes (enrollment and the rolling
horizon), in the same transaction, so a step never exists without its messages (a
holdout enrollment's are recorded as suppressed). Sending is the worker's business; rows
here only move from ``scheduled`` (or ``queued``) to ``cancelled`` or ``suppressed``, with a reason.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coaching.tables import Nudge
from core import clock
from core.db import run_sql
from core.ids import new_id
from core.tenancy import Tenant
from journeys import hooks
from journeys.definition import Behaviour
from journeys.durations import Offset, parse_offset
from journeys.schedule import apply_offset
from journeys.tables import Step

SCHEDULED = "scheduled"
# Not yet handed to a channel: these can still be stopped.
STOPPABLE = ("scheduled", "queued")

NUDGE_COLUMNS = (
    "id", "organization", "enrollment", "customer", "step", "position", "dedupe_key", "kind",
    "channel", "purpose", "template", "unless_confirmed", "due_at", "send_after", "status",
    "reason", "created_at", "updated_at",
)  # fmt: skip
PG_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "uuid", "int", "varchar", "varchar",
    "varchar", "varchar", "varchar", "bool", "timestamptz", "timestamptz", "varchar",
    "varchar", "timestamptz", "timestamptz",
)  # fmt: skip
NudgeRow = tuple[Any, ...]
# Reminders and follow-ups of a journey help the customer do their part: informational.
STEP_PURPOSE = "informational"
# Templates of messages written with their text (the follow-up policy's, coaching.followups,
# and advisories, coaching.advisories): the worker sends the stored body instead of
# rendering a journey template.
PLANNED_PREFIX = "follow-up-"
ADVISORY_TEMPLATE = "advisory"
# What a customer asks for on their page (coaching.links, coaching.selfservice): a fresh
# link, a code that proves a new phone number is theirs.
LINK_TEMPLATE = "customer-link"
VERIFY_TEMPLATE = "verify-phone"
WRITTEN_TEMPLATES = (PLANNED_PREFIX, ADVISORY_TEMPLATE, LINK_TEMPLATE, VERIFY_TEMPLATE)


@dataclass(frozen=True)
class NudgePlan:
    """One entry of a behaviour's ``nudges`` list, parsed once per definition."""

    position: int
    offset: Offset
    kind: str
    channel: str
    template: str
    unless_confirmed: bool


def plans_of(b: Behaviour) -> tuple[NudgePlan, ...]:
    """The behaviour's nudges: those after the due time are follow-ups, the rest reminders."""
    out = []
    for position, nudge in enumerate(b.nudges):
        offset = parse_offset(nudge.at)
        d = offset.duration
        after_due = offset.sign > 0 and d is not None and d.amount > 0
        out.append(
            NudgePlan(
                position,
                offset,
                "follow_up" if after_due else "reminder",
                nudge.channel,
                nudge.template,
                nudge.unless == "confirmed",
            )
        )
    return tuple(out)


def step_dedupe_key(step: UUID, position: int) -> str:
    """The cause of a step's message: its step and its place in the behaviour's list."""
    return f"step:{step}:{position}"


def plan_step(
    out: list[NudgeRow],
    ids: tuple[UUID, UUID, UUID, UUID],
    due: datetime,
    plans: tuple[NudgePlan, ...],
    tz: ZoneInfo,
    not_before: datetime,
    created: datetime,
    holdout: bool = False,
) -> int:
    """Append the messages of one step (``ids``: organisation, enrollment, customer, step)
    to ``out``; returns how many were skipped because their time had already passed.

    A message is never planned in the past: "your appointment is in 3 days" the day before
    is wrong, and a late "time for your tablet" invites a double dose. A holdout
    enrollment's messages are written as ``suppressed`` with reason ``holdout``: nothing
    is sent, and the dashboards can count what the comparison group would have received.
    """
    skipped = 0
    organization, enrollment, customer, step = ids
    status, reason = ("suppressed", "holdout") if holdout else (SCHEDULED, None)
    for p in plans:
        at = apply_offset(p.offset, due, tz)
        if at < not_before:
            skipped += 1
            continue
        out.append(
            (
                new_id(), organization, enrollment, customer, step, p.position,
                step_dedupe_key(step, p.position), p.kind, p.channel, STEP_PURPOSE, p.template,
                p.unless_confirmed, at, at, status, reason, created, created,
            )
        )  # fmt: skip
    return skipped


async def plan_message(
    tenant: Tenant,
    *,
    customer: UUID,
    dedupe_key: str,
    kind: str,
    channel: str,
    template: str,
    due_at: datetime,
    step: UUID | None = None,
    enrollment: UUID | None = None,
    purpose: str = STEP_PURPOSE,
    critical: bool = False,
    body: str | None = None,
    recipient: str | None = None,
) -> UUID | None:
    """Write one message no behaviour's ``nudges`` list plans (a "why did you miss?"
    question, a recovery message), once per cause: returns its id, or None when a message
    with that ``dedupe_key`` already exists."""
    now = clock.now()
    row = tenant.new(
        Nudge,
        id=new_id(),
        enrollment=enrollment,
        customer=customer,
        step=step,
        position=0,
        dedupe_key=dedupe_key,
        kind=kind,
        channel=channel,
        purpose=purpose,
        critical=critical,
        template=template,
        due_at=due_at,
        send_after=due_at,
        status=SCHEDULED,
        body=body,
        recipient=recipient,
        created_at=now,
        updated_at=now,
    )
    written = await Nudge.insert(row).on_conflict(action="DO NOTHING").returning(Nudge.id)
    return row.id if written else None


def _of_enrollments(tenant: Tenant, ids: list[UUID]) -> Any:
    """Messages of these enrollments, found through their steps (the indexes on the step's
    enrollment and on the message's step serve it; ``nudge.enrollment`` has none)."""
    return Nudge.step.is_in(tenant.select(Step, Step.id).where(Step.enrollment.is_in(ids)))


async def cancel_for_enrollments(
    tenant: Tenant, enrollment_ids: Iterable[UUID], reason: str, now: datetime | None = None
) -> int:
    """Cancel the enrollments' messages that have not gone out yet; returns how many."""
    ids = list(enrollment_ids)
    if not ids:
        return 0
    rows = (
        await tenant.update(
            Nudge,
            {
                Nudge.status: "cancelled",
                Nudge.reason: reason,
                Nudge.updated_at: now or clock.now(),
            },
        )
        .where(_of_enrollments(tenant, ids) & Nudge.status.is_in(list(STOPPABLE)))
        .returning(Nudge.id)
    )
    return len(rows)


async def cancel_for_customer(tenant: Tenant, customer_id: UUID, now: datetime) -> int:
    """Cancel the customer's messages outside any enrollment (advisories, notices) that
    have not gone out yet (erasure); returns how many."""
    rows = (
        await tenant.update(
            Nudge,
            {Nudge.status: "cancelled", Nudge.reason: "customer_erased", Nudge.updated_at: now},
        )
        .where(
            (Nudge.customer == customer_id)
            & Nudge.enrollment.is_null()
            & Nudge.status.is_in(list(STOPPABLE))
        )
        .returning(Nudge.id)
    )
    return len(rows)


async def written_since(tenant: Tenant, customer: UUID, template: str, since: datetime) -> int:
    """How many messages of ``template`` were written for the customer since ``since``
    (the limits on what a customer may ask for from their page)."""
    rows = await tenant.select(Nudge, Nudge.id).where(
        (Nudge.customer == customer) & (Nudge.template == template) & (Nudge.created_at > since)
    )
    return len(rows)


async def cancel_for_step(tenant: Tenant, step_id: UUID, reason: str, now: datetime) -> int:
    """Cancel a step's messages that have not gone out yet (the customer told us they
    cannot do it: reminding them again would only nag)."""
    rows = (
        await tenant.update(
            Nudge, {Nudge.status: "cancelled", Nudge.reason: reason, Nudge.updated_at: now}
        )
        .where((Nudge.step == step_id) & Nudge.status.is_in(list(STOPPABLE)))
        .returning(Nudge.id)
    )
    return len(rows)


async def suppress_confirmed(tenant: Tenant, step_id: UUID, now: datetime | None = None) -> int:
    """A confirmed step's ``unless: confirmed`` messages are no longer needed."""
    rows = (
        await tenant.update(
            Nudge,
            {
                Nudge.status: "suppressed",
                Nudge.reason: "confirmed",
                Nudge.updated_at: now or clock.now(),
            },
        )
        .where(
            (Nudge.step == step_id)
            & (Nudge.unless_confirmed == True)  # noqa: E712
            & Nudge.status.is_in(list(STOPPABLE))
        )
        .returning(Nudge.id)
    )
    return len(rows)


async def forget_contents(tenant: Tenant, customer_id: UUID, now: datetime) -> int:
    """Blank the text and address of every message of the customer (erasure): the
    rows stay for counts, with nothing left that says who or what."""
    rows = (
        await tenant.update(Nudge, {Nudge.body: None, Nudge.recipient: None, Nudge.updated_at: now})
        .where(
            (Nudge.customer == customer_id)
            & (Nudge.body.is_not_null() | Nudge.recipient.is_not_null())
        )
        .returning(Nudge.id)
    )
    return len(rows)


NUDGE_FIELDS = (
    Nudge.id, Nudge.enrollment, Nudge.step, Nudge.customer, Nudge.position, Nudge.kind,
    Nudge.channel, Nudge.purpose, Nudge.critical, Nudge.template, Nudge.unless_confirmed,
    Nudge.due_at, Nudge.send_after, Nudge.status, Nudge.reason, Nudge.attempts,
    Nudge.sent_at, Nudge.provider, Nudge.provider_id, Nudge.error_code, Nudge.locale,
    Nudge.recipient, Nudge.body, Nudge.created_at, Nudge.updated_at,
)  # fmt: skip


async def nudges_of(tenant: Tenant, enrollment_ids: Iterable[UUID]) -> list[dict[str, Any]]:
    """The enrollments' messages, in time order (plain rows)."""
    ids = list(enrollment_ids)
    if not ids:
        return []
    return await (
        tenant.select(Nudge, *NUDGE_FIELDS)
        .where(_of_enrollments(tenant, ids))
        .order_by(Nudge.due_at)
        .order_by(Nudge.position)
    )


class NudgeCompanion:
    """The outbox as the journeys' step companion (see ``journeys.hooks``)."""

    table = "nudge"
    columns: tuple[str, ...] = NUDGE_COLUMNS
    pg_types: tuple[str, ...] = PG_TYPES
    step_column = NUDGE_COLUMNS.index("step")

    def prepare(self, behaviour: Behaviour) -> tuple[NudgePlan, ...]:
        return plans_of(behaviour)

    def plan(
        self,
        out: list[Any],
        ids: tuple[UUID, UUID, UUID, UUID],
        due: datetime,
        prepared: tuple[NudgePlan, ...],
        tz: ZoneInfo,
        now: datetime,
        holdout: bool,
    ) -> int:
        return plan_step(out, ids, due, prepared, tz, now, now, holdout)

    async def enrollments_stopped(
        self, tenant: Tenant, enrollment_ids: list[UUID], reason: str, now: datetime
    ) -> int:
        return await cancel_for_enrollments(tenant, enrollment_ids, reason, now)

    async def step_completed(self, tenant: Tenant, step_id: UUID, now: datetime) -> int:
        return await suppress_confirmed(tenant, step_id, now)


hooks.install(NudgeCompanion())


FINISHED = ("sent", "delivered", "failed", "suppressed", "cancelled")


async def forget_finished_before(tenant: Tenant, before: datetime, limit: int) -> int:
    """Retention: blank the text and address of at most ``limit`` of the organisation's
    messages that finished (sent, delivered, failed, suppressed, cancelled) before
    ``before``; returns how many. Messages still waiting keep theirs: they are needed."""
    finished = ", ".join(f"'{s}'" for s in FINISHED)
    rows = await run_sql(
        "UPDATE nudge SET body = NULL, recipient = NULL WHERE id IN (SELECT id FROM nudge "
        "WHERE organization = {} AND created_at < {} AND (body IS NOT NULL OR recipient IS "
        f"NOT NULL) AND status IN ({finished}) AND COALESCE(sent_at, updated_at) < {{}} "
        "ORDER BY created_at LIMIT {}) RETURNING id",
        tenant.org_id,
        before,
        before,
        limit,
    )
    return len(rows)
