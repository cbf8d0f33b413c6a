"""A customer's privacy rights across contexts: the access export and the erasure.

Customers' personal data lives in journeys (profile, consent, enrollments and steps) and in
the messages planned for them here; this is the one place that answers for all of it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from coaching import inbound, outbox
from core import clock
from core.db import write_transaction
from core.tenancy import Tenant
from journeys.customers.privacy import erase_profile, export_profile, plain
from journeys.customers.records import get_customer
from journeys.tables import Customer


async def export_customer(tenant: Tenant, customer_id: UUID) -> dict[str, Any]:
    """Everything held about the customer, as plain JSON (GDPR access and portability)."""
    data = await export_profile(tenant, customer_id)
    messages_of: dict[str, list[dict[str, Any]]] = {}
    for n in await outbox.nudges_of(tenant, [UUID(e["id"]) for e in data["enrollments"]]):
        item = plain(n)
        messages_of.setdefault(item.pop("enrollment"), []).append(item)
    for enrollment in data["enrollments"]:
        enrollment["messages"] = messages_of.get(enrollment["id"], [])
    return data


@dataclass(frozen=True)
class Erasure:
    """The outcome of :func:`erase_customer`."""

    customer: Customer
    enrollments_cancelled: int
    steps_cancelled: int
    nudges_cancelled: int
    consent_records_kept: int


async def erase_customer(tenant: Tenant, customer_id: UUID) -> Erasure:
    """Erase the customer's personal data and stop everything planned for them, in one
    transaction: the journeys' part (``journeys.customers.privacy.erase_profile``), then
    every message not yet sent, of every enrollment, so nothing reaches the person
    afterwards; what was sent keeps its status and times but loses its text and address.
    Repeating an erasure is harmless."""
    moment = clock.now()
    async with write_transaction():
        erased = await erase_profile(tenant, customer_id, moment)
        stopped = await outbox.cancel_for_enrollments(
            tenant, erased.enrollment_ids, "customer_erased", moment
        )
        await outbox.forget_contents(tenant, customer_id, moment)
        await inbound.forget_inbound(tenant, customer_id)
    return Erasure(
        await get_customer(tenant, customer_id),
        erased.enrollments_cancelled,
        erased.steps_cancelled,
        stopped,
        erased.consent_records_kept,
    )
