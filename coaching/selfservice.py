"""What a customer can do on their own page (``/c/<token>``, see :mod:`coaching.links`):
see their steps with what is expected of them and by when, say a step is done or that
they cannot do it (and why), set their preferences, and correct their details.

Every write is the customer's own, for their own rows only: a step id from the form is
looked up among the customer's steps, never the organisation's.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coaching import outbox
from coaching.errors import LinkRateLimited, SelfServiceInvalid, StepNotYours
from coaching.tables import PhoneCheck
from core import clock
from core.db import write_transaction
from core.ids import as_uuid, new_id
from core.keys import derived_key
from core.tenancy import Tenant
from journeys.customers.consent import add_consent, current_consent
from journeys.customers.normalize import normalize_hhmm, normalize_phone
from journeys.customers.records import get_customer, update_customer
from journeys.customers.schemas import ConsentIn, CustomerPatch
from journeys.definition import Behaviour, JourneyDefinition
from journeys.enrollments.jobs import close_overdue
from journeys.enrollments.services import complete_step
from journeys.services import definitions_by_version, local_fields
from journeys.tables import Customer, CustomerChange, Enrollment, Step
from journeys.vocabulary import Channel
from settings import Settings, get_settings
from slips.sources import record_customer_report

LOCALES = {"en": "English", "zh-CN": "中文"}
PAST_DAYS = 30
PAST_LIMIT = 30
OTHER = "other"
REASON_MAX = 500
PAUSE_MAX = timedelta(days=365)
CODE_TTL = timedelta(minutes=15)
CODE_ATTEMPTS = 5
CODES_PER_HOUR = 3
# The exact words shown next to each channel's tick box: consent records keep them.
CHANNEL_TEXT = {
    "en": {
        "sms": "Send me reminders and updates by text message",
        "email": "Send me reminders and updates by email",
    },
    "zh-CN": {"sms": "通过短信给我发送提醒和通知", "email": "通过电子邮件给我发送提醒和通知"},
}


def tenant_of(customer: Customer) -> Tenant:
    """The organisation the customer belongs to (their link's only scope)."""
    return Tenant(customer.organization)


def _resumes(customer: Customer) -> datetime | None:
    """When the customer's pause ends, while it lasts."""
    if customer.paused_until is None or clock.as_utc(customer.paused_until) <= clock.now():
        return None
    return clock.as_utc(customer.paused_until)


def paused_text(customer: Customer) -> str | None:
    """The local date reminders resume, when the customer paused them."""
    resume = _resumes(customer)
    if resume is None:
        return None
    return local_fields(resume, ZoneInfo(customer.timezone), page_locale(customer))["date"]


async def preference_form(customer: Customer) -> dict[str, Any]:
    """The preferences form as it stands: every field's current value."""
    consent = await current_consent(tenant_of(customer), customer.id)
    resume = _resumes(customer)
    paused = resume.astimezone(ZoneInfo(customer.timezone)) if resume else None
    sms, email = (consent.get((c, outbox.STEP_PURPOSE)) for c in ("sms", "email"))
    return {
        "locale": page_locale(customer),
        "window_start": customer.send_window_start,
        "window_end": customer.send_window_end,
        "pause_until": paused.date().isoformat() if paused else "",
        "sms": sms is not None and sms.granted,
        "email": email is not None and email.granted,
        "has_phone": bool(customer.phone),
        "has_email": bool(customer.email),
    }


def page_locale(customer: Customer) -> str:
    """The page's language: the customer's, else English."""
    return "zh-CN" if customer.locale.lower().startswith("zh") else "en"


@dataclass(frozen=True)
class Reason:
    key: str
    title: str
    guidance: str


@dataclass
class StepView:
    """One step as the customer sees it."""

    id: UUID
    behaviour: str
    title: str
    instructions: str
    status: str
    due: str  # local date and time, the customer's way
    by: str  # the last moment it counts as on time, local
    overdue: bool
    confirmable: bool
    reasons: list[Reason] = field(default_factory=list)


@dataclass(frozen=True)
class Streak:
    title: str
    current: int  # on-time steps in a row, the latest first
    done: int
    counted: int


@dataclass(frozen=True)
class Overview:
    upcoming: list[StepView]
    past: list[StepView]
    streaks: list[Streak]


def _reasons(b: Behaviour) -> list[Reason]:
    return [Reason(m.key, m.title or m.key, m.guidance) for m in b.failure_modes]


async def _steps(customer: Customer, since: datetime) -> list[dict[str, Any]]:
    return await (
        Step.select(
            Step.id,
            Step.behaviour,
            Step.due_at,
            Step.grace_until,
            Step.status,
            Step.confirmable,
            Step.enrollment.journey_version.as_alias("version"),
            Step.enrollment.timezone.as_alias("timezone"),
        )
        .where(
            (Step.customer == customer.id)
            & (Step.organization == customer.organization)
            & (Step.due_at >= since)
            & (Step.status != "cancelled")
        )
        .order_by(Step.due_at)
    )


async def overview(customer: Customer, now: datetime | None = None) -> Overview:
    """The customer's open steps (soonest first), the last month's closed ones (latest
    first) and, per recurring behaviour, how many in a row they have done."""
    now = now or clock.now()
    locale = page_locale(customer)
    rows = await _steps(customer, now - timedelta(days=PAST_DAYS))
    definitions, _ = await definitions_by_version({as_uuid(r["version"]) for r in rows})
    upcoming: list[StepView] = []
    past: list[StepView] = []
    history: dict[str, list[str]] = defaultdict(list)
    titles: dict[str, str] = {}
    for r in rows:
        d: JourneyDefinition | None = definitions.get(as_uuid(r["version"]))
        b = d.behaviour(r["behaviour"]) if d else None
        if b is None:
            continue
        tz = ZoneInfo(r["timezone"] or customer.timezone)
        due, grace = clock.as_utc(r["due_at"]), clock.as_utc(r["grace_until"])
        when = local_fields(due, tz, locale)
        by = local_fields(grace, tz, locale)
        view = StepView(
            id=as_uuid(r["id"]),
            behaviour=b.key,
            title=b.title,
            instructions=b.instructions,
            status=r["status"],
            due=f"{when['date']} {when['time']}",
            by=f"{by['date']} {by['time']}",
            overdue=r["status"] == "pending" and due < now,
            confirmable=bool(r["confirmable"]),
            reasons=_reasons(b),
        )
        if r["status"] == "pending":
            upcoming.append(view)
        else:
            past.append(view)
            history[b.key].append(r["status"])
            titles[b.key] = b.title
    streaks = []
    for key, statuses in history.items():
        if len(statuses) < 2:
            continue  # a one-off step has no streak
        current = 0
        for status in reversed(statuses):
            if status == "excused":
                continue
            if status != "done":
                break
            current += 1
        counted = [s for s in statuses if s != "excused"]
        streaks.append(Streak(titles[key], current, counted.count("done"), len(counted)))
    past.reverse()
    return Overview(upcoming, past[:PAST_LIMIT], streaks)


async def _own_step(customer: Customer, step_id: UUID) -> tuple[Step, Behaviour, str]:
    """The customer's step with its behaviour and journey key; anything else is not found."""
    tenant = Tenant(customer.organization)
    step = (
        await tenant.objects(Step)
        .where((Step.id == step_id) & (Step.customer == customer.id))
        .first()
    )
    if step is None:
        raise StepNotYours("step: not one of your steps")
    row = await (
        Enrollment.select(Enrollment.journey_version, Enrollment.journey.key.as_alias("key"))
        .where(Enrollment.id == step.enrollment)
        .first()
    )
    assert row is not None  # a step always has its enrollment
    definitions, _ = await definitions_by_version([as_uuid(row["journey_version"])])
    d = definitions.get(as_uuid(row["journey_version"]))
    b = d.behaviour(step.behaviour) if d else None
    if b is None:
        raise StepNotYours("step: not one of your steps")
    return step, b, row["key"]


async def mark_done(customer: Customer, step_id: UUID) -> None:
    """The customer says they did it: the step is done and its reminders stop."""
    step, _, _ = await _own_step(customer, step_id)
    await complete_step(Tenant(customer.organization), step.id, "link")


async def report_missed(customer: Customer, step_id: UUID, reason: str, text: str = "") -> UUID:
    """The customer says they cannot do (or missed) a step, and why: an open step is closed
    as missed and its messages stop; the reason becomes a customer-reported slip, which the
    follow-up policy answers by its cause. Reporting the same step twice records it once."""
    step, b, journey_key = await _own_step(customer, step_id)
    modes = {m.key for m in b.failure_modes}
    text = text.strip()
    if reason != OTHER and reason not in modes:
        raise SelfServiceInvalid(f"reason: choose one of the listed reasons, not {reason!r}")
    if reason == OTHER and not text:
        raise SelfServiceInvalid("text: say in a few words what got in the way")
    if len(text) > REASON_MAX:
        raise SelfServiceInvalid(f"text: at most {REASON_MAX} characters")
    if step.status in ("done", "cancelled"):
        raise SelfServiceInvalid(f"step: this step is already {step.status}")
    tenant = Tenant(customer.organization)
    now = clock.now()
    async with write_transaction():
        if step.status == "pending":
            await close_overdue(tenant, [step.id])
            await outbox.cancel_for_step(tenant, step.id, "customer_cannot", now)
        slip = await record_customer_report(
            tenant, customer.id, journey_key, b.key, text or reason, step_id=step.id,
            key=f"page:{step.id}", failure_mode=None if reason == OTHER else reason,
        )  # fmt: skip
    return slip.id


@dataclass(frozen=True)
class Preferences:
    """What the preferences form sends (already strings from the form)."""

    locale: str
    window_start: str
    window_end: str
    pause_until: str  # a local date (YYYY-MM-DD) or empty for no pause
    sms: bool
    email: bool


async def _record(tenant: Tenant, customer: UUID, name: str, old: str, new: str) -> None:
    await CustomerChange.insert(
        tenant.new(
            CustomerChange,
            id=new_id(),
            customer=customer,
            field=name,
            old_value=old[:64],
            new_value=new[:64],
            source="customer",
            recorded_at=clock.now(),
        )
    )


def _pause_moment(raw: str, tz: ZoneInfo, now: datetime) -> datetime | None:
    if not raw.strip():
        return None
    try:
        day = date.fromisoformat(raw.strip())
    except ValueError:
        raise SelfServiceInvalid("pause_until: give a date like 2027-01-31") from None
    moment = datetime.combine(day, time(0, 0), tz)
    if moment <= now:
        raise SelfServiceInvalid("pause_until: choose a date after today")
    if moment - now > PAUSE_MAX:
        raise SelfServiceInvalid("pause_until: at most one year ahead")
    return clock.as_utc(moment)


async def update_preferences(customer: Customer, p: Preferences, evidence: str) -> list[str]:
    """Apply the preferences form; returns the names of what changed. Language, quiet hours
    and pause are recorded as :class:`CustomerChange` rows; channels as consent records
    with the exact words shown and ``evidence`` (how the page was reached)."""
    tenant = Tenant(customer.organization)
    now = clock.now()
    if p.locale not in LOCALES:
        raise SelfServiceInvalid(f"locale: choose one of {', '.join(LOCALES)}")
    try:
        start, end = normalize_hhmm(p.window_start), normalize_hhmm(p.window_end)
    except ValueError as exc:
        raise SelfServiceInvalid(f"quiet hours: {exc}") from None
    if start == end:
        raise SelfServiceInvalid("quiet hours: the start and end of the day must differ")
    pause = _pause_moment(p.pause_until, ZoneInfo(customer.timezone), now)
    wanted: dict[Channel, bool] = {"sms": p.sms, "email": p.email}
    addresses = {"sms": customer.phone, "email": customer.email}
    for channel, on in wanted.items():
        if on and not addresses[channel]:
            needed = "phone number" if channel == "sms" else "email address"
            raise SelfServiceInvalid(f"{channel}: add your {needed} first")
    consent = await current_consent(tenant, customer.id)
    changed: list[str] = []
    shown = CHANNEL_TEXT[page_locale(customer)]
    async with write_transaction():
        current = await get_customer(tenant, customer.id)
        values: dict[Any, Any] = {}
        for name, column, new in (
            ("locale", Customer.locale, p.locale),
            ("send_window_start", Customer.send_window_start, start),
            ("send_window_end", Customer.send_window_end, end),
        ):
            old = getattr(current, name)
            if old != new:
                values[column] = new
                await _record(tenant, customer.id, name, old, new)
                changed.append(name)
        old_pause = clock.as_utc(current.paused_until) if current.paused_until else None
        if old_pause != pause:
            values[Customer.paused_until] = pause
            await _record(
                tenant, customer.id, "paused_until",
                old_pause.isoformat() if old_pause else "", pause.isoformat() if pause else "",
            )  # fmt: skip
            changed.append("paused_until")
        if values:
            values[Customer.updated_at] = now
            await tenant.update(Customer, values).where(Customer.id == customer.id)
        for channel, on in wanted.items():
            state = consent.get((channel, outbox.STEP_PURPOSE))
            was_on = state is not None and state.granted
            if was_on != on:
                await add_consent(
                    tenant,
                    customer.id,
                    ConsentIn(
                        channel=channel,
                        purpose="informational",
                        status="granted" if on else "revoked",
                        source="web",
                        text_shown=shown[channel],
                        evidence=evidence[:500],
                    ),
                )
                changed.append(channel)
    return changed


async def correct_details(
    customer: Customer, first_name: str, last_name: str, email: str
) -> list[str]:
    """Change name and email as typed (checked like staff edits); returns what changed.
    A phone number changes only through :func:`start_phone_change`."""
    tenant = Tenant(customer.organization)
    patch: dict[str, Any] = {}
    if first_name.strip() != customer.first_name:
        patch["first_name"] = first_name
    if last_name.strip() != customer.last_name:
        patch["last_name"] = last_name
    new_email = email.strip() or None
    if new_email != customer.email:
        patch["email"] = new_email
    if not patch:
        return []
    async with write_transaction():
        await update_customer(tenant, customer.id, CustomerPatch(**patch))
        for name in patch:
            await _record(tenant, customer.id, name, "", "")  # which field, never the value
    return sorted(patch)


def _code_hash(settings: Settings, check_id: UUID, code: str) -> str:
    key = derived_key(settings, "phone-check")
    return hmac.new(key, f"{check_id}:{code}".encode(), hashlib.sha256).hexdigest()


async def _checked_phone(customer: Customer, raw_phone: str, settings: Settings) -> str:
    """The typed number in E.164, when a code may be sent to it (nothing is written)."""
    try:
        phone = normalize_phone(raw_phone, settings.default_phone_region)
    except ValueError as exc:
        raise SelfServiceInvalid(f"phone: {exc}") from None
    if phone == customer.phone:
        raise SelfServiceInvalid("phone: this is already your number")
    recent = await outbox.written_since(
        tenant_of(customer), customer.id, outbox.VERIFY_TEMPLATE, clock.now() - timedelta(hours=1)
    )
    if recent >= CODES_PER_HOUR:
        raise LinkRateLimited("three codes were sent in the last hour; please wait a while")
    return phone


async def _send_code(customer: Customer, phone: str, settings: Settings) -> UUID:
    tenant = tenant_of(customer)
    now = clock.now()
    code = f"{secrets.randbelow(1_000_000):06d}"
    check_id = new_id()
    body = (
        f"您的验证码是 {code}，15分钟内有效。"  # noqa: RUF001 - Chinese punctuation
        if page_locale(customer) == "zh-CN"
        else f"Your code is {code}. It works for 15 minutes."
    )
    async with write_transaction():
        await tenant.delete(PhoneCheck).where(PhoneCheck.customer == customer.id)
        await PhoneCheck.insert(
            tenant.new(
                PhoneCheck,
                id=check_id,
                customer=customer.id,
                phone=phone,
                code_hash=_code_hash(settings, check_id, code),
                expires_at=now + CODE_TTL,
                created_at=now,
            )
        )
        await outbox.plan_message(
            tenant, customer=customer.id, dedupe_key=f"verify:{check_id}", kind="verify",
            channel="sms", template=outbox.VERIFY_TEMPLATE, due_at=now, critical=True,
            body=body, recipient=phone,
        )  # fmt: skip
    return check_id


async def start_phone_change(
    customer: Customer, raw_phone: str, settings: Settings | None = None
) -> UUID:
    """Text a six-digit code to the number the customer typed; the number on file changes
    when they type it back (:func:`confirm_phone_change`). At most three codes an hour."""
    settings = settings or get_settings()
    return await _send_code(customer, await _checked_phone(customer, raw_phone, settings), settings)


async def update_details(
    customer: Customer, first_name: str, last_name: str, email: str, phone: str,
    settings: Settings | None = None,
) -> list[str]:  # fmt: skip
    """The "correct my details" form, all or nothing: name and email as typed and, when a
    new phone is given, its code; a bad number (or too many codes) changes nothing."""
    settings = settings or get_settings()
    new_phone = await _checked_phone(customer, phone, settings) if phone.strip() else None
    async with write_transaction():
        changed = await correct_details(customer, first_name, last_name, email)
        if new_phone is not None:
            await _send_code(customer, new_phone, settings)
    return changed


async def confirm_phone_change(
    customer: Customer, code: str, settings: Settings | None = None
) -> str:
    """Put the new number on file when ``code`` is the one texted to it; returns it. Five
    wrong tries or fifteen minutes end the code."""
    settings = settings or get_settings()
    tenant = Tenant(customer.organization)
    now = clock.now()
    check = await tenant.objects(PhoneCheck).where(PhoneCheck.customer == customer.id).first()
    if check is None or clock.as_utc(check.expires_at) <= now or check.attempts >= CODE_ATTEMPTS:
        raise SelfServiceInvalid("code: this code has expired; ask for a new one")
    if not hmac.compare_digest(check.code_hash, _code_hash(settings, check.id, code.strip())):
        await tenant.update(PhoneCheck, {PhoneCheck.attempts: PhoneCheck.attempts + 1}).where(
            PhoneCheck.id == check.id
        )
        raise SelfServiceInvalid("code: that is not the code we sent")
    async with write_transaction():
        await update_customer(tenant, customer.id, CustomerPatch(phone=check.phone))
        await tenant.delete(PhoneCheck).where(PhoneCheck.id == check.id)
        await _record(tenant, customer.id, "phone", "", "")
    return check.phone


async def pending_phone(customer: Customer) -> str | None:
    """The number a code was sent to and not yet confirmed, if any."""
    check = (
        await Tenant(customer.organization)
        .objects(PhoneCheck)
        .where((PhoneCheck.customer == customer.id) & (PhoneCheck.expires_at > clock.now()))
        .first()
    )
    return check.phone if check else None
