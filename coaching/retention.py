"""Retention: personal data is kept only as long as it is needed (docs/privacy.md).

Per organisation, each run blanks the text and address of messages that finished longer
ago than ``SLIPGUARD_RETENTION_MESSAGE_DAYS``, the number and text of inbound messages
older than ``SLIPGUARD_RETENTION_INBOUND_DAYS``, and deletes consent records superseded
longer ago than ``SLIPGUARD_RETENTION_CONSENT_DAYS`` (the current record per channel and
purpose is always kept: it is the consent in force). Rows stay, so counts are unchanged.
Each kind is bounded per organisation per run; what is left waits for the next run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from coaching import inbound, outbox
from core import clock
from core.tables import Organization
from core.tenancy import Tenant
from journeys.customers.consent import purge_superseded
from settings import RetentionSettings, get_settings


@dataclass(frozen=True)
class Swept:
    """What one run did, summed over the organisations it visited."""

    messages: int = 0
    inbound: int = 0
    consent_records: int = 0
    full: bool = False  # some organisation had more than one batch: run again soon

    @property
    def total(self) -> int:
        return self.messages + self.inbound + self.consent_records


async def sweep_organization(
    org_id: UUID, now: datetime, r: RetentionSettings
) -> tuple[int, int, int]:
    """One organisation's retention, one bounded batch of each kind."""
    tenant = Tenant(org_id)
    messages = await outbox.forget_finished_before(
        tenant, now - timedelta(days=r.message_days), r.batch
    )
    texts = await inbound.forget_received_before(
        tenant, now - timedelta(days=r.inbound_days), r.batch
    )
    consents = await purge_superseded(tenant, now - timedelta(days=r.consent_days), r.batch)
    return messages, texts, consents


async def sweep(
    now: datetime | None = None,
    organizations: Sequence[UUID] = (),
    settings: RetentionSettings | None = None,
) -> Swept:
    """Apply the retention to these ``organizations`` (all when empty)."""
    now = now or clock.now()
    r = settings or get_settings().retention
    ids = list(organizations) or [
        row["id"] for row in await Organization.select(Organization.id).order_by(Organization.id)
    ]
    totals = [0, 0, 0]
    full = False
    for org_id in ids:
        done = await sweep_organization(org_id, now, r)
        totals = [a + b for a, b in zip(totals, done, strict=True)]
        full = full or max(done) >= r.batch
    return Swept(totals[0], totals[1], totals[2], full)
