"""Advisories: one message to every customer a journey (or one of its behaviours) affects,
written at once as ordinary outbox rows and sent like any other message.

Proactive service ("the clinic opens at 10 tomorrow"): the text is rendered per customer
when the advisory is made (their name, the organisation's), stored on the row, and sent by
the workers at ``send_at`` with consent, the customer's sending window and the daily cap
checked at that moment. Each customer gets it once (``advisory:<id>:<customer>``), however
many enrollments they have. Holdout customers get it too: advisories are not the reminders
whose effect the holdout measures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from coaching import links
from coaching.errors import AdvisoryInvalid, AdvisoryNotFound
from coaching.outbox import ADVISORY_TEMPLATE, NUDGE_COLUMNS, PG_TYPES, SCHEDULED
from coaching.tables import Advisory
from core import clock
from core.db import insert_rows, run_sql, write_transaction
from core.errors import FieldError
from core.ids import as_uuid, new_id
from core.tables import Organization
from core.tenancy import Tenant
from journeys import templates
from journeys.errors import JourneyNotFound
from journeys.services import current_definition
from settings import get_settings

COLUMNS = (*NUDGE_COLUMNS, "body")
TYPES = (*PG_TYPES, "text")
# What an advisory's text may use, with the values its check renders.
VARIABLES = {
    "first_name": "Alexandra",
    "last_name": "Montgomery",
    "org_name": "Riverside Health Clinic",
    "journey_title": "Blood-pressure medication",
    "link": "https://slipguard.example/c/0123456789abcdef0123",
}
LATEST_START = timedelta(days=365)
EARLIEST_START = timedelta(minutes=5)  # a client's clock may run a little behind
# The texts an SMS can carry in at most ten segments; an email has room for more.
MAX_LENGTH = {"sms": 1530, "email": 20_000}
WAITING = ("scheduled", "queued", "sending")


@dataclass(frozen=True)
class AdvisoryRequest:
    """What a manager asks for (already shaped by the API schema)."""

    journey: str
    behaviour: str | None
    template: str
    channel: str
    purpose: str
    send_at: datetime | None


@dataclass(frozen=True)
class Progress:
    """Where an advisory's messages are: by outbox status, suppressions by reason."""

    by_status: dict[str, int]
    suppressed: dict[str, int]

    @property
    def waiting(self) -> int:
        return sum(self.by_status.get(s, 0) for s in WAITING)


def _key_range(advisory_id: UUID) -> tuple[str, str]:
    """Bounds of the advisory's dedupe keys (``;`` sorts right after ``:``), so the unique
    index on the key finds its messages on either database."""
    return f"advisory:{advisory_id}:", f"advisory:{advisory_id};"


def _invalid(message: str) -> AdvisoryInvalid:
    return AdvisoryInvalid("invalid advisory", [FieldError("template", message)])


def _render(text: str, values: dict[str, str]) -> str:
    """The text for one customer; a text that fails for some value is refused whole."""
    try:
        return templates.render(text, values)
    except Exception as exc:  # the sandbox's, a filter's, an index out of range: the author's
        raise _invalid(f"does not render: {type(exc).__name__}: {str(exc)[:200]}") from None


def _check_text(text: str, channel: str) -> None:
    try:
        unknown = templates.undeclared(text) - set(VARIABLES)
    except templates.TemplateSyntaxError as exc:
        raise _invalid(f"line {exc.lineno}: {exc.message}") from None
    if unknown:
        raise _invalid(f"unknown variables {sorted(unknown)}; use {', '.join(sorted(VARIABLES))}")
    sample = _render(text, VARIABLES)
    if not sample.strip():
        raise _invalid("renders empty")
    if len(sample) > MAX_LENGTH[channel]:
        raise _invalid(f"longer than {MAX_LENGTH[channel]} characters by {channel}")


async def _recipients(tenant: Tenant, journey: UUID, behaviour: str | None) -> list[Any]:
    """Customers with an active enrollment on the journey (and, for a behaviour, a step of
    it still pending), not erased: one row each."""
    if behaviour:
        sql = (
            "SELECT DISTINCT c.id, c.first_name, c.last_name FROM step s "
            "JOIN enrollment e ON e.id = s.enrollment JOIN customer c ON c.id = s.customer "
            "WHERE s.organization = {} AND e.journey = {} AND e.status = 'active' "
            "AND s.behaviour = {} AND s.status = 'pending' AND c.erased_at IS NULL"
        )
        return await run_sql(sql, tenant.org_id, journey, behaviour)
    sql = (
        "SELECT DISTINCT c.id, c.first_name, c.last_name FROM enrollment e "
        "JOIN customer c ON c.id = e.customer WHERE e.organization = {} AND e.journey = {} "
        "AND e.status = 'active' AND c.erased_at IS NULL"
    )
    return await run_sql(sql, tenant.org_id, journey)


