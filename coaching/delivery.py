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
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from piccolo.engine.postgres import PostgresEngine

from coaching import instruments, links, outbox, pacing, unsubscribe
from coaching.channels.base import Channel, Outcome, Outgoing, Permanent, Sender, Sent, Transient
from coaching.channels.registry import Channels, channels_for
from coaching.decisions import Go, Snapshot, Stop, Wait, decide
from coaching.outbox import WRITTEN_TEMPLATES
from coaching.tables import Nudge
from core import clock
from core.db import engine, run_sql
from core.ids import as_uuid
from core.tenancy import Tenant
from journeys import templates
from journeys.customers.consent import LATEST_CONSENT_STATUS, add_consent
from journeys.customers.schemas import ConsentIn
from journeys.definition import JourneyDefinition
from journeys.services import cached, decoded, message_values
from journeys.tables import JourneyVersion
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


# Everything a send needs, in one statement: the message, its customer, organisation,
# step, enrollment and journey version, the customer's latest consent for the message's
# channel and purpose, and how many of their messages went out in the last 24 hours.
_COLUMNS = f"""
n.id, n.organization, n.customer, n.kind, n.channel, n.purpose, n.critical,
       n.template, n.unless_confirmed, n.body AS planned_body, n.recipient AS planned_recipient,
       c.id AS customer_found, c.first_name, c.last_name, c.phone, c.email, c.locale,
       c.timezone, c.send_window_start, c.send_window_end, c.erased_at, c.paused_until,
       o.name AS org_name, o.sms_from, o.messaging_service_sid, o.contact_phone,
       o.postal_address,
       s.status AS step_status, s.behaviour, s.due_at AS step_due_at,
       e.status AS enrollment_status, e.anchors, e.timezone AS enrollment_timezone,
       e.journey_version,
       ({LATEST_CONSENT_STATUS}) AS consent_status,
       (SELECT COUNT(*) FROM nudge r WHERE r.customer = n.customer AND r.sent_at > {{}})
         AS sent_last_day"""
_JOINS = """
LEFT JOIN customer c ON c.id = n.customer
LEFT JOIN organization o ON o.id = n.organization
LEFT JOIN step s ON s.id = n.step
LEFT JOIN enrollment e ON e.id = n.enrollment"""
_CONTEXT = f"SELECT {_COLUMNS} FROM nudge n {_JOINS} WHERE n.id = {{}}"
# PostgreSQL claims the row and reads everything its send depends on in one statement
# (one round trip fewer per message on the worker's single event-loop thread). SQLite
# cannot put an UPDATE in a WITH clause: there the claim and the read are two statements.
_CLAIM_AND_CONTEXT = f"""
WITH claimed AS (
  UPDATE nudge SET status = 'sending', claimed_at = {{}}, updated_at = {{}}
  WHERE id = {{}} AND status = 'queued' RETURNING *
)
SELECT n.reason AS claimed_reason, {_COLUMNS} FROM claimed n {_JOINS}
"""


@dataclass(frozen=True)
class Context:
    """A message and what its send depends on (one row of ``_CONTEXT``)."""

    row: dict[str, Any]
    definition: JourneyDefinition | None

    def __getitem__(self, key: str) -> Any:
        return self.row[key]


async def deliver(
    nudge_id: UUID, channels: Channels | None = None, settings: Settings | None = None
) -> str:
    """Carry out one queued message; returns what became of it (for logs and tests)."""
    settings = settings or get_settings()
    now = clock.now()
    claimed = await _claim(nudge_id, now)
    if claimed is None:
        return "not_queued"
    recovering, ctx = claimed
    cap = settings.delivery.frequency_cap_per_day
    if ctx is None:
        await _finish(nudge_id, "cancelled", "customer_missing")
        return "cancelled"
    snapshot = await _snapshot(ctx, now, cap)
    decision = decide(snapshot, now, cap)
    if isinstance(decision, Stop):
        await _finish(nudge_id, decision.status, decision.reason)
        return decision.status
    if isinstance(decision, Wait):
        await _put_back(nudge_id, decision.until, decision.reason)
        return "held"
    assert isinstance(decision, Go)
    outgoing, locale = _compose(ctx, snapshot, settings)
    channel = (channels or default_channels()).of(ctx["channel"])
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
    if channel.provider == "twilio":  # pacing is the provider's limit per sender
        d = settings.delivery
        slot, mine = await pacing.reserve(
            outgoing.sender.key, clock.now(), d.sender_rate_per_second, d.max_pacing_wait_seconds
        )
        if not mine:
            await _put_back(nudge_id, slot, "paced")
            return "held"
    else:
        slot = now
    # Wait on the loop until just before the slot, then the last moment on the sending
    # thread: a sending thread is never held up by another message's wait.
    early = (slot - clock.now()).total_seconds() - 0.05
    if early > 0:
        await asyncio.sleep(early)
    loop = asyncio.get_running_loop()
    outcome = await loop.run_in_executor(_senders(), _send_at, channel, outgoing, slot)
    return await _record(nudge_id, outcome, channel.provider, outgoing, locale, now, settings)


_pool: list[ThreadPoolExecutor] = []


