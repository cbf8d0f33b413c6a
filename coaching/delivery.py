"""Carrying out one message: claim it, check it, render it, send it, record what happened.

Called by the ``send_nudge`` actor with a message id. Every step is idempotent: the claim
is a conditional move from ``queued`` to ``sending``, so a second delivery of the broker
message finds nothing to do; a send whose outcome was lost (a worker killed after the
provider accepted it) is looked up at the provider before anything is sent again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coaching import pacing
from coaching.channels.base import Outcome, Outgoing, Permanent, Sender, Sent, Transient
from coaching.channels.registry import Channels, channels_for
from coaching.decisions import Go, Snapshot, Stop, Wait, decide
from coaching.tables import Nudge
from core import clock
from core.db import run_sql
from core.tables import Organization
from core.tenancy import Tenant
from journeys import templates
from journeys.customers.consent import add_consent, may_contact
from journeys.customers.schemas import ConsentIn
from journeys.definition import JourneyDefinition
from journeys.services import decoded, message_values
from journeys.tables import Customer, Enrollment, JourneyVersion, Step
from journeys.vocabulary import CHANNEL_ADDRESS
from settings import Settings, get_settings

log = logging.getLogger("slipguard.delivery")

OUTCOME_UNKNOWN = "outcome_unknown"  # set by the scheduler on a send that never finished
RECOVERY_LOOKBACK = timedelta(hours=2)

_CLAIM = (
    "UPDATE nudge SET status = 'sending', claimed_at = {}, updated_at = {} "
    "WHERE id = {} AND status = 'queued' RETURNING reason"
)

_channels: dict[int, Channels] = {}


def default_channels() -> Channels:
    """The channels of this process's settings, built once."""
    settings = get_settings()
    key = id(settings)
    if key not in _channels:
        _channels.clear()
        _channels[key] = channels_for(settings)
    return _channels[key]


@dataclass(frozen=True)
class Context:
    """What a send needs beyond the decision: the rows to render and address it."""

    nudge: Nudge
    customer: Customer
    organization: Organization
    step: Step | None
    enrollment: Enrollment | None
    definition: JourneyDefinition | None


async def deliver(
    nudge_id: UUID, channels: Channels | None = None, settings: Settings | None = None
) -> str:
    """Carry out one queued message; returns what became of it (for logs and tests)."""
    settings = settings or get_settings()
    now = clock.now()
    claimed = await run_sql(_CLAIM, now, now, nudge_id)
    if not claimed:
        return "not_queued"
    recovering = claimed[0]["reason"] == OUTCOME_UNKNOWN
    ctx = await _context(nudge_id)
    if ctx is None:
        await _finish(nudge_id, "cancelled", "customer_missing")
        return "cancelled"
    snapshot = await _snapshot(ctx, now)
    decision = decide(snapshot, now, settings.delivery.frequency_cap_per_day)
    if isinstance(decision, Stop):
        await _finish(nudge_id, decision.status, decision.reason)
        return decision.status
    if isinstance(decision, Wait):
        await _put_back(nudge_id, decision.until, decision.reason)
        return "held"
    assert isinstance(decision, Go)
    outgoing, locale = _compose(ctx, snapshot, settings)
    channel = (channels or default_channels()).of(ctx.nudge.channel)
    if recovering:
        since = now - RECOVERY_LOOKBACK
        try:
            found = await asyncio.to_thread(channel.find_sent, outgoing, since)
        except LookupError:
            await _put_back(nudge_id, now + timedelta(seconds=60), OUTCOME_UNKNOWN)
            return "held"
        if found is not None:
            await _record(nudge_id, Sent(found), channel.provider, outgoing, locale, now, settings)
            return "sent"
    if ctx.nudge.channel == "sms":
        slot = await pacing.reserve(
            outgoing.sender.key, now, settings.delivery.sender_rate_per_second
        )
        wait = (slot - clock.now()).total_seconds()
        if wait > settings.delivery.max_pacing_wait_seconds:
            await _put_back(nudge_id, slot, "paced")
            return "held"
        if wait > 0:
            await asyncio.sleep(wait)
    outcome = await asyncio.to_thread(channel.send, outgoing)
    return await _record(nudge_id, outcome, channel.provider, outgoing, locale, now, settings)


