"""Applying the follow-up policy: the seam between slips and coaching.

Slips (and the ``system`` slips of missed steps) are written by ``slips/``, which cannot
call coaching. This scheduler job picks up slips not yet followed up, asks
:func:`coaching.policy.decide`, and writes the answer — messages to the outbox, staff tasks
— in the same transaction as a :class:`FollowUp` marker that is unique per slip. Two
schedulers may run it at once: the second finds the marker (or waits for it and then finds
it) and writes nothing. Every row written carries a unique key naming its cause, so even a
rival path cannot write it twice.

Messages are rendered when they are written (their ``body``), in the customer's language,
and go through the outbox like any other: consent, the sending window and the daily cap
are checked at send time. The job commits per organisation and sets aside an organisation
whose follow-ups fail, so one organisation's bad row never stops another's work.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coaching import tasks
from coaching.outbox import NUDGE_COLUMNS, PG_TYPES, PLANNED_PREFIX, STEP_PURPOSE
from coaching.policy import Decision, Message, Situation, decide
from core import clock
from core.db import insert_rows, run_sql, write_transaction
from core.ids import as_uuid, new_id
from core.isolation import Quarantine
from core.tables import Organization
from core.tenancy import Tenant
from journeys import templates
from journeys.definition import Behaviour, JourneyDefinition
from journeys.durations import parse_duration
from journeys.services import definitions_by_version, local_fields
from journeys.tables import Customer, Enrollment, Step
from slips.tables import Slip

BAD_ORGANIZATIONS: Quarantine[UUID] = Quarantine("follow up slips", "organisation")
BAD_VERSIONS: Quarantine[UUID] = Quarantine("follow up slips", "journey version")
# Slips older than this when first seen are history, not something to answer now (a
# deployment that turns follow-ups on must not text everyone about last year).
LOOKBACK = timedelta(days=7)

# How each message sits in the outbox: its kind and its place among the step's messages
# (below zero: a behaviour's own nudges count up from 0, and (step, position) is unique).
KIND: dict[Message, str] = {
    "why": "follow_up", "guidance": "follow_up", "encourage": "follow_up",
    "extra_reminder": "reminder", "recovery": "recovery", "check_back": "recovery",
}  # fmt: skip
POSITION: dict[Message, int] = {
    "why": -1, "guidance": -2, "encourage": -3, "extra_reminder": -4,
    "recovery": -5, "check_back": -6,
}  # fmt: skip
COLUMNS = (*NUDGE_COLUMNS, "body")
TYPES = (*PG_TYPES, "text")

# Built-in texts (Jinja, in the sandbox), English and Chinese; other locales get English.
# One message a line, ``name: text``; ``\\n`` is a line break.
EN = """\
why: {{ first_name }}, {{ behaviour_title }} was missed on {{ due_date }}. What got in the way? Reply with a number:\\n{{ options }}
guidance: {{ first_name }}, how to {{ behaviour_title | lower }}: {{ instructions }} {{ guidance }}
encourage: {{ first_name }}, you have done this before and you can do it again: {{ behaviour_title | lower }} matters. {{ guidance }} {{ org_name }}
extra_reminder: {{ first_name }}, coming up on {{ due_date }} at {{ due_time }}: {{ behaviour_title | lower }}. {{ guidance }}
recovery: {{ first_name }}, we are sorry for the trouble with {{ behaviour_title | lower }}. This is {{ org_name }}. A member of our team will look into it and contact you within {{ handle_hours }} hours. We will check back with you on {{ check_back_date }}.
check_back: {{ first_name }}, this is {{ org_name }} checking back about your complaint. Has it been put right? Reply to tell us{% if contact_phone %} or call {{ contact_phone }}{% endif %}.
"""  # noqa: E501
ZH = """\
why: {{ first_name }}，您 {{ due_date }} 的“{{ behaviour_title }}”未完成。是什么原因？请回复数字：\\n{{ options }}
guidance: {{ first_name }}，关于“{{ behaviour_title }}”：{{ instructions }} {{ guidance }}
encourage: {{ first_name }}，您以前做到过，这次也一定可以：“{{ behaviour_title }}”很重要。{{ guidance }} {{ org_name }}
extra_reminder: {{ first_name }}，{{ due_date }} {{ due_time }}：{{ behaviour_title }}。{{ guidance }}
recovery: {{ first_name }}，关于“{{ behaviour_title }}”给您带来的不便，我们深表歉意。我们是{{ org_name }}。我们的工作人员会在 {{ handle_hours }} 小时内处理并联系您。我们将在 {{ check_back_date }} 再次与您确认。
check_back: {{ first_name }}，我们是{{ org_name }}，就您的投诉回访：问题解决了吗？请回复告诉我们{% if contact_phone %}，或致电 {{ contact_phone }}{% endif %}。
"""  # noqa: E501, RUF001 - full-width punctuation is right in Chinese


def _texts(block: str) -> dict[str, str]:
    lines = (line.split(": ", 1) for line in block.splitlines() if line)
    return {name: text.replace("\\n", "\n") for name, text in lines}


TEXTS: dict[str, dict[str, str]] = {
    name: {"en": en, "zh-CN": _texts(ZH)[name]} for name, en in _texts(EN).items()
}


@dataclass(frozen=True)
class Written:
    """What following up one slip wrote (for logs and tests)."""

    slip: UUID
    decision: Decision
    nudges: list[UUID]
    task: UUID | None


def _locale(wanted: str) -> str:
    if wanted in ("en", "zh-CN"):
        return wanted
    return "zh-CN" if wanted.lower().startswith("zh") else "en"


def render(message: Message, locale: str, values: dict[str, Any]) -> str:
    """A built-in text in the customer's language (whitespace of empty parts folded)."""
    text = templates.render(TEXTS[message][_locale(locale)], values)
    return "\n".join(" ".join(line.split()) for line in text.split("\n"))