def use_sender_threads(threads: int) -> None:
    """Size the pool for provider calls to the worker's thread count (call before work)."""
    if not _pool:
        _pool.append(ThreadPoolExecutor(max(4, threads), thread_name_prefix="send"))


def _senders() -> ThreadPoolExecutor:
    """Threads for provider calls (blocking SDKs), as many as the worker's threads: the
    loop's default pool has only cores + 4, which capped sends in flight below that."""
    use_sender_threads(get_settings().broker.worker_threads)
    return _pool[0]


def _send_at(channel: Channel, outgoing: Outgoing, slot: datetime) -> Outcome:
    """Send on the reserved slot. The wait happens on the sending thread, right before
    the request: waking a coroutine on a busy event loop first added tens of
    milliseconds of jitter, enough for the provider to count one request too many."""
    wait = (slot - clock.now()).total_seconds()
    if wait > 0:
        time.sleep(wait)
    return channel.send(outgoing)


async def _claim(nudge_id: UUID, now: datetime) -> tuple[bool, Context | None] | None:
    """Move the message from ``queued`` to ``sending`` and read its context: None when it
    was not queued (another delivery has it), else whether this send recovers a lost
    outcome, and the context (None when its customer is gone)."""
    day_ago = now - timedelta(days=1)
    if isinstance(engine(), PostgresEngine):
        rows = await run_sql(_CLAIM_AND_CONTEXT, now, now, nudge_id, day_ago)
        if not rows:
            return None
        row = dict(rows[0])
        return row.pop("claimed_reason") == OUTCOME_UNKNOWN, await _context(row)
    claimed = await run_sql(_CLAIM, now, now, nudge_id)
    if not claimed:
        return None
    rows = await run_sql(_CONTEXT, day_ago, nudge_id)
    return (
        claimed[0]["reason"] == OUTCOME_UNKNOWN,
        await _context(dict(rows[0])) if rows else None,
    )


async def _context(row: dict[str, Any]) -> Context | None:
    if row["customer_found"] is None:
        return None
    definition = None
    version = row["journey_version"]
    if version is not None:
        version = as_uuid(version)
        definition = cached(version)
        if definition is None:
            stored = await JourneyVersion.select(JourneyVersion.definition).where(
                JourneyVersion.id == version
            )
            definition = decoded(version, stored[0]["definition"]) if stored else None
    return Context(row, definition)


