"""Consent: an append-only history per customer; the latest record per channel and purpose
is the customer's current decision."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from core import clock
from core.db import run_sql, write_transaction
from core.tenancy import Tenant
from journeys.customers.normalize import Checker, check_consent
from journeys.customers.schemas import ConsentIn, utc
from journeys.errors import CustomerErased, CustomerNotFound
from journeys.tables import ConsentRecord, Customer
from journeys.vocabulary import CHANNEL_ADDRESS


@dataclass(frozen=True)
class ConsentState:
    """The current consent for one channel and purpose, from its latest record."""

    channel: str
    purpose: str
    status: str
    recorded_at: datetime
    source: str

    @property
    def granted(self) -> bool:
        return self.status == "granted"


def new_record(
    tenant: Tenant, customer_id: UUID, c: ConsentIn, recorded_at: datetime
) -> ConsentRecord:
    return tenant.new(
        ConsentRecord,
        customer=customer_id,
        channel=c.channel,
        purpose=c.purpose,
        status=c.status,
        source=c.source,
        text_shown=c.text_shown.strip(),
        evidence=c.evidence.strip(),
        recorded_at=recorded_at,
    )


async def add_consent(tenant: Tenant, customer_id: UUID, record: ConsentIn) -> ConsentRecord:
    """Append one consent record; records are never changed or deleted.

    The channel needs its address on the customer (sms: phone, email: email).
    """
    async with write_transaction():
        customer = await tenant.get(Customer, customer_id, CustomerNotFound, "customer")
        if customer.erased_at is not None:
            raise CustomerErased.of(customer_id)
        ck = Checker()
        check_consent(ck, record, {"phone": customer.phone, "email": customer.email})
        ck.raise_if_any("consent")
        latest = (
            await tenant.select(ConsentRecord, ConsentRecord.recorded_at)
            .where(ConsentRecord.customer == customer_id)
            .order_by(ConsentRecord.recorded_at, ascending=False)
            .first()
        )
        moment = clock.now()
        if latest is not None:
            # History order is the order of recording, even if clocks of two API processes
            # disagree: a later record never sorts before an earlier one.
            previous = utc(latest["recorded_at"])
            if previous is not None and previous >= moment:
                moment = previous + timedelta(microseconds=1)
        row = new_record(tenant, customer_id, record, moment)
        await row.save()
    return row


async def consent_history(tenant: Tenant, customer_id: UUID) -> list[ConsentRecord]:
    """Every consent record of the customer, oldest first."""
    await tenant.get(Customer, customer_id, CustomerNotFound, "customer")
    return await (
        tenant.objects(ConsentRecord)
        .where(ConsentRecord.customer == customer_id)
        .order_by(ConsentRecord.recorded_at, ConsentRecord.id)
    )


def derive_consent(records: Iterable[ConsentRecord]) -> dict[tuple[str, str], ConsentState]:
    """Fold records into the latest state per (channel, purpose): by recorded_at, then id."""
    current: dict[tuple[str, str], ConsentState] = {}
    for r in sorted(records, key=lambda r: (utc(r.recorded_at), str(r.id))):
        current[(r.channel, r.purpose)] = ConsentState(
            r.channel, r.purpose, r.status, r.recorded_at, r.source
        )
    return current


async def current_consent(tenant: Tenant, customer_id: UUID) -> dict[tuple[str, str], ConsentState]:
    """The customer's current consent: {(channel, purpose): latest state}."""
    return derive_consent(await consent_history(tenant, customer_id))


# The current consent status for a message's channel and purpose, as a correlated subquery
# over ``c`` (customer) and ``n`` (a row with channel and purpose): the same rule as
# :func:`may_contact` (latest record by recorded_at, then id), for callers that read a
# message and its consent in one statement.
LATEST_CONSENT_STATUS = (
    "SELECT cr.status FROM consent_record cr WHERE cr.customer = c.id "
    "AND cr.channel = n.channel AND cr.purpose = n.purpose "
    "ORDER BY cr.recorded_at DESC, cr.id DESC LIMIT 1"
)


async def may_contact(tenant: Tenant, customer_id: UUID, channel: str, purpose: str) -> bool:
    """Whether a message on ``channel`` for ``purpose`` may be sent now.

    Only with a granted latest record, the channel's address on file and the customer not
    erased. No record means no: silence is not consent, for informational messages too.
    An unknown customer is never contactable.
    """
    customer = await tenant.objects(Customer).where(Customer.id == customer_id).first()
    if customer is None or customer.erased_at is not None:
        return False
    address = CHANNEL_ADDRESS.get(channel)
    if address is None or not getattr(customer, address):
        return False
    state = (await current_consent(tenant, customer_id)).get((channel, purpose))
    return state is not None and state.granted


async def purge_superseded(tenant: Tenant, before: datetime, limit: int) -> int:
    """Retention: delete at most ``limit`` consent records whose validity ended before
    ``before`` — a later record for the same customer, channel and purpose replaced them,
    and that replacement is itself older than ``before``. So the current record per
    channel and purpose is never deleted, and every message sent within the retention
    period can still be matched with the consent it was sent under. Returns how many."""
    rows = await run_sql(
        "DELETE FROM consent_record WHERE id IN (SELECT r.id FROM consent_record r "
        "WHERE r.organization = {} AND r.recorded_at < {} AND EXISTS (SELECT 1 FROM "
        "consent_record n WHERE n.customer = r.customer AND n.channel = r.channel AND "
        "n.purpose = r.purpose AND n.recorded_at > r.recorded_at AND n.recorded_at < {}) "
        "LIMIT {}) RETURNING id",
        tenant.org_id,
        before,
        before,
        limit,
    )
    return len(rows)
