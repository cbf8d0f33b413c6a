"""Message history for staff: "did the customer get the reminder?" — filtered lists and
one message with its provider events, always within the caller's organisation."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from coaching.errors import NudgeNotFound, NudgeQueryInvalid
from coaching.tables import DeliveryEvent, Nudge
from core import clock
from core.errors import FieldError
from core.pagination import keyset, page
from core.tenancy import Tenant

DEFAULT_LIMIT = 50


@dataclass(frozen=True)
class NudgeFilter:
    """What to list; every field optional."""

    customer: UUID | None = None
    enrollment: UUID | None = None
    step: UUID | None = None
    status: str | None = None
    kind: str | None = None
    channel: str | None = None
    since: datetime | None = None  # due at or after
    until: datetime | None = None  # due before


def _check(f: NudgeFilter) -> None:
    errors = [
        FieldError(name, "must lie between 1900 and 2200 and carry a timezone offset")
        for name, moment in (("since", f.since), ("until", f.until))
        if moment is not None and (moment.tzinfo is None or not clock.in_range(moment))
    ]
    if errors:
        raise NudgeQueryInvalid("the filter is not valid", errors)


async def list_nudges(
    tenant: Tenant, f: NudgeFilter, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of messages, oldest first, and the cursor of the next page."""
    _check(f)
    query = tenant.select(Nudge)
    for column, value in (
        (Nudge.customer, f.customer),
        (Nudge.enrollment, f.enrollment),
        (Nudge.step, f.step),
        (Nudge.status, f.status),
        (Nudge.kind, f.kind),
        (Nudge.channel, f.channel),
    ):
        if value is not None:
            query = query.where(column == value)
    if f.since is not None:
        query = query.where(Nudge.due_at >= f.since)
    if f.until is not None:
        query = query.where(Nudge.due_at < f.until)
    rows = await keyset(query, Nudge, cursor, limit)
    return page(rows, limit)


async def get_nudge(tenant: Tenant, nudge_id: UUID) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """One message and its provider events, oldest first."""
    row = await tenant.select(Nudge).where(Nudge.id == nudge_id).first()
    if row is None:
        raise NudgeNotFound(f"no message {nudge_id} in this organisation")
    events = await (
        tenant.select(DeliveryEvent)
        .where(DeliveryEvent.nudge == nudge_id)
        .order_by(DeliveryEvent.received_at)
    )
    return row, events


async def recent_outbox(tenant: Tenant, limit: int = 100) -> list[dict[str, Any]]:
    """The latest messages that went out or were decided, newest first (the /outbox page)."""
    return await (
        tenant.select(Nudge)
        .where(Nudge.status != "scheduled")
        .order_by(Nudge.updated_at, ascending=False)
        .limit(limit)
    )


async def customer_messages(
    tenant: Tenant, customer_id: UUID, limit: int = 50
) -> list[dict[str, Any]]:
    """A customer's messages, the latest first, as staff read them on the customer's page
    (the address masked, the text as sent)."""
    rows: list[dict[str, Any]] = await (
        tenant.select(
            Nudge,
            Nudge.id,
            Nudge.kind,
            Nudge.channel,
            Nudge.status,
            Nudge.reason,
            Nudge.due_at,
            Nudge.sent_at,
            Nudge.attempts,
            Nudge.body,
            Nudge.error_code,
        )
        .where(Nudge.customer == customer_id)
        .order_by(Nudge.due_at, ascending=False)
        .limit(limit)
    )
    return rows