async def _context(nudge_id: UUID) -> Context | None:
    nudge = await Nudge.objects().where(Nudge.id == nudge_id).first()
    if nudge is None or nudge.customer is None:
        return None
    customer = await Customer.objects().where(Customer.id == nudge.customer).first()
    org = await Organization.objects().where(Organization.id == nudge.organization).first()
    if customer is None or org is None:
        return None
    step = await Step.objects().where(Step.id == nudge.step).first() if nudge.step else None
    enrollment = definition = None
    if nudge.enrollment is not None:
        enrollment = await Enrollment.objects().where(Enrollment.id == nudge.enrollment).first()
    if enrollment is not None:
        version = (
            await JourneyVersion.select(JourneyVersion.id, JourneyVersion.definition)
            .where(JourneyVersion.id == enrollment.journey_version)
            .first()
        )
        if version is not None:
            definition = decoded(version["id"], version["definition"])
    return Context(nudge, customer, org, step, enrollment, definition)


async def _snapshot(ctx: Context, now: datetime) -> Snapshot:
    n, c = ctx.nudge, ctx.customer
    tenant = Tenant(n.organization)
    recent = await (
        Nudge.select(Nudge.sent_at)
        .where(Nudge.customer == c.id)
        .where(Nudge.sent_at > now - timedelta(days=1))
    )
    return Snapshot(
        kind=n.kind,
        channel=n.channel,
        purpose=n.purpose,
        critical=bool(n.critical),
        unless_confirmed=bool(n.unless_confirmed),
        step_status=ctx.step.status if ctx.step else None,
        enrollment_status=ctx.enrollment.status if ctx.enrollment else None,
        erased=c.erased_at is not None,
        address=getattr(c, CHANNEL_ADDRESS.get(n.channel, "email"), None),
        consent=await may_contact(tenant, c.id, n.channel, n.purpose),
        timezone=c.timezone,
        window=(c.send_window_start, c.send_window_end),
        sent_last_day=[clock.as_utc(r["sent_at"]) for r in recent if r["sent_at"]],
    )


def pick_locale(wanted: str, available: list[str], fallback: str) -> str:
    """The customer's locale if the template has it, else one of the same language
    (``zh`` for ``zh-CN``, ``en`` for ``en-GB``), else the journey's first locale."""
    if wanted in available:
        return wanted
    language = wanted.split("-")[0].lower()
    for candidate in available:
        if candidate.split("-")[0].lower() == language:
            return candidate
    return fallback if fallback in available else available[0]


def _compose(ctx: Context, s: Snapshot, settings: Settings) -> tuple[Outgoing, str]:
    n, c, org = ctx.nudge, ctx.customer, ctx.organization
    base = {"first_name": c.first_name, "last_name": c.last_name, "org_name": org.name}
    base["link"] = settings.server.public_url
    d = ctx.definition
    locale = c.locale
    if d is not None and ctx.step is not None and ctx.enrollment is not None:
        by_locale = d.templates.get(n.template, {})
        locale = pick_locale(c.locale, list(by_locale), d.locales[0])
        anchors = {
            k: clock.as_utc(datetime.fromisoformat(v))
            for k, v in json.loads(ctx.enrollment.anchors).items()
        }
        values = message_values(
            d, ctx.step.behaviour, clock.as_utc(ctx.step.due_at), anchors,
            ZoneInfo(ctx.enrollment.timezone), base, locale,
        )  # fmt: skip
        body = templates.render(by_locale[locale], values)
        subject = f"{org.name}: {values['behaviour_title']}"
    else:
        body = templates.render("{{ org_name }}", base)
        subject = org.name
    sender = Sender(
        sms_from=org.sms_from or settings.twilio.from_number,
        messaging_service_sid=(
            org.messaging_service_sid
            or ("" if org.sms_from else settings.twilio.messaging_service_sid)
        ),
        email_from=settings.email.from_address,
    )
    footer = " · ".join(p for p in (org.name, org.postal_address, org.contact_phone) if p)
    outgoing = Outgoing(
        nudge_id=n.id,
        to=s.address or "",
        body=body,
        sender=sender,
        subject=subject,
        footer=footer if n.channel == "email" else "",
    )
    return outgoing, locale


