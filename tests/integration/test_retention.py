"""Retention: old message texts and addresses, old inbound texts and superseded old
consent records go, per organisation and in bounded batches; what is still needed stays
(waiting messages, recent texts, the current consent and the proof behind recent sends)."""

from __future__ import annotations

import dataclasses
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from coaching import retention, scheduler
from coaching.tables import InboundMessage, Nudge
from core.ids import new_id
from journeys.customers import records
from journeys.customers.schemas import CustomerIn
from journeys.tables import ConsentRecord
from settings import get_settings
from tests.conftest import Org

DAY = timedelta(days=1)


async def message(org: Org, customer: UUID, status: str, age: timedelta, now: datetime) -> UUID:
    at = now - age
    row = Nudge(
        id=new_id(), organization=org.id, customer=customer, dedupe_key=f"test:{new_id()}",
        kind="advisory", channel="sms", template="advisory", due_at=at, send_after=at,
        status=status, body="Hi Ines, the desk opens at 10.", recipient="+14155550162",
        sent_at=at if status in ("sent", "delivered") else None, created_at=at, updated_at=at,
    )  # fmt: skip
    await Nudge.insert(row)
    return row.id


async def text(org: Org, customer: UUID, age: timedelta, now: datetime) -> UUID:
    row = InboundMessage(
        id=new_id(), organization=org.id, customer=customer,
        provider_id="SM" + secrets.token_hex(16), sender="+14155550162", recipient="+12025550100",
        body="running late", outcome="unmatched", received_at=now - age, created_at=now - age,
    )  # fmt: skip
    await InboundMessage.insert(row)
    return row.id


async def consent(
    org: Org, customer: UUID, channel: str, status: str, age: timedelta, now: datetime
) -> UUID:
    row = ConsentRecord(
        id=new_id(), organization=org.id, customer=customer, channel=channel,
        purpose="informational", status=status, source="staff", text_shown="Reminders",
        recorded_at=now - age,
    )  # fmt: skip
    await ConsentRecord.insert(row)
    return row.id


async def scene(org: Org, now: datetime) -> dict[str, Any]:
    c = await records.create_customer(
        org.tenant,
        CustomerIn(first_name="Ines", phone="+14155550162", email="i@example.org", timezone="UTC"),
    )
    return {
        "customer": c.id,
        "old_sent": await message(org, c.id, "delivered", 200 * DAY, now),
        "old_cancelled": await message(org, c.id, "cancelled", 190 * DAY, now),
        "old_waiting": await message(org, c.id, "scheduled", 200 * DAY, now),
        "recent_sent": await message(org, c.id, "sent", 10 * DAY, now),
        "old_text": await text(org, c.id, 181 * DAY, now),
        "recent_text": await text(org, c.id, 179 * DAY, now),
        # SMS: granted six years ago, revoked five years ago, granted again two years ago.
        "sms_first": await consent(org, c.id, "sms", "granted", 6 * 365 * DAY, now),
        "sms_revoked": await consent(org, c.id, "sms", "revoked", 5 * 365 * DAY, now),
        "sms_current": await consent(org, c.id, "sms", "granted", 2 * 365 * DAY, now),
        # Email: one grant six years ago, still the consent in force.
        "email_current": await consent(org, c.id, "email", "granted", 6 * 365 * DAY, now),
    }


async def bodies(ids: list[UUID]) -> dict[UUID, tuple[Any, Any]]:
    rows = await Nudge.select(Nudge.id, Nudge.body, Nudge.recipient).where(Nudge.id.is_in(ids))
    return {r["id"]: (r["body"], r["recipient"]) for r in rows}


async def test_retention_blanks_old_texts_and_keeps_what_is_still_needed(
    org: Org, other_org: Org
) -> None:
    now = datetime.now(UTC)
    s = await scene(org, now)
    theirs = await scene(other_org, now)

    swept = await retention.sweep(now, [org.id])
    assert (swept.messages, swept.inbound, swept.consent_records) == (2, 1, 1)

    kept = ("Hi Ines, the desk opens at 10.", "+14155550162")
    state = await bodies([s["old_sent"], s["old_cancelled"], s["old_waiting"], s["recent_sent"]])
    assert state[s["old_sent"]] == state[s["old_cancelled"]] == (None, None)
    assert state[s["old_waiting"]] == state[s["recent_sent"]] == kept
    sent = await Nudge.select(Nudge.status).where(Nudge.id == s["old_sent"]).first()
    assert sent is not None and sent["status"] == "delivered"  # the row still counts

    texts = {
        r["id"]: (r["sender"], r["body"], r["outcome"])
        for r in await InboundMessage.select().where(InboundMessage.customer == s["customer"])
    }
    assert texts[s["old_text"]] == (None, None, "unmatched")
    assert texts[s["recent_text"]] == ("+14155550162", "running late", "unmatched")

    left = {
        r["id"]
        for r in await ConsentRecord.select(ConsentRecord.id).where(
            ConsentRecord.customer == s["customer"]
        )
    }
    assert left == {s["sms_revoked"], s["sms_current"], s["email_current"]}

    # Another organisation's data is untouched by this organisation's run...
    untouched = await bodies([theirs["old_sent"]])
    assert untouched[theirs["old_sent"]] == kept
    # ...and a second run finds nothing more to do.
    again = await retention.sweep(now, [org.id])
    assert again.total == 0 and not again.full


async def test_retention_works_in_bounded_batches(org: Org) -> None:
    now = datetime.now(UTC)
    s = await scene(org, now)
    one = dataclasses.replace(get_settings().retention, batch=1)
    first = await retention.sweep(now, [org.id], one)
    assert (first.messages, first.inbound, first.consent_records, first.full) == (1, 1, 1, True)
    second = await retention.sweep(now, [org.id], one)
    assert (second.messages, second.inbound, second.consent_records) == (1, 0, 0)
    assert (await retention.sweep(now, [org.id], one)).total == 0
    state = await bodies([s["old_sent"], s["old_cancelled"]])
    assert set(state.values()) == {(None, None)}


async def test_shorter_settings_reach_younger_rows_and_the_job_is_scheduled(org: Org) -> None:
    now = datetime.now(UTC)
    s = await scene(org, now)
    short = dataclasses.replace(get_settings().retention, message_days=7, inbound_days=7)
    swept = await retention.sweep(now, [org.id], short)
    assert (swept.messages, swept.inbound) == (3, 2)
    state = await bodies([s["recent_sent"], s["old_waiting"]])
    assert state[s["recent_sent"]] == (None, None)
    assert state[s["old_waiting"]] != (None, None)
    assert scheduler.enforce_retention in scheduler.JOBS
