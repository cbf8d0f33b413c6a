"""The slips' part of a customer's privacy rights: their slips in an access export, and
an erasure's blanking of the free text (the note may quote the customer). The slips
themselves stay, tied to the customer's pseudonymous row, so every count is unchanged."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from core.tenancy import Tenant
from slips.tables import Slip

EXPORT_FIELDS = (
    Slip.id, Slip.journey.key.as_alias("journey_key"), Slip.enrollment, Slip.step,
    Slip.behaviour, Slip.failure_mode, Slip.root_cause, Slip.deficit, Slip.stage,
    Slip.severity, Slip.source, Slip.kind, Slip.channel, Slip.site, Slip.note,
    Slip.occurred_at, Slip.created_at, Slip.voided_at, Slip.void_reason,
)  # fmt: skip


async def slips_of_customer(tenant: Tenant, customer_id: UUID) -> list[dict[str, Any]]:
    """The customer's slips (voided ones too, marked), oldest first, as plain rows."""
    rows: list[dict[str, Any]] = await (
        tenant.select(Slip, *EXPORT_FIELDS)
        .where(Slip.customer == customer_id)
        .order_by(Slip.occurred_at)
        .order_by(Slip.id)
    )
    return rows


async def forget_notes(tenant: Tenant, customer_id: UUID, now: datetime) -> int:
    """Erasure: blank the notes (and void reasons, free text too) of the customer's slips;
    returns how many slips changed."""
    rows = await (
        tenant.update(Slip, {Slip.note: "", Slip.void_reason: None, Slip.updated_at: now})
        .where(
            (Slip.customer == customer_id) & ((Slip.note != "") | Slip.void_reason.is_not_null())
        )
        .returning(Slip.id)
    )
    return len(rows)