def why_options(behaviour: Behaviour) -> list[str]:
    """The numbered answers to "why did you miss?": the behaviour's failure modes in
    definition order, 1..n (a reply "2" names the second)."""
    return [
        f"{n}. {mode.title or mode.key.replace('-', ' ')}"
        for n, mode in enumerate(behaviour.failure_modes, 1)
    ]


@dataclass
class _World:
    """What one organisation's follow-ups read, fetched once per batch."""

    org: Organization
    definitions: dict[UUID, JourneyDefinition]
    customers: dict[UUID, Customer]
    steps: dict[UUID, Step]
    holdout: set[UUID]  # enrollments in the comparison group: their messages are not sent


def _channel(c: Customer) -> tuple[str, str] | None:
    """The channel to reach the customer on (consent is checked when it is sent)."""
    if c.erased_at is not None:
        return None
    if c.phone:
        return "sms", c.phone
    if c.email:
        return "email", c.email
    return None


def _values(
    world: _World,
    c: Customer,
    behaviour: Behaviour,
    when: datetime,
    locale: str,
    mode_guidance: str = "",
    deficit: str | None = None,
) -> dict[str, Any]:
    tz = ZoneInfo(c.timezone)
    local = local_fields(when, tz, locale)
    org = world.org
    # A cause given without its failure mode borrows the guidance of a mode with that cause.
    guidance = mode_guidance or next(
        (m.guidance for m in behaviour.failure_modes if deficit and m.deficit == deficit), ""
    )
    return {
        "first_name": c.first_name or ("您好" if locale != "en" else "Hello"),
        "org_name": org.name,
        "behaviour_title": behaviour.title,
        "instructions": behaviour.instructions,
        "guidance": guidance,
        "due_date": local["date"],
        "due_time": local["time"],
        "options": "\n".join(why_options(behaviour)),
        "handle_hours": org.task_due_hours,
        "check_back_date": "",
        "contact_phone": org.contact_phone,
    }


def _nudge_row(
    world: _World,
    step: Step | None,
    customer: UUID,
    channel: str,
    message: Message,
    key: str,
    due: datetime,
    body: str,
    now: datetime,
) -> tuple[Any, ...]:
    # A holdout enrollment's messages are recorded, not sent, like its journey nudges.
    held = step is not None and step.enrollment in world.holdout
    status, reason = ("suppressed", "holdout") if held else ("scheduled", None)
    return (
        new_id(), world.org.id, step.enrollment if step else None, customer,
        step.id if step else None, POSITION[message], key, KIND[message], channel,
        STEP_PURPOSE, f"{PLANNED_PREFIX}{message.replace('_', '-')}", False, due, due,
        status, reason, now, now, body,
    )  # fmt: skip


