"""Staff tasks: escalations a person must handle, due within the organisation's service
standard (``task_due_hours``; ``task_target_percent`` of tasks should close in time).

Tasks are opened by the follow-up policy (coaching.followups), each under a unique key
naming its cause, so a task is never opened twice. Staff list them (open, overdue, mine),
read the customer's recent history beside them, and close them with an outcome.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from coaching.errors import TaskClosed, TaskNotFound
from coaching.tables import Nudge, StaffTask
from core import clock
from core.db import insert_rows
from core.ids import as_uuid, new_id
from core.pagination import keyset, page
from core.tables import Organization
from core.tenancy import Tenant
from journeys.tables import Step
from slips.tables import Slip

TITLES = {
    "complaint": "Handle {who}'s complaint about {what}",
    "ability": "Help {who}: cannot {what}",
    "financial": "Help {who} with the cost of {what}",
    "escalate": "Call {who} about {what}",
    "repeated_misses": "Call {who}: {what} missed several times in a row",
}
TASK_COLUMNS = (
    "id", "organization", "customer", "slip", "enrollment", "step", "behaviour", "reason",
    "title", "detail", "dedupe_key", "status", "assigned_to", "due_at", "created_at",
    "updated_at",
)  # fmt: skip
TASK_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "uuid", "uuid", "varchar", "varchar", "varchar", "text",
    "varchar", "varchar", "uuid", "timestamptz", "timestamptz", "timestamptz",
)  # fmt: skip


def title_for(reason: str, who: str, what: str) -> str:
    """A task's one-line title, for a phone screen."""
    return TITLES.get(reason, "Follow up {who} about {what}").format(who=who, what=what.lower())[
        :200
    ]


async def open_task(
    tenant: Tenant,
    *,
    key: str,
    reason: str,
    title: str,
    due_hours: int,
    now: datetime,
    detail: str = "",
    customer: UUID | None = None,
    slip: UUID | None = None,
    enrollment: UUID | None = None,
    step: UUID | None = None,
    behaviour: str = "",
    assigned_to: UUID | None = None,
) -> UUID | None:
    """Open a task due ``due_hours`` from now, once per ``key``; returns its id, or None
    when a task with that key exists already."""
    row = (
        new_id(), tenant.org_id, customer, slip, enrollment, step, behaviour, reason, title,
        detail, key[:120], "open", assigned_to, now + timedelta(hours=due_hours), now, now,
    )  # fmt: skip
    inserted = await insert_rows("staff_task", TASK_COLUMNS, TASK_TYPES, [row], returning="id")
    return as_uuid(inserted[0]) if inserted else None


@dataclass(frozen=True)
class TaskFilter:
    """``open``: only open (True) or only closed (False); ``overdue``: open past due;
    ``mine``: assigned to this user (an API key has none, so it matches nothing)."""

    open: bool | None = None
    overdue: bool = False
    mine: UUID | None = None
    mine_only: bool = False


def _filtered(query: Any, f: TaskFilter, now: datetime) -> Any:
    if f.open is not None:
        query = query.where(StaffTask.status == ("open" if f.open else "closed"))
    if f.overdue:
        query = query.where((StaffTask.status == "open") & (StaffTask.due_at < now))
    if f.mine_only:
        query = query.where(StaffTask.assigned_to == f.mine if f.mine else StaffTask.id.is_null())
    return query


async def list_tasks(
    tenant: Tenant, f: TaskFilter, cursor: str | None, limit: int, now: datetime | None = None
) -> tuple[list[StaffTask], str | None]:
    """Tasks in the order they were opened (a stable cursor), filtered."""
    query = _filtered(tenant.objects(StaffTask), f, now or clock.now())
    rows = await keyset(query, StaffTask, cursor, limit)
    return page(list(rows), limit)


async def open_tasks(tenant: Tenant, limit: int = 100) -> list[StaffTask]:
    """Open tasks, the most overdue first (the staff page)."""
    rows = await (
        tenant.objects(StaffTask)
        .where(StaffTask.status == "open")
        .order_by(StaffTask.due_at)
        .order_by(StaffTask.id)
        .limit(limit)
    )
    return list(rows)


async def get_task(tenant: Tenant, task_id: UUID) -> StaffTask:
    """One task of the organisation."""
    return await tenant.get(StaffTask, task_id, TaskNotFound, "task")