async def _snapshot(ctx: Context, now: datetime, cap: int) -> Snapshot:
    recent: list[datetime] = []
    if ctx["sent_last_day"] >= cap:  # only then do the times matter
        rows = await Nudge.select(Nudge.sent_at).where(
            (Nudge.customer == ctx["customer"]) & (Nudge.sent_at > now - timedelta(days=1))
        )
        recent = [clock.as_utc(r["sent_at"]) for r in rows if r["sent_at"]]
    # A code for a new phone goes to the number the customer typed on their page (and is
    # only sent because they asked for it there, which is their consent to it).
    verify = ctx["template"] == outbox.VERIFY_TEMPLATE
    paused = ctx["paused_until"]
    return Snapshot(
        kind=ctx["kind"],
        channel=ctx["channel"],
        purpose=ctx["purpose"],
        critical=bool(ctx["critical"]),
        unless_confirmed=bool(ctx["unless_confirmed"]),
        step_status=ctx["step_status"],
        enrollment_status=ctx["enrollment_status"],
        erased=ctx["erased_at"] is not None,
        address=ctx["planned_recipient"]
        if verify
        else ctx[CHANNEL_ADDRESS.get(ctx["channel"], "email")],
        consent=verify or ctx["consent_status"] == "granted",
        timezone=ctx["timezone"],
        window=(ctx["send_window_start"], ctx["send_window_end"]),
        sent_last_day=recent,
        paused=paused is not None and clock.as_utc(paused) > now,
        requested=str(ctx["template"]) in (outbox.LINK_TEMPLATE, outbox.VERIFY_TEMPLATE),
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
    base = {
        "first_name": ctx["first_name"],
        "last_name": ctx["last_name"],
        "org_name": ctx["org_name"],
        "link": links.link(settings, as_uuid(ctx["customer"])),
    }
    d = ctx.definition
    locale = ctx["locale"]
    if ctx["planned_body"] and str(ctx["template"]).startswith(WRITTEN_TEMPLATES):
        # A follow-up or an advisory was rendered when it was written.
        body, subject = ctx["planned_body"], ctx["org_name"]
    elif d is not None and ctx["behaviour"] is not None and ctx["anchors"] is not None:
        by_locale = d.templates.get(ctx["template"], {})
        locale = pick_locale(locale, list(by_locale), d.locales[0])
        anchors = {
            k: clock.as_utc(datetime.fromisoformat(v))
            for k, v in json.loads(ctx["anchors"]).items()
        }
        values = message_values(
            d, ctx["behaviour"], clock.as_utc(ctx["step_due_at"]), anchors,
            ZoneInfo(ctx["enrollment_timezone"]), base, locale,
        )  # fmt: skip
        body = templates.render(by_locale[locale], values)
        subject = f"{ctx['org_name']}: {values['behaviour_title']}"
    else:
        body = templates.render("{{ org_name }}", base)
        subject = ctx["org_name"]
    own_number, own_service = ctx["sms_from"], ctx["messaging_service_sid"]
    sender = Sender(
        sms_from=own_number or settings.twilio.from_number,
        messaging_service_sid=(
            own_service or ("" if own_number else settings.twilio.messaging_service_sid)
        ),
        email_from="",  # the mail channel's own address (SLIPGUARD_EMAIL_FROM)
    )
    footer = " · ".join(
        p for p in (ctx["org_name"], ctx["postal_address"], ctx["contact_phone"]) if p
    )
    nudge_id = as_uuid(ctx["id"])
    unsubscribe_url = page_url = None
    if ctx["channel"] == "email":
        customer = as_uuid(ctx["customer"])
        unsubscribe_url = unsubscribe.link(
            settings, unsubscribe.Target(customer, "email", ctx["purpose"])
        )
        page_url = base["link"]
    outgoing = Outgoing(
        nudge_id=nudge_id,
        to=s.address or "",
        body=body,
        sender=sender,
        subject=subject,
        footer=footer if ctx["channel"] == "email" else "",
        unsubscribe_url=unsubscribe_url,
        page_url=page_url,
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
    """Write the outcome of a send (only onto a row still ``sending``: a row moved on by
    someone else is left alone)."""
    now = clock.now()
    took = max(0.0, (now - started).total_seconds())
    if isinstance(outcome, Sent):
        row = await _settle(nudge_id, now, provider, outgoing, locale, "sent", None, None,
                            sent_at=now, provider_id=outcome.provider_id)  # fmt: skip
        if row is not None:
            channel = row["channel"]
            instruments.SETTLED.labels(channel, "sent").inc()
            instruments.SEND_TIME.labels(channel).observe(took)
            late = (now - clock.as_utc(row["due_at"])).total_seconds()
            instruments.LATENESS.labels(channel).observe(max(0.0, late))
        log.info(
            "message sent",
            extra={"nudge_id": str(nudge_id), "provider": provider,
                   "send_ms": round((now - started).total_seconds() * 1000)},
        )  # fmt: skip
        return "sent"
    if isinstance(outcome, Transient):
        row = await _settle(nudge_id, now, provider, outgoing, locale, "scheduled",
                            "retrying", outcome.code)  # fmt: skip
        attempts = row["attempts"] if row else 0
        exhausted = attempts >= settings.delivery.max_attempts
        if row is not None:
            instruments.SETTLED.labels(row["channel"], "failed" if exhausted else "retrying").inc()
            instruments.SEND_TIME.labels(row["channel"]).observe(took)
        if exhausted:
            await Nudge.update(
                {Nudge.status: "failed", Nudge.reason: "exhausted", Nudge.updated_at: now}
            ).where((Nudge.id == nudge_id) & (Nudge.status == "scheduled"))
            log.warning("message failed after its last attempt", extra={"nudge_id": str(nudge_id)})
            return "failed"
        wait = backoff(attempts, settings, outcome.retry_after)
        await Nudge.update({Nudge.send_after: now + timedelta(seconds=wait)}).where(
            (Nudge.id == nudge_id) & (Nudge.status == "scheduled")
        )
        log.info(
            "message will be retried",
            extra={"nudge_id": str(nudge_id), "code": outcome.code, "wait_s": round(wait, 1)},
        )
        return "retrying"
    assert isinstance(outcome, Permanent)
    row = await _settle(nudge_id, now, provider, outgoing, locale, "failed", outcome.reason,
                        outcome.code)  # fmt: skip
    if row is not None:
        instruments.SETTLED.labels(row["channel"], "failed").inc()
        instruments.SEND_TIME.labels(row["channel"]).observe(took)
    if outcome.opted_out and row and row["customer"] is not None:
        await _record_opt_out(row, outcome)
    log.info(
        "message refused for good",
        extra={"nudge_id": str(nudge_id), "code": outcome.code, "reason": outcome.reason},
    )
    return "failed"


_SETTLE = (
    "UPDATE nudge SET status = {}, reason = {}, error_code = {}, attempts = attempts + 1, "
    "provider = {}, body = {}, locale = {}, recipient = {}, updated_at = {}{extra} "
    "WHERE id = {} AND status = 'sending' "
    "RETURNING attempts, organization, customer, channel, due_at"
)


async def _settle(
    nudge_id: UUID,
    now: datetime,
    provider: str,
    outgoing: Outgoing,
    locale: str,
    status: str,
    reason: str | None,
    code: str | None,
    sent_at: datetime | None = None,
    provider_id: str | None = None,
) -> dict[str, Any] | None:
    extra = ", sent_at = {}, provider_id = {}" if sent_at is not None else ""
    args: list[Any] = [status, reason, code[:16] if code else None, provider, outgoing.body,
                       locale, outgoing.to, now]  # fmt: skip
    if sent_at is not None:
        args += [sent_at, provider_id]
    rows = await run_sql(_SETTLE.replace("{extra}", extra), *args, nudge_id)
    return dict(rows[0]) if rows else None


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