async def create_advisory(
    tenant: Tenant,
    req: AdvisoryRequest,
    user_id: UUID | None = None,
    key_id: UUID | None = None,
    now: datetime | None = None,
) -> Advisory:
    """Check the advisory, then write it and one message per affected customer in one
    transaction (all or nothing)."""
    now = now or clock.now()
    try:
        journey, _, definition = await current_definition(tenant, req.journey)
    except JourneyNotFound:
        raise AdvisoryInvalid(
            "invalid advisory", [FieldError("journey", f"no journey {req.journey!r}")]
        ) from None
    if req.behaviour and definition.behaviour(req.behaviour) is None:
        valid = ", ".join(b.key for b in definition.behaviours)
        raise AdvisoryInvalid(
            "invalid advisory",
            [FieldError("behaviour", f"no behaviour {req.behaviour!r}; valid: {valid}")],
        )
    _check_text(req.template, req.channel)
    send_at = req.send_at or now
    if send_at < now - EARLIEST_START or send_at > now + LATEST_START:
        raise AdvisoryInvalid(
            "invalid advisory",
            [FieldError("send_at", "must be from now to a year ahead (omit it: now)")],
        )
    org = await Organization.objects().where(Organization.id == tenant.org_id).first()
    assert org is not None  # the tenant's own organisation
    people = await _recipients(tenant, journey.id, req.behaviour)
    advisory = tenant.new(
        Advisory,
        id=new_id(),
        journey=journey.id,
        journey_key=journey.key,
        behaviour=req.behaviour or "",
        channel=req.channel,
        purpose=req.purpose,
        template=req.template,
        send_at=send_at,
        recipients=len(people),
        created_by_user=user_id,
        created_by_key=key_id,
        created_at=now,
    )
    base = {"org_name": org.name, "journey_title": definition.title}
    settings = get_settings()
    # Each customer's own page, signed only when the text uses it.
    wants_link = "link" in templates.undeclared(req.template)
    rows = [
        (
            new_id(), tenant.org_id, None, p["id"], None, 0,
            f"{_key_range(advisory.id)[0]}{p['id']}", "advisory", req.channel, req.purpose,
            ADVISORY_TEMPLATE, False, send_at, send_at, SCHEDULED, None, now, now,
            _render(
                req.template,
                {
                    **base,
                    "first_name": p["first_name"],
                    "last_name": p["last_name"] or "",
                    "link": links.link(settings, as_uuid(p["id"])) if wants_link else "",
                },
            ),
        )
        for p in people
    ]  # fmt: skip
    async with write_transaction():
        await Advisory.insert(advisory)
        await insert_rows("nudge", COLUMNS, TYPES, rows)
    return advisory


async def get_advisory(tenant: Tenant, advisory_id: UUID) -> Advisory:
    found = await tenant.objects(Advisory).where(Advisory.id == advisory_id).first()
    if found is None:
        raise AdvisoryNotFound(f"no advisory {advisory_id}")
    return found


async def list_advisories(tenant: Tenant, limit: int = 100) -> list[Advisory]:
    """The most recent advisories first."""
    rows: list[Advisory] = (
        await tenant.objects(Advisory).order_by(Advisory.created_at, ascending=False).limit(limit)
    )
    return rows


async def progress(tenant: Tenant, advisory_id: UUID) -> Progress:
    """Counts of the advisory's messages by status (and suppressions by reason)."""
    low, high = _key_range(advisory_id)
    rows = await run_sql(
        "SELECT status, reason, COUNT(*) AS n FROM nudge WHERE organization = {} "
        "AND dedupe_key >= {} AND dedupe_key < {} GROUP BY status, reason",
        tenant.org_id,
        low,
        high,
    )
    by_status: dict[str, int] = {}
    suppressed: dict[str, int] = {}
    for r in rows:
        by_status[r["status"]] = by_status.get(r["status"], 0) + int(r["n"])
        if r["status"] == "suppressed":
            suppressed[r["reason"] or ""] = suppressed.get(r["reason"] or "", 0) + int(r["n"])
    return Progress(by_status, suppressed)