async def _write_nudges(rows: list[tuple[Any, ...]]) -> list[UUID]:
    inserted = await insert_rows("nudge", COLUMNS, TYPES, rows, returning="id")
    return [as_uuid(i) for i in inserted]


async def ask_why(tenant: Tenant, step_id: UUID, now: datetime | None = None) -> UUID | None:
    """Write the "why did you miss?" message for a missed step, once: a nudge with
    ``dedupe_key`` ``why:<step id>`` listing the behaviour's failure modes as numbered
    options (see :func:`why_options`). Returns the new message's id, or None when it was
    already written or cannot be (no failure modes to offer, no address)."""
    now = now or clock.now()
    step = await tenant.get(Step, step_id)
    world = await _world(tenant, [], [step])
    definition = await _definition_of_step(step)
    behaviour = definition.behaviour(step.behaviour) if definition else None
    customer = world.customers.get(step.customer)
    if behaviour is None or customer is None:
        return None
    row = _why_row(world, step, customer, behaviour, now)
    if row is None:
        return None
    written = await _write_nudges([row])
    return written[0] if written else None


def _why_row(
    world: _World, step: Step, c: Customer, behaviour: Behaviour, now: datetime
) -> tuple[Any, ...] | None:
    reach = _channel(c)
    if reach is None or not behaviour.failure_modes:
        return None
    locale = _locale(c.locale)
    body = render("why", locale, _values(world, c, behaviour, clock.as_utc(step.due_at), locale))
    return _nudge_row(world, step, c.id, reach[0], "why", f"why:{step.id}", now, body, now)


async def _definition_of_step(step: Step) -> JourneyDefinition | None:
    rows = await run_sql("SELECT journey_version FROM enrollment WHERE id = {}", step.enrollment)
    if not rows:
        return None
    version = as_uuid(rows[0]["journey_version"])
    found, _ = await definitions_by_version([version])
    return found.get(version)


async def _world(tenant: Tenant, slips: list[Slip], steps: list[Step]) -> _World:
    """The organisation, definitions, customers and steps a batch of slips needs."""
    org = await Organization.objects().where(Organization.id == tenant.org_id).first()
    assert org is not None
    step_ids = {s.step for s in slips if s.step is not None} - {s.id for s in steps}
    if step_ids:
        steps = steps + list(await tenant.objects(Step).where(Step.id.is_in(list(step_ids))))
    customer_ids = {s.customer for s in slips if s.customer is not None}
    customer_ids |= {s.customer for s in steps}
    customers = (
        await tenant.objects(Customer).where(Customer.id.is_in(list(customer_ids)))
        if customer_ids
        else []
    )
    definitions, failed = await definitions_by_version({s.journey_version for s in slips})
    for version, exc in failed.items():
        BAD_VERSIONS.add(version, exc)
    enrollment_ids = list({s.enrollment for s in steps})
    held = (
        await tenant.select(Enrollment, Enrollment.id).where(
            Enrollment.id.is_in(enrollment_ids) & (Enrollment.holdout == True)  # noqa: E712
        )
        if enrollment_ids
        else []
    )
    return _World(
        org,
        definitions,
        {c.id: c for c in customers},
        {s.id: s for s in steps},
        {as_uuid(r["id"]) for r in held},
    )


async def _misses_in_a_row(tenant: Tenant, step: Step) -> tuple[int, UUID]:
    """The unbroken run of missed occurrences of the step's behaviour in its enrollment,
    ending with this one: its length and its first step (which names the run)."""
    rows = await (
        tenant.select(Step, Step.id, Step.status)
        .where(
            (Step.enrollment == step.enrollment)
            & (Step.behaviour == step.behaviour)
            & (Step.due_at <= step.due_at)
            & Step.status.is_in(["done", "missed"])
        )
        .order_by(Step.due_at, ascending=False)
        .limit(200)
    )
    run, first = 0, step.id
    for row in rows:
        if row["status"] != "missed":
            break
        run, first = run + 1, as_uuid(row["id"])
    return run, first