async def close_task(
    tenant: Tenant,
    task_id: UUID,
    outcome: str,
    user: UUID | None = None,
    api_key: UUID | None = None,
    now: datetime | None = None,
) -> StaffTask:
    """Close an open task with its outcome (a closed one is a conflict: it was handled)."""
    now = now or clock.now()
    done = (
        await tenant.update(
            StaffTask,
            {
                StaffTask.status: "closed",
                StaffTask.outcome: outcome,
                StaffTask.closed_at: now,
                StaffTask.closed_by_user: user,
                StaffTask.closed_by_key: api_key,
                StaffTask.updated_at: now,
            },
        )
        .where((StaffTask.id == task_id) & (StaffTask.status == "open"))
        .returning(StaffTask.id)
    )
    task = await get_task(tenant, task_id)
    if not done:
        raise TaskClosed(f"task {task_id} is already closed")
    return task


@dataclass(frozen=True)
class History:
    """A customer's recent steps, slips and messages, newest first (beside a task)."""

    steps: list[dict[str, Any]]
    slips: list[dict[str, Any]]
    messages: list[dict[str, Any]]


async def customer_history(tenant: Tenant, customer_id: UUID, limit: int = 5) -> History:
    """What staff should see before calling the customer."""
    steps = await (
        tenant.select(Step, Step.id, Step.behaviour, Step.due_at, Step.status)
        .where((Step.customer == customer_id) & (Step.due_at <= clock.now()))
        .order_by(Step.due_at, ascending=False)
        .limit(limit)
    )
    slips = await (
        tenant.select(
            Slip,
            Slip.id,
            Slip.behaviour,
            Slip.failure_mode,
            Slip.kind,
            Slip.source,
            Slip.occurred_at,
        )
        .where((Slip.customer == customer_id) & Slip.voided_at.is_null())
        .order_by(Slip.occurred_at, ascending=False)
        .limit(limit)
    )
    messages = await (
        tenant.select(Nudge, Nudge.id, Nudge.kind, Nudge.channel, Nudge.status, Nudge.due_at)
        .where(Nudge.customer == customer_id)
        .order_by(Nudge.due_at, ascending=False)
        .limit(limit)
    )
    return History(list(steps), list(slips), list(messages))


@dataclass(frozen=True)
class StandardCounts:
    """The service standard for tasks opened in a window: how many, how many closed within
    their due time, how many open past it; ``met`` compares the share with the target."""

    opened: int
    closed_in_time: int
    closed_late: int
    open: int
    overdue: int
    due_hours: int
    target_percent: int

    @property
    def share_in_time(self) -> float | None:
        """Closed in time as a share of the tasks whose outcome is known (closed, or open
        past due); None when there are none yet."""
        known = self.closed_in_time + self.closed_late + self.overdue
        return None if known == 0 else self.closed_in_time / known

    @property
    def met(self) -> bool | None:
        share = self.share_in_time
        return None if share is None else share * 100 >= self.target_percent


async def standard_counts(
    tenant: Tenant, since: datetime, until: datetime, now: datetime | None = None
) -> StandardCounts:
    """Counts for the service-standard panel (tasks opened in [since, until))."""
    now = now or clock.now()
    org = await Organization.objects().where(Organization.id == tenant.org_id).first()
    assert org is not None
    rows = await tenant.select(
        StaffTask, StaffTask.status, StaffTask.due_at, StaffTask.closed_at
    ).where((StaffTask.created_at >= since) & (StaffTask.created_at < until))
    in_time = late = open_ = overdue = 0
    for r in rows:
        due = clock.as_utc(r["due_at"])
        if r["status"] == "closed":
            if clock.as_utc(r["closed_at"]) <= due:
                in_time += 1
            else:
                late += 1
        else:
            open_ += 1
            overdue += due < now
    return StandardCounts(
        len(rows), in_time, late, open_, overdue, org.task_due_hours, org.task_target_percent
    )


ERASED_WHO = "an erased customer"


async def forget_customer(tenant: Tenant, customer_id: UUID, now: datetime) -> int:
    """Erasure: staff tasks about the customer lose every text that may name or quote them
    (the title is written again without their name; detail and outcome are blanked). The
    tasks stay, with their reason, times and status, for the service-standard counts."""
    rows = await tenant.select(
        StaffTask, StaffTask.id, StaffTask.reason, StaffTask.behaviour, StaffTask.outcome
    ).where(StaffTask.customer == customer_id)
    for r in rows:
        title = title_for(r["reason"], ERASED_WHO, r["behaviour"].replace("-", " ") or "a step")
        await tenant.update(
            StaffTask,
            {
                StaffTask.title: title,
                StaffTask.detail: "",
                StaffTask.outcome: None if r["outcome"] is None else "",
                StaffTask.updated_at: now,
            },
        ).where(StaffTask.id == r["id"])
    return len(rows)