def backoff(attempt: int, settings: Settings, retry_after: float | None) -> float:
    """Seconds before the next try: doubling from the base, capped, with full jitter in
    its upper half; never sooner than the provider asked."""
    d = settings.delivery
    ceiling = min(d.backoff_max_seconds, d.backoff_base_seconds * 2 ** max(0, attempt - 1))
    delay = random.uniform(ceiling / 2, ceiling)
    return max(delay, retry_after or 0.0)


async def _record(
    nudge_id: UUID,
    outcome: Outcome,
    provider: str,
    outgoing: Outgoing,
    locale: str,
    started: datetime,
    settings: Settings,
) -> str:
    now = clock.now()
    common: dict[Any, Any] = {
        Nudge.provider: provider,
        Nudge.body: outgoing.body,
        Nudge.locale: locale,
        Nudge.recipient: outgoing.to,
        Nudge.updated_at: now,
    }
    rows = await Nudge.select(
        Nudge.attempts, Nudge.organization, Nudge.customer, Nudge.channel
    ).where(Nudge.id == nudge_id)
    attempts = (rows[0]["attempts"] if rows else 0) + 1
    common[Nudge.attempts] = attempts
    sending = (Nudge.id == nudge_id) & (Nudge.status == "sending")
    if isinstance(outcome, Sent):
        await Nudge.update(
            {
                **common,
                Nudge.status: "sent",
                Nudge.reason: None,
                Nudge.provider_id: outcome.provider_id,
                Nudge.error_code: None,
                Nudge.sent_at: now,
            }
        ).where(sending)
        log.info(
            "message sent",
            extra={"nudge_id": str(nudge_id), "provider": provider,
                   "send_ms": round((now - started).total_seconds() * 1000)},
        )  # fmt: skip
        return "sent"
    if isinstance(outcome, Transient):
        if attempts >= settings.delivery.max_attempts:
            await Nudge.update(
                {**common, Nudge.status: "failed", Nudge.reason: "exhausted",
                 Nudge.error_code: outcome.code[:16]}
            ).where(sending)  # fmt: skip
            log.warning("message failed after its last attempt", extra={"nudge_id": str(nudge_id)})
            return "failed"
        wait = backoff(attempts, settings, outcome.retry_after)
        await Nudge.update(
            {**common, Nudge.status: "scheduled", Nudge.reason: "retrying",
             Nudge.error_code: outcome.code[:16],
             Nudge.send_after: now + timedelta(seconds=wait)}
        ).where(sending)  # fmt: skip
        log.info(
            "message will be retried",
            extra={"nudge_id": str(nudge_id), "code": outcome.code, "wait_s": round(wait, 1)},
        )
        return "retrying"
    assert isinstance(outcome, Permanent)
    await Nudge.update(
        {**common, Nudge.status: "failed", Nudge.reason: outcome.reason,
         Nudge.error_code: outcome.code[:16]}
    ).where(sending)  # fmt: skip
    if outcome.opted_out and rows and rows[0]["customer"] is not None:
        await _record_opt_out(rows[0], outcome)
    log.info(
        "message refused for good",
        extra={"nudge_id": str(nudge_id), "code": outcome.code, "reason": outcome.reason},
    )
    return "failed"


async def _record_opt_out(row: dict[str, Any], outcome: Permanent) -> None:
    """The provider says the customer unsubscribed: withdraw consent for every purpose on
    that channel, so nothing else is even tried."""
    tenant = Tenant(row["organization"])
    for purpose in ("informational", "marketing"):
        await add_consent(
            tenant,
            row["customer"],
            ConsentIn(
                channel=row["channel"],
                purpose=purpose,
                status="revoked",
                source="provider",
                text_shown="",
                evidence=f"provider error {outcome.code} ({outcome.reason})",
            ),
        )


async def _finish(nudge_id: UUID, status: str, reason: str) -> None:
    await Nudge.update(
        {Nudge.status: status, Nudge.reason: reason, Nudge.updated_at: clock.now()}
    ).where((Nudge.id == nudge_id) & (Nudge.status == "sending"))


async def _put_back(nudge_id: UUID, until: datetime, reason: str) -> None:
    await Nudge.update(
        {Nudge.status: "scheduled", Nudge.reason: reason, Nudge.send_after: until,
         Nudge.updated_at: clock.now()}
    ).where((Nudge.id == nudge_id) & (Nudge.status == "sending"))  # fmt: skip