async def _next_step(tenant: Tenant, step: Step, now: datetime) -> Step | None:
    """The next pending occurrence of the step's behaviour (already written)."""
    return await (
        tenant.objects(Step)
        .where(
            (Step.enrollment == step.enrollment)
            & (Step.behaviour == step.behaviour)
            & (Step.status == "pending")
            & (Step.due_at > now)
        )
        .order_by(Step.due_at)
        .first()
    )


async def _latest_step(tenant: Tenant, slip: Slip, now: datetime) -> Step | None:
    """A slip logged without its step is about the customer's latest occurrence of the
    behaviour on that journey (messages are sent in that occurrence's context)."""
    if slip.customer is None:
        return None
    return await (
        tenant.objects(Step)
        .where(
            (Step.customer == slip.customer)
            & (Step.behaviour == slip.behaviour)
            & (Step.enrollment.journey == slip.journey)
            & (Step.due_at <= now)
        )
        .order_by(Step.due_at, ascending=False)
        .first()
    )


async def follow_up_due(
    now: datetime | None = None,
    limit: int = 500,
    organization: UUID | None = None,
    organizations: Sequence[UUID] = (),
) -> list[Written]:
    """Follow up slips not yet followed up (of one ``organization``, of these
    ``organizations``, or of all)."""
    now = now or clock.now()
    where = [
        "f.id IS NULL", "s.voided_at IS NULL", "s.source <> 'import'", "s.created_at > {}",
    ]  # fmt: skip
    args: list[Any] = [now - LOOKBACK]
    wanted = [*organizations, *([organization] if organization is not None else [])]
    if wanted:
        where.append(f"s.organization IN ({', '.join('{}' for _ in wanted)})")
        args += wanted
    for org_id in BAD_ORGANIZATIONS.active():
        where.append("s.organization <> {}")
        args.append(org_id)
    for version in BAD_VERSIONS.active():
        where.append("s.journey_version <> {}")
        args.append(version)
    rows = await run_sql(
        "SELECT s.id, s.organization FROM slip s LEFT JOIN follow_up f ON f.slip = s.id"
        f" WHERE {' AND '.join(where)} ORDER BY s.created_at, s.id LIMIT {{}}",
        *args,
        limit,
    )
    by_org: dict[UUID, list[UUID]] = defaultdict(list)
    for row in rows:
        by_org[as_uuid(row["organization"])].append(as_uuid(row["id"]))
    written: list[Written] = []
    for org_id, slip_ids in by_org.items():
        try:
            written += await _follow_up(Tenant(org_id), slip_ids, now)
        except Exception as exc:
            BAD_ORGANIZATIONS.add(org_id, exc)
    return written


async def _follow_up(tenant: Tenant, slip_ids: list[UUID], now: datetime) -> list[Written]:
    slips = list(
        await tenant.objects(Slip).where(Slip.id.is_in(slip_ids)).order_by(Slip.created_at)
    )
    world = await _world(tenant, slips, [])
    plans: list[tuple[Slip, Decision, list[tuple[Any, ...]], dict[str, Any] | None]] = []
    for slip in slips:
        definition = world.definitions.get(slip.journey_version)
        if definition is None:
            continue  # set aside with its version; tried again later
        plans.append(await _plan(tenant, world, definition, slip, now))
    written: list[Written] = []
    async with write_transaction():
        for slip, decision, nudges, task in plans:
            marker = await insert_rows(
                "follow_up",
                ("id", "organization", "slip", "action", "created_at"),
                ("uuid", "uuid", "uuid", "varchar", "timestamptz"),
                [(new_id(), tenant.org_id, slip.id, decision.action, now)],
                returning="id",
            )
            if not marker:
                continue  # a rival scheduler followed it up first
            ids = await _write_nudges(nudges)
            task_id = await tasks.open_task(tenant, **task, now=now) if task else None
            written.append(Written(slip.id, decision, ids, task_id))
    return written


