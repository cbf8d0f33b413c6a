"""A customer's privacy rights across contexts: the access export and the erasure.

Customers' personal data lives in journeys (profile, consent, enrollments and steps), in
slips (their errors, with notes that may quote them) and here (the messages sent to them,
the texts they sent, staff tasks about them); this is the one place that answers for all
of it. Both operations leave a ``PrivacyEvent`` (core.audit): who did it and when, never
what the data was. docs/privacy.md describes the export format and the guarantees.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from coaching import inbound, outbox, tasks
from coaching.outbox import NUDGE_FIELDS
from coaching.tables import Nudge, PhoneCheck
from core import audit, clock, idempotency
from core.db import checkpoint, write_transaction
from core.tenancy import Tenant
from journeys.customers.privacy import erase_profile, export_profile, plain
from journeys.customers.records import get_customer
from journeys.tables import Customer, CustomerChange
from slips import privacy as slip_privacy

FORMAT = "slipguard-customer-export/2"


async def export_customer(
    tenant: Tenant, customer_id: UUID, actor: str = audit.UNATTRIBUTED
) -> dict[str, Any]:
    """Everything held about the customer, as plain JSON (GDPR access and portability):
    profile, consent, enrollments with their steps and messages (bodies included), slips,
    the texts they sent, and messages outside any enrollment (advisories, notices).
    ``actor`` says who asked (``user:<id>``, ``key:<id>`` or ``customer``); the export is
    recorded as a ``PrivacyEvent``."""
    data = await export_profile(tenant, customer_id)
    data["format"] = FORMAT
    messages = await tenant.select(Nudge, *NUDGE_FIELDS).where(Nudge.customer == customer_id)
    messages.sort(key=lambda n: (n["due_at"], n["position"], n["id"]))
    messages_of: dict[str | None, list[dict[str, Any]]] = {}
    for n in messages:
        item = plain(n)
        messages_of.setdefault(item.pop("enrollment"), []).append(item)
    for enrollment in data["enrollments"]:
        enrollment["messages"] = messages_of.pop(enrollment["id"], [])
    data["other_messages"] = [m for group in messages_of.values() for m in group]
    slips = []
    for s in await slip_privacy.slips_of_customer(tenant, customer_id):
        slips.append(plain(s))
    data["slips"] = slips
    data["inbound_messages"] = [plain(m) for m in await inbound.inbound_of(tenant, customer_id)]
    changes = await (
        tenant.select(
            CustomerChange,
            CustomerChange.field,
            CustomerChange.old_value,
            CustomerChange.new_value,
            CustomerChange.source,
            CustomerChange.recorded_at,
        )
        .where(CustomerChange.customer == customer_id)
        .order_by(CustomerChange.recorded_at)
    )
    data["changes"] = [plain(c) for c in changes]
    await audit.record(tenant, "export", customer_id, actor)
    return data


@dataclass(frozen=True)
class Erasure:
    """The outcome of :func:`erase_customer`."""

    customer: Customer
    enrollments_cancelled: int
    steps_cancelled: int
    nudges_cancelled: int
    consent_records_kept: int


async def erase_customer(
    tenant: Tenant, customer_id: UUID, actor: str = audit.UNATTRIBUTED
) -> Erasure:
    """Erase the customer's personal data and stop everything planned for them, in one
    transaction: the journeys' part (``journeys.customers.privacy.erase_profile``), then
    every message not yet sent, of every enrollment, so nothing reaches the person
    afterwards; what was sent keeps its status and times but loses its text and address.
    Slip notes, the texts they sent, staff tasks' free text and stored API responses that
    mention them are blanked or dropped too; slips and steps stay on the pseudonymous
    row, so every statistic is unchanged. ``actor`` says who asked (``user:<id>``,
    ``key:<id>``, ``customer``); each call is recorded as a ``PrivacyEvent``, which notes
    that an erasure happened and nothing of what was erased. Repeating it is harmless."""
    moment = clock.now()
    async with write_transaction():
        erased = await erase_profile(tenant, customer_id, moment)
        stopped = await outbox.cancel_for_enrollments(
            tenant, erased.enrollment_ids, "customer_erased", moment
        )
        stopped += await outbox.cancel_for_customer(tenant, customer_id, moment)
        await outbox.forget_contents(tenant, customer_id, moment)
        await inbound.forget_inbound(tenant, customer_id)
        # A new number waiting for its texted code is personal data too.
        await tenant.delete(PhoneCheck).where(PhoneCheck.customer == customer_id)
        await slip_privacy.forget_notes(tenant, customer_id, moment)
        await tasks.forget_customer(tenant, customer_id, moment)
        await idempotency.forget_mentioning(tenant, str(customer_id))
        await audit.record(tenant, "erasure", customer_id, actor, moment)
    # SQLite: the old text must not wait in the write-ahead log for a later checkpoint.
    await checkpoint()
    return Erasure(
        await get_customer(tenant, customer_id),
        erased.enrollments_cancelled,
        erased.steps_cancelled,
        stopped,
        erased.consent_records_kept,
    )
