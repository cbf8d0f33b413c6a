"""Breach notices: telling customers that their personal data was involved in a breach.

A notice is a legally required, transactional message (docs/privacy.md): it goes to every
customer named (or every customer of the organisation) who is not erased, through the
channels they have an address for, as ordinary outbox rows with their rendered text
stored, written in one transaction with a ``PrivacyEvent`` (kind ``breach_notice``) per
customer notified, all sharing the notification's id (``batch``).

How the usual rules apply:

- Marketing consent plays no part. The send-time check still wants the channel's
  informational consent: a STOP (or a provider's "unsubscribed") revokes it, and carrier
  rules forbid texting such a number, so the notice goes by email instead; a customer
  with no channel left is reported as unreachable (the organisation must reach them
  another way, e.g. by post).
- The frequency cap does not apply (``critical``).
- The customer's sending window does: a notice written at night waits for the window to
  open, which is at most a day later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from coaching.errors import BreachNoticeInvalid
from coaching.outbox import ADVISORY_TEMPLATE, NUDGE_COLUMNS, PG_TYPES, SCHEDULED
from core import audit, clock
from core.db import insert_rows, write_transaction
from core.errors import FieldError
from core.ids import as_uuid, new_id
from core.tables import Organization, PrivacyEvent
from core.tenancy import Tenant
from journeys import templates
from journeys.customers.schemas import utc
from journeys.tables import ConsentRecord, Customer

COLUMNS = (*NUDGE_COLUMNS, "body", "critical")
TYPES = (*PG_TYPES, "text", "bool")
KIND = "advisory"  # sent like an advisory: its stored text, as written
PURPOSE = "informational"
VARIABLES = {"first_name": "Alexandra", "last_name": "Montgomery", "org_name": "Riverside Clinic"}
MAX_LENGTH = {"sms": 1530, "email": 20_000}
CHANNELS = ("sms", "email")
ADDRESS = {"sms": "phone", "email": "email"}
EVENT_CHUNK = 500


@dataclass
class Notification:
    """What a breach notification did (or, on a dry run, would do)."""

    id: UUID
    notified: int = 0
    by_channel: dict[str, int] = field(default_factory=lambda: {"sms": 0, "email": 0})
    unreachable: list[UUID] = field(default_factory=list)  # no address or consent left
    erased: int = 0  # named in the list but erased: nothing left to notify
    dry_run: bool = False


def _invalid(field_name: str, message: str) -> BreachNoticeInvalid:
    return BreachNoticeInvalid("invalid breach notice", [FieldError(field_name, message)])


def check_template(text: str, channels: Sequence[str]) -> None:
    """A template every customer's notice can be rendered from, short enough for each
    channel; the error names the template and what is wrong."""
    try:
        unknown = templates.undeclared(text) - set(VARIABLES)
    except templates.TemplateSyntaxError as exc:
        raise _invalid("template", f"line {exc.lineno}: {exc.message}") from None
    if unknown:
        raise _invalid(
            "template", f"unknown variables {sorted(unknown)}; use {', '.join(sorted(VARIABLES))}"
        )
    try:
        sample = templates.render(text, VARIABLES)
    except Exception as exc:  # a filter's or the sandbox's: the author's
        raise _invalid("template", f"does not render: {type(exc).__name__}: {exc}") from None
    if not sample.strip():
        raise _invalid("template", "renders empty")
    for channel in channels:
        if len(sample) > MAX_LENGTH[channel]:
            raise _invalid("template", f"longer than {MAX_LENGTH[channel]} characters by {channel}")


async def resolve(tenant: Tenant, lines: Sequence[str], source: str) -> list[UUID]:
    """Customer ids from a list's lines (an id or an external_ref each; blank lines and
    ``#`` comments skipped). Any line naming no customer of the organisation is an error
    naming ``source`` and the line, and nothing is returned."""
    wanted: list[tuple[int, str]] = []
    for number, raw in enumerate(lines, start=1):
        text = raw.strip()
        if text and not text.startswith("#"):
            wanted.append((number, text))
    rows = await tenant.select(Customer, Customer.id, Customer.external_ref)
    by_id = {str(r["id"]): as_uuid(r["id"]) for r in rows}
    by_ref = {r["external_ref"]: as_uuid(r["id"]) for r in rows if r["external_ref"]}
    found: list[UUID] = []
    unknown: list[str] = []
    for number, text in wanted:
        hit = by_id.get(text.lower()) or by_ref.get(text)
        if hit is None:
            unknown.append(f"{source}:{number}: no customer {text[:80]!r}")
        elif hit not in found:
            found.append(hit)
    if unknown:
        shown = "; ".join(unknown[:5]) + (
            f"; and {len(unknown) - 5} more" if len(unknown) > 5 else ""
        )
        raise _invalid("customers", shown)
    return found


async def customer_count(tenant: Tenant) -> int:
    """How many customers the organisation has (erased ones included)."""
    count: int = await Customer.count().where(Customer.organization == tenant.org_id)
    return count


async def _permitted(tenant: Tenant) -> set[tuple[UUID, str]]:
    """(customer, channel) pairs whose latest informational consent is a grant."""
    rows = await tenant.select(
        ConsentRecord,
        ConsentRecord.id,
        ConsentRecord.customer,
        ConsentRecord.channel,
        ConsentRecord.status,
        ConsentRecord.recorded_at,
    ).where(ConsentRecord.purpose == PURPOSE)
    rows.sort(key=lambda r: (utc(r["recorded_at"]), str(r["id"])))
    latest: dict[tuple[UUID, str], str] = {}
    for r in rows:
        latest[(as_uuid(r["customer"]), r["channel"])] = r["status"]
    return {key for key, status in latest.items() if status == "granted"}


def _routes(
    person: dict[str, Any], permitted: set[tuple[UUID, str]], asked: Sequence[str]
) -> list[str]:
    """The channels a notice goes through: those asked for that the customer can receive;
    when none can, the other channel (an SMS STOP falls back to email)."""
    usable = [c for c in CHANNELS if person[ADDRESS[c]] and (as_uuid(person["id"]), c) in permitted]
    chosen = [c for c in asked if c in usable]
    return chosen or usable[:1]


async def notify_breach(
    tenant: Tenant,
    template: str,
    *,
    customers: Sequence[UUID] | None = None,
    channels: Sequence[str] = CHANNELS,
    actor: str = audit.CLI,
    dry_run: bool = False,
    now: datetime | None = None,
    progress: Callable[[int], None] | None = None,
) -> Notification:
    """Write the notice for ``customers`` (every customer of the organisation when None),
    all or nothing. ``progress`` is called with the number of customers prepared."""
    now = now or clock.now()
    if not channels or any(c not in CHANNELS for c in channels):
        raise _invalid("channel", "sms, email or both")
    check_template(template, channels)
    org = await Organization.objects().where(Organization.id == tenant.org_id).first()
    assert org is not None  # the tenant's own organisation
    query = tenant.select(
        Customer,
        Customer.id,
        Customer.first_name,
        Customer.last_name,
        Customer.phone,
        Customer.email,
        Customer.erased_at,
    )
    if customers is not None:
        query = query.where(Customer.id.is_in(list(customers) or [new_id()]))
    people = await query.order_by(Customer.id)
    permitted = await _permitted(tenant)
    result = Notification(new_id(), dry_run=dry_run)
    rows: list[tuple[Any, ...]] = []
    events: list[PrivacyEvent] = []
    for person in people:
        if progress is not None:
            progress(1)
        if person["erased_at"] is not None:
            result.erased += 1
            continue
        routes = _routes(person, permitted, channels)
        if not routes:
            result.unreachable.append(as_uuid(person["id"]))
            continue
        values = {
            "first_name": person["first_name"],
            "last_name": person["last_name"] or "",
            "org_name": org.name,
        }
        try:
            body = templates.render(template, values)
        except Exception as exc:  # a value the sample did not have
            raise _invalid("template", f"does not render: {type(exc).__name__}") from None
        cid = as_uuid(person["id"])
        for channel in routes:
            rows.append(
                (
                    new_id(), tenant.org_id, None, cid, None, 0,
                    f"breach:{result.id}:{cid}:{channel}", KIND, channel, PURPOSE,
                    ADVISORY_TEMPLATE, False, now, now, SCHEDULED, None, now, now, body, True,
                )
            )  # fmt: skip
            result.by_channel[channel] += 1
        events.append(audit.event_row(tenant, "breach_notice", cid, actor, now, result.id))
        result.notified += 1
    if dry_run or not rows:
        return result
    async with write_transaction():
        await insert_rows("nudge", COLUMNS, TYPES, rows)
        for start in range(0, len(events), EVENT_CHUNK):
            await PrivacyEvent.insert(*events[start : start + EVENT_CHUNK])
    return result