async def _plan(
    tenant: Tenant, world: _World, definition: JourneyDefinition, slip: Slip, now: datetime
) -> tuple[Slip, Decision, list[tuple[Any, ...]], dict[str, Any] | None]:
    """Decide one slip's follow-up and build its rows (nothing is written here)."""
    settings = definition.follow_up_settings()
    behaviour = definition.behaviour(slip.behaviour)
    mode = next(
        (m for m in (behaviour.failure_modes if behaviour else []) if m.key == slip.failure_mode),
        None,
    )
    step = world.steps.get(slip.step) if slip.step else await _latest_step(tenant, slip, now)
    if step is not None and step.id not in world.steps:
        world.steps[step.id] = step
        held = await tenant.select(Enrollment, Enrollment.holdout).where(
            Enrollment.id == step.enrollment
        )
        if held and held[0]["holdout"]:
            world.holdout.add(step.enrollment)
    run, run_start = (0, None)
    if step is not None and slip.deficit == "motivation" and step.status == "missed":
        run, run_start = await _misses_in_a_row(tenant, step)
    decision = decide(
        Situation(
            kind=slip.kind,
            source=slip.source,
            deficit=slip.deficit,
            escalate=bool(mode and mode.escalate),
            has_step=slip.step is not None,
            has_failure_modes=bool(behaviour and behaviour.failure_modes),
            misses_in_a_row=run,
            escalate_after=settings.escalate_after_misses,
        )
    )
    customer = world.customers.get(slip.customer) if slip.customer else None
    nudges: list[tuple[Any, ...]] = []
    if customer is not None and behaviour is not None:
        nudges = await _messages(
            tenant, world, decision, slip, step, customer, behaviour, mode, now
        )
    task = None
    if decision.task is not None:
        key = f"misses:{run_start}" if decision.task == "repeated_misses" else f"slip:{slip.id}"
        who = customer_name(customer)
        task = {
            "key": key,
            "reason": decision.task,
            "title": tasks.title_for(
                decision.task, who, behaviour.title if behaviour else slip.behaviour
            ),
            "detail": slip.note,
            "customer": slip.customer,
            "slip": slip.id,
            "enrollment": slip.enrollment or (step.enrollment if step else None),
            "step": step.id if step else None,
            "behaviour": slip.behaviour,
            "assigned_to": slip.reporter_user,
            "due_hours": world.org.task_due_hours,
        }
    return slip, decision, nudges, task


def customer_name(c: Customer | None) -> str:
    """How staff see the customer in a task's title."""
    if c is None:
        return "a customer"
    if c.erased_at is not None:
        return "an erased customer"
    return " ".join(p for p in (c.first_name, c.last_name) if p) or c.external_ref or "a customer"


async def _messages(
    tenant: Tenant,
    world: _World,
    decision: Decision,
    slip: Slip,
    step: Step | None,
    c: Customer,
    behaviour: Behaviour,
    mode: Any,
    now: datetime,
) -> list[tuple[Any, ...]]:
    reach = _channel(c)
    if reach is None:
        return []
    channel = reach[0]
    locale = _locale(c.locale)
    guidance = mode.guidance if mode is not None else ""
    settings_ = world.definitions[slip.journey_version].follow_up_settings()
    out: list[tuple[Any, ...]] = []
    for message in decision.messages:
        if message == "why":
            if step is not None:
                row = _why_row(world, step, c, behaviour, now)
                out += [row] if row else []
            continue
        target, due, when = step, now, clock.as_utc(step.due_at) if step else now
        values = _values(world, c, behaviour, when, locale, guidance, slip.deficit)
        if message == "extra_reminder":
            if step is None:
                continue
            target = await _next_step(tenant, step, now)
            if target is None:
                continue  # no next occurrence written yet: nothing to remind of
            when = clock.as_utc(target.due_at)
            before = parse_duration(settings_.remind_before)
            due = max(now, when - before.exact)
            values = _values(world, c, behaviour, when, locale, guidance, slip.deficit)
        check_back = now + parse_duration(settings_.check_back).exact
        values["check_back_date"] = local_fields(check_back, ZoneInfo(c.timezone), locale)["date"]
        if message == "check_back":
            due = check_back
        body = render(message, locale, values)
        out.append(
            _nudge_row(
                world,
                target,
                c.id,
                channel,
                message,
                f"{message.replace('_', '-')}:{slip.id}",
                due,
                body,
                now,
            )
        )
    return out
