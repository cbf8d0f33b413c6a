"""The privacy audit trail: that a customer's data was erased, exported or a breach notice
sent to them, by whom and when (``PrivacyEvent``). It never holds the data itself."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from core import clock
from core.errors import FieldError, Invalid
from core.ids import new_id
from core.pagination import keyset, page
from core.tables import PrivacyEvent
from core.tenancy import Tenant

KINDS = ("erasure", "export", "breach_notice")
CUSTOMER = "customer"  # the customer themself, through their own link
CLI = "cli"  # an operator at the command line
# For callers that do not say (older call sites); new ones name their actor.
UNATTRIBUTED = "unattributed"


def actor_of(user_id: UUID | None = None, key_id: UUID | None = None) -> str:
    """How an event names a staff principal: ``user:<id>`` or ``key:<id>``."""
    if user_id is not None:
        return f"user:{user_id}"
    if key_id is not None:
        return f"key:{key_id}"
    raise ValueError("a staff actor needs a user or an API key")


def _check(kind: str, actor: str) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown privacy event kind {kind!r}")
    if not actor or len(actor) > 64:
        raise ValueError(f"invalid privacy event actor {actor!r}")


def event_row(
    tenant: Tenant,
    kind: str,
    customer_id: UUID | None,
    actor: str,
    at: datetime,
    batch: UUID | None = None,
) -> PrivacyEvent:
    """A new, unsaved event (for writing many at once)."""
    _check(kind, actor)
    return tenant.new(
        PrivacyEvent,
        id=new_id(),
        kind=kind,
        customer=customer_id,
        actor=actor,
        batch=batch,
        created_at=at,
    )


async def record(
    tenant: Tenant,
    kind: str,
    customer_id: UUID | None,
    actor: str,
    at: datetime | None = None,
    batch: UUID | None = None,
) -> PrivacyEvent:
    """Write one event, in the caller's transaction when there is one."""
    row = event_row(tenant, kind, customer_id, actor, at or clock.now(), batch)
    await PrivacyEvent.insert(row)
    return row


async def list_events(
    tenant: Tenant,
    cursor: str | None,
    limit: int,
    kind: str | None = None,
    customer_id: UUID | None = None,
    batch: UUID | None = None,
) -> tuple[list[PrivacyEvent], str | None]:
    """The organisation's events, oldest first (a stable cursor), optionally filtered."""
    query = tenant.objects(PrivacyEvent)
    if kind is not None:
        if kind not in KINDS:
            raise Invalid("invalid filter", [FieldError("kind", f"one of {', '.join(KINDS)}")])
        query = query.where(PrivacyEvent.kind == kind)
    if customer_id is not None:
        query = query.where(PrivacyEvent.customer == customer_id)
    if batch is not None:
        query = query.where(PrivacyEvent.batch == batch)
    rows = await keyset(query, PrivacyEvent, cursor, limit)
    return page(list(rows), limit)
