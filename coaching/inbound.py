"""Texts customers send back: matched to the organisation that owns the number they went
to, then to that organisation's customer, and acted on.

In order: the carriers' keywords (STOP family → SMS consent withdrawn at once, START
family → given back, HELP → the organisation's contact details); an answer to the
customer's latest "why did you miss?" question → a customer-reported slip; a journey's
confirmation word → the open step completed; anything else → the staff inbox. Every
message is kept (``inbound_message``); logs carry ids only, never numbers or texts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from twilio.twiml.messaging_response import MessagingResponse

from coaching.errors import InboxItemNotFound
from coaching.tables import InboundMessage, Nudge
from core import clock
from core.db import run_sql
from core.ids import as_uuid, new_id
from core.pagination import keyset, page
from core.tables import Organization
from core.tenancy import Tenant
from journeys.customers.consent import add_consent
from journeys.customers.schemas import ConsentIn
from journeys.definition import Behaviour, JourneyDefinition
from journeys.enrollments.planning import OPEN
from journeys.enrollments.services import complete_step
from journeys.errors import StepClosed
from journeys.replies import keyword_family, normalize
from journeys.services import definitions_by_version
from journeys.tables import ConsentRecord, Customer, Step
from settings import Settings
from slips.errors import SlipInvalid
from slips.sources import match_failure_mode, record_customer_report

log = logging.getLogger("slipguard.inbound")

WHY_PREFIX = "why:"  # dedupe_key of a "why did you miss?" question: why:<step id>
ANSWER_WINDOW = timedelta(days=7)  # how long a question waits for its answer
EARLY_CONFIRM = timedelta(hours=2)  # a DONE this long before the due time still counts
SENT = ("sent", "delivered")
INBOX_OUTCOMES = ("unmatched", "unknown_sender")

REPLIES = {
    "stop": {
        "en": "{org}: you will receive no more texts from us. Reply START to resume.",
        "zh": "{org}：您将不再收到我们的短信。回复 START 可恢复。",  # noqa: RUF001
    },
    "start": {
        "en": "{org}: texts are on again. Reply STOP to stop them, HELP for help.",
        "zh": "{org}：短信已恢复。回复 STOP 停止，回复 HELP 获取帮助。",  # noqa: RUF001
    },
    "help": {
        "en": "{org}: reminders about your care and appointments.{contact} Reply STOP to stop.",
        "zh": "{org}：关于您的服务和预约的提醒。{contact}回复 STOP 停止。",  # noqa: RUF001
    },
}


@dataclass(frozen=True)
class Inbound:
    """An inbound SMS as the provider reported it."""

    provider_id: str
    sender: str
    to: str
    messaging_service_sid: str
    body: str


@dataclass(frozen=True)
class Handled:
    """What became of an inbound message, and the text to answer with (None: no reply)."""

    outcome: str
    reply: str | None = None
    message_id: UUID | None = None


def twiml(reply: str | None) -> str:
    """The TwiML answer: one message, or an empty response (no reply)."""
    response = MessagingResponse()
    if reply:
        response.message(reply)
    return str(response)


async def owning_organization(
    to: str, service_sid: str, settings: Settings
) -> dict[str, Any] | None:
    """The organisation whose sender received the message: its messaging service, else
    its own number; a message to the deployment's default sender belongs to the one
    organisation without a sender of its own, and to nobody when several share it (a
    reply must never reach another organisation's customers)."""
    columns = (
        Organization.id,
        Organization.name,
        Organization.contact_phone,
        Organization.contact_email,
        Organization.postal_address,
    )
    for column, value in (
        (Organization.messaging_service_sid, service_sid),
        (Organization.sms_from, to),
    ):
        if value:
            rows = await Organization.select(*columns).where(column == value).limit(2)
            if len(rows) == 1:
                return rows[0]
            if rows:
                log.warning("inbound sender shared by several organisations; not matched")
                return None
    t = settings.twilio
    default = (to and to == t.from_number) or (
        service_sid and service_sid == t.messaging_service_sid
    )
    if default:
        rows = (
            await Organization.select(*columns)
            .where((Organization.sms_from == "") & (Organization.messaging_service_sid == ""))
            .limit(2)
        )
        if len(rows) == 1:
            return rows[0]
    return None


async def receive(message: Inbound, settings: Settings) -> Handled:
    """Act on one inbound message (a repeated callback is recognised and does nothing)."""
    org = await owning_organization(message.to, message.messaging_service_sid, settings)
    if org is None:
        log.info("inbound message for no organisation", extra={"sid": message.provider_id[:40]})
        return Handled("no_organization")
    sid = message.provider_id[:64]
    if await InboundMessage.exists().where(InboundMessage.provider_id == sid):
        return Handled("duplicate")
    tenant = Tenant(as_uuid(org["id"]))
    customers = await tenant.select(Customer, Customer.id, Customer.locale).where(
        (Customer.phone == message.sender) & Customer.erased_at.is_null()
    )
    ids = [as_uuid(c["id"]) for c in customers]
    locale = customers[0]["locale"] if customers else "en"
    now = clock.now()
    record = tenant.new(
        InboundMessage,
        id=new_id(),
        customer=ids[0] if ids else None,
        provider_id=sid,
        sender=message.sender[:64],
        recipient=message.to[:64],
        body=message.body,
        outcome="unmatched",
        received_at=now,
        created_at=now,
    )
    family = keyword_family(message.body)
    reply: str | None = None
    if family == "stop":
        # Everyone with that number stops: it is the phone's owner who said so.
        for customer in ids:
            await _set_sms_consent(tenant, customer, "revoked", message, now)
        record.outcome, reply = "stop", _text("stop", locale, org)
    elif family == "help":
        record.outcome, reply = "help", _text("help", locale, org)
    elif not ids:
        record.outcome = "unknown_sender"
    elif family == "start":
        for customer in ids:
            await _set_sms_consent(tenant, customer, "granted", message, now)
        record.outcome, reply = "start", _text("start", locale, org)
    else:
        await _answer_or_confirm(tenant, ids, message, record, now)
    record.needs_staff = record.outcome in INBOX_OUTCOMES
    await record.save()
    log.info(
        "inbound message",
        extra={"inbound_id": str(record.id), "outcome": record.outcome,
               "customer_id": str(record.customer) if record.customer else None},
    )  # fmt: skip
    return Handled(record.outcome, reply, record.id)


def _text(kind: str, locale: str, org: dict[str, Any]) -> str:
    language = "zh" if (locale or "").lower().startswith("zh") else "en"
    contact = ""
    if kind == "help":
        parts = [p for p in (org["contact_phone"], org["contact_email"]) if p]
        if org["postal_address"]:
            parts.append(org["postal_address"])
        joined = ", ".join(parts)
        if joined:
            contact = f" Contact: {joined}." if language == "en" else f"联系方式：{joined}。"  # noqa: RUF001
    return REPLIES[kind][language].format(org=org["name"], contact=contact)


async def _set_sms_consent(
    tenant: Tenant, customer: UUID, status: str, message: Inbound, now: datetime
) -> None:
    """STOP withdraws SMS consent for every purpose; START gives back informational
    messages, and marketing only when a keyword was what withdrew it."""
    purposes = ["informational", "marketing"]
    if status == "granted":
        latest = (
            await tenant.select(ConsentRecord, ConsentRecord.source, ConsentRecord.status)
            .where(
                (ConsentRecord.customer == customer)
                & (ConsentRecord.channel == "sms")
                & (ConsentRecord.purpose == "marketing")
            )
            .order_by(ConsentRecord.recorded_at, ascending=False)
            .order_by(ConsentRecord.id, ascending=False)
            .first()
        )
        if not (latest and latest["status"] == "revoked" and latest["source"] == "sms_keyword"):
            purposes = ["informational"]
    for purpose in purposes:
        await add_consent(
            tenant,
            customer,
            ConsentIn(
                channel="sms",
                purpose=purpose,  # type: ignore[arg-type]
                status=status,  # type: ignore[arg-type]
                source="sms_keyword",
                text_shown="",
                evidence=f"SMS {message.provider_id[:64]} at {now.isoformat()}",
            ),
        )


async def _answer_or_confirm(
    tenant: Tenant, customers: list[UUID], message: Inbound, record: InboundMessage, now: datetime
) -> None:
    question = await _open_question(tenant, customers, now)
    if question is not None:
        mode = match_failure_mode(question.behaviour, message.body)
        if mode is not None:
            try:
                slip = await record_customer_report(
                    tenant, question.customer, question.journey_key, question.behaviour.key,
                    message.body, step_id=question.step, channel="sms",
                    key=f"sms:{message.provider_id[:64]}", failure_mode=mode,
                )  # fmt: skip
            except SlipInvalid:
                # The journey changed since the question (the mode or behaviour is gone):
                # a person reads the answer instead.
                log.warning(
                    "answer no longer fits its journey", extra={"question": str(question.nudge)}
                )
                record.question = question.nudge
                return
            record.outcome, record.customer = "answer", question.customer
            record.question, record.step, record.slip = question.nudge, question.step, slip.id
            return
    step = await _step_confirmed_by(tenant, customers, normalize(message.body), now)
    if step is not None:
        step_id, customer = step
        try:
            await complete_step(tenant, step_id, "sms", now)
        except StepClosed:  # cancelled between the read and now: a person reads it
            record.step = step_id
            return
        record.outcome, record.step, record.customer = "confirmed", step_id, customer
    elif question is not None:
        record.question = question.nudge  # staff see which question it may answer


@dataclass(frozen=True)
class _Question:
    nudge: UUID
    step: UUID
    customer: UUID
    journey_key: str
    behaviour: Behaviour


async def _open_question(tenant: Tenant, customers: list[UUID], now: datetime) -> _Question | None:
    """The customer's latest "why did you miss?" question sent in the last 7 days and not
    answered yet (a second answer goes to the inbox)."""
    row = (
        await tenant.select(Nudge, Nudge.id, Nudge.dedupe_key, Nudge.customer)
        .where(
            Nudge.customer.is_in(customers)
            & Nudge.dedupe_key.like(WHY_PREFIX + "%")
            & Nudge.status.is_in(list(SENT))
            & (Nudge.sent_at >= now - ANSWER_WINDOW)
        )
        .order_by(Nudge.sent_at, ascending=False)
        .first()
    )
    if row is None:
        return None
    answered = await tenant.select(InboundMessage, InboundMessage.id).where(
        (InboundMessage.question == row["id"]) & (InboundMessage.outcome == "answer")
    )
    if answered:
        return None
    try:
        step_id = UUID(row["dedupe_key"].removeprefix(WHY_PREFIX))
    except ValueError:
        return None
    step = (
        await tenant.select(
            Step,
            Step.behaviour,
            Step.enrollment.journey_version.as_alias("version"),
        )
        .where(Step.id == step_id)
        .first()
    )
    if step is None:
        return None
    definition = await _definition(as_uuid(step["version"]))
    behaviour = definition.behaviour(step["behaviour"]) if definition else None
    if behaviour is None:
        return None
    assert definition is not None
    return _Question(
        as_uuid(row["id"]), step_id, as_uuid(row["customer"]), definition.key, behaviour
    )


async def _definition(version: UUID) -> JourneyDefinition | None:
    found, _ = await definitions_by_version([version])
    return found.get(version)


async def _step_confirmed_by(
    tenant: Tenant, customers: list[UUID], word: str, now: datetime
) -> tuple[UUID, UUID] | None:
    """The open step this word confirms: among the customer's pending steps (active
    enrollments) whose behaviour lists the word, the most recently due one; when none is
    due yet, the next one due within ``EARLY_CONFIRM``. Two candidates are logged."""
    if not word:
        return None
    rows = await tenant.select(
        Step,
        Step.id,
        Step.customer,
        Step.behaviour,
        Step.due_at,
        Step.enrollment.journey_version.as_alias("version"),
    ).where(
        Step.customer.is_in(customers)
        & (Step.status == OPEN)
        & (Step.due_at <= now + EARLY_CONFIRM)
        & (Step.enrollment.status == "active")
    )
    found, _ = await definitions_by_version({as_uuid(r["version"]) for r in rows})
    candidates = []
    for r in rows:
        definition = found.get(as_uuid(r["version"]))
        behaviour = definition.behaviour(r["behaviour"]) if definition else None
        if (
            behaviour
            and behaviour.confirm
            and word in {normalize(w) for w in behaviour.confirm.reply}
        ):
            candidates.append(r)
    if not candidates:
        return None
    due = [r for r in candidates if clock.as_utc(r["due_at"]) <= now]
    chosen = (
        max(due, key=lambda r: clock.as_utc(r["due_at"]))
        if due
        else min(candidates, key=lambda r: clock.as_utc(r["due_at"]))
    )
    if len(candidates) > 1:
        log.info(
            "reply matched several open steps; the most recently due was completed",
            extra={"chosen_step": str(chosen["id"]),
                   "other_steps": [str(r["id"]) for r in candidates if r is not chosen]},
        )  # fmt: skip
    return as_uuid(chosen["id"]), as_uuid(chosen["customer"])


# --- the staff inbox --------------------------------------------------------------------------


async def list_inbox(
    tenant: Tenant, status: str = "open", cursor: str | None = None, limit: int = 50
) -> tuple[list[dict[str, Any]], str | None]:
    """Messages staff must read, oldest first: ``open`` (not closed yet), ``closed`` or
    ``all``."""
    query = tenant.select(
        InboundMessage,
        *InboundMessage.all_columns(),
    ).where(InboundMessage.needs_staff == True)  # noqa: E712
    if status == "open":
        query = query.where(InboundMessage.closed_at.is_null())
    elif status == "closed":
        query = query.where(InboundMessage.closed_at.is_not_null())
    rows = await keyset(query, InboundMessage, cursor, limit)
    return page(rows, limit)


async def open_inbox_count(tenant: Tenant) -> int:
    """How many texts wait for a person (the tasks page points to them)."""
    count: int = await InboundMessage.count().where(
        (InboundMessage.organization == tenant.org_id)
        & (InboundMessage.needs_staff == True)  # noqa: E712
        & InboundMessage.closed_at.is_null()
    )
    return count


async def get_item(tenant: Tenant, item_id: UUID) -> dict[str, Any]:
    """One inbox item of this organisation."""
    row = (
        await tenant.select(InboundMessage)
        .where((InboundMessage.id == item_id) & (InboundMessage.needs_staff == True))  # noqa: E712
        .first()
    )
    if row is None:
        raise InboxItemNotFound(f"inbox item {item_id} not found")
    return row


async def close_item(tenant: Tenant, item_id: UUID, user: UUID | None) -> dict[str, Any]:
    """Mark an inbox item dealt with (closing twice keeps the first closing)."""
    await get_item(tenant, item_id)
    await tenant.update(
        InboundMessage, {InboundMessage.closed_at: clock.now(), InboundMessage.closed_by: user}
    ).where((InboundMessage.id == item_id) & InboundMessage.closed_at.is_null())
    return await get_item(tenant, item_id)


async def forget_inbound(tenant: Tenant, customer_id: UUID) -> int:
    """Erasure: blank the number and the text of every message the customer sent."""
    rows = (
        await tenant.update(
            InboundMessage, {InboundMessage.sender: None, InboundMessage.body: None}
        )
        .where(
            (InboundMessage.customer == customer_id)
            & (InboundMessage.sender.is_not_null() | InboundMessage.body.is_not_null())
        )
        .returning(InboundMessage.id)
    )
    return len(rows)


async def inbound_of(tenant: Tenant, customer_id: UUID) -> list[dict[str, Any]]:
    """Every text the customer sent, oldest first (their access export)."""
    rows: list[dict[str, Any]] = await (
        tenant.select(
            InboundMessage,
            InboundMessage.id,
            InboundMessage.sender,
            InboundMessage.body,
            InboundMessage.outcome,
            InboundMessage.step,
            InboundMessage.slip,
            InboundMessage.received_at,
        )
        .where(InboundMessage.customer == customer_id)
        .order_by(InboundMessage.received_at)
        .order_by(InboundMessage.id)
    )
    return rows


async def forget_received_before(tenant: Tenant, before: datetime, limit: int) -> int:
    """Retention: blank the number and text of at most ``limit`` of the organisation's
    inbound messages received before ``before`` (what they were taken for stays);
    returns how many."""
    rows = await run_sql(
        "UPDATE inbound_message SET sender = NULL, body = NULL WHERE id IN (SELECT id FROM "
        "inbound_message WHERE organization = {} AND received_at < {} AND (body IS NOT NULL "
        "OR sender IS NOT NULL) ORDER BY received_at LIMIT {}) RETURNING id",
        tenant.org_id,
        before,
        limit,
    )
    return len(rows)
