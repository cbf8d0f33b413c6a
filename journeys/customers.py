"""Customer services: profiles, consent history, access export and erasure.

Used by the HTTP layer, the CLI and the coaching pipeline alike; no Litestar or Dramatiq
here. Every query goes through :class:`api.tenancy.Tenant`.
"""

from __future__ import annotations

import json
import re
import secrets
import sqlite3
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from uuid import UUID

import asyncpg.exceptions
import phonenumbers
from msgspec import UNSET
from piccolo.columns.combination import WhereRaw

from api.db import write_transaction
from api.domain import FieldError
from api.pagination import DEFAULT_LIMIT, keyset, page
from api.services import organization_by_id
from api.tenancy import Tenant
from coaching import nudges
from journeys.customer_schemas import ConsentIn, CustomerIn, CustomerPatch, utc
from journeys.errors import CustomerErased, CustomerInvalid, CustomerNotFound, CustomerRefExists
from journeys.tables import ConsentRecord, Customer, Enrollment, Step
from settings import get_settings

NAME_MAX = 100
REF_MAX = 128
EMAIL_MAX = 254
TEXT_MAX = 10_000
# The address each channel needs: consent to text someone without a phone is meaningless.
CHANNEL_ADDRESS = {"sms": "phone", "email": "email"}

_LOCALE = re.compile(
    r"^(?P<lang>[A-Za-z]{2,3})(?:[-_](?P<script>[A-Za-z]{4}))?(?:[-_](?P<region>[A-Za-z]{2}|\d{3}))?$"
)
_HHMM = re.compile(r"^(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)$")
_EMAIL_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\\\]]+$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")
# LIKE wildcards in a search term are literal text, escaped with this character.
_LIKE_ESCAPE = "!"


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


# --- pure validation -----------------------------------------------------------------------


def normalize_phone(raw: str, region: str) -> str:
    """A dialable number in E.164 (``+14155550132``); ``region`` applies when there is no ``+``.

    Raises ValueError with a message for the user.
    """
    text = raw.strip()
    if not text:
        raise ValueError("must not be empty (use null for no phone)")
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if number.extension:
        raise ValueError("extensions cannot receive text messages; give a direct number")
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"not a valid phone number (numbers without a country code are read as {region})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """A plausible mailbox with its domain lower-cased (the local part is case-sensitive).

    Raises ValueError with a message for the user.
    """
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not an email address")
    if len(text) > EMAIL_MAX or len(local) > 64:
        raise ValueError(f"too long (at most {EMAIL_MAX} characters, 64 before the @)")
    if (
        not _EMAIL_LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise ValueError("not a valid mailbox name before the @")
    domain = domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid domain after the @") from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise ValueError("not a valid domain after the @")
    return f"{local}@{domain}"


def normalize_locale(raw: str) -> str:
    """A BCP-47 style tag: ``en``, ``en-GB``, ``zh-Hans-CN``, ``es-419`` (cased canonically).

    Raises ValueError with a message for the user.
    """
    match = _LOCALE.match(raw.strip())
    if not match:
        raise ValueError("not a locale; use a language tag like en, en-GB or zh-CN")
    parts = [match["lang"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts)


@lru_cache(maxsize=1)
def _zones() -> frozenset[str]:
    # Reading the zone list touches the filesystem; it does not change while we run.
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})


def check_timezone(raw: str) -> str:
    """An IANA timezone name such as ``Europe/London``.

    Raises ValueError with a message for the user.
    """
    name = raw.strip()
    if name not in _zones():
        raise ValueError("not an IANA timezone (for example Europe/London or America/New_York)")
    return name


def normalize_hhmm(raw: str) -> str:
    """A local clock time as ``HH:MM`` (``8:05`` becomes ``08:05``).

    Raises ValueError with a message for the user.
    """
    match = _HHMM.match(raw.strip())
    if not match:
        raise ValueError("not a time of day; use HH:MM between 00:00 and 23:59")
    return f"{int(match['h']):02d}:{match['m']}"


def _text(value: str, limit: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


class _Checker:
    """Collects every field error of one request, so the caller hears about all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def run(self, field: str, check: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ValueError as exc:
            self.errors.append(FieldError(field, str(exc)))
            return None

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            fields = ", ".join(e.field for e in self.errors)
            raise CustomerInvalid(f"invalid {what}: {fields}", self.errors)


def _optional(check: Any, value: str | None, *args: Any) -> str | None:
    return None if value is None else check(value, *args)


def check_ref(raw: str) -> str:
    """An external reference: the customer's id in another system, unique per organisation.

    Raises ValueError with a message for the user.
    """
    ref = raw.strip()
    if not ref:
        raise ValueError("must not be empty (use null for none)")
    if len(ref) > REF_MAX:
        raise ValueError(f"at most {REF_MAX} characters")
    return ref


def _check_consent(ck: _Checker, c: ConsentIn, addresses: dict[str, Any], prefix: str = "") -> None:
    need = CHANNEL_ADDRESS[c.channel]
    if not addresses.get(need):
        ck.add(f"{prefix}channel", f"{c.channel} consent needs the customer's {need}")
    ck.run(f"{prefix}text_shown", _text, c.text_shown, TEXT_MAX)
    ck.run(f"{prefix}evidence", _text, c.evidence, TEXT_MAX)


# --- customers -----------------------------------------------------------------------------


def _is_duplicate_ref(exc: Exception) -> bool:
    return "customer_org_ref" in str(exc) or "external_ref" in str(exc)


def _ref_exists(ref: str) -> CustomerRefExists:
    return CustomerRefExists(
        f"another customer already has external_ref {ref!r}",
        [FieldError("external_ref", "already used by another customer of this organisation")],
    )


async def _check_ref_free(tenant: Tenant, ref: str | None, own_id: UUID | None = None) -> None:
    if ref is None:
        return
    query = tenant.objects(Customer).where(Customer.external_ref == ref)
    if own_id is not None:
        query = query.where(Customer.id != own_id)
    if await query.first() is not None:
        raise _ref_exists(ref)


async def create_customer(tenant: Tenant, data: CustomerIn) -> Customer:
    """Create a customer and their initial consent records, all or nothing.

    Every field is checked before anything is written and all problems are reported in one
    :class:`CustomerInvalid`; a taken ``external_ref`` is :class:`CustomerRefExists`.
    """
    region = get_settings().default_phone_region
    ck = _Checker()
    first_name = ck.run("first_name", _text, data.first_name, NAME_MAX, required=True)
    last_name = ck.run("last_name", _text, data.last_name, NAME_MAX)
    ref = ck.run("external_ref", _optional, check_ref, data.external_ref)
    phone = ck.run("phone", _optional, normalize_phone, data.phone, region)
    email = ck.run("email", _optional, normalize_email, data.email)
    locale = ck.run("locale", normalize_locale, data.locale)
    timezone = ck.run("timezone", _optional, check_timezone, data.timezone)
    quiet_start = ck.run("quiet_start", normalize_hhmm, data.quiet_start)
    quiet_end = ck.run("quiet_end", normalize_hhmm, data.quiet_end)
    if quiet_start and quiet_start == quiet_end:
        ck.add("quiet_end", "must differ from quiet_start (the window would be empty)")
    # The raw values decide whether an address was given: a mistyped phone is reported once,
    # as a phone error, not again on every consent that needs it.
    addresses = {"phone": data.phone, "email": data.email}
    seen: dict[tuple[str, str], int] = {}
    for i, c in enumerate(data.consent):
        _check_consent(ck, c, addresses, prefix=f"consent[{i}].")
        key = (c.channel, c.purpose)
        if key in seen:
            ck.add(f"consent[{i}].purpose", f"repeats consent[{seen[key]}] for {c.channel}")
        seen.setdefault(key, i)
    ck.raise_if_any("customer")

    if timezone is None:
        timezone = (await organization_by_id(tenant.org_id)).timezone
    moment = now()
    customer = tenant.new(
        Customer,
        external_ref=ref,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        email=email,
        locale=locale,
        timezone=timezone,
        quiet_start=quiet_start,
        quiet_end=quiet_end,
        pseudonym=secrets.token_hex(8),
        created_at=moment,
        updated_at=moment,
    )
    try:
        async with write_transaction():
            await _check_ref_free(tenant, ref)
            await customer.save()
            for i, c in enumerate(data.consent):
                # One microsecond apart, so the history keeps the order the records were given.
                stamp = moment + timedelta(microseconds=i)
                await _new_record(tenant, customer.id, c, stamp).save()
    except (sqlite3.IntegrityError, asyncpg.exceptions.UniqueViolationError) as exc:
        # Two requests raced past the check; the unique index decided.
        if ref is not None and _is_duplicate_ref(exc):
            raise _ref_exists(ref) from None
        raise
    return customer


async def get_customer(tenant: Tenant, customer_id: UUID) -> Customer:
    """One customer of this organisation (erased ones too: their record remains)."""
    return await tenant.get(Customer, customer_id, CustomerNotFound, "customer")


async def update_customer(tenant: Tenant, customer_id: UUID, data: CustomerPatch) -> Customer:
    """Change only the given fields, checked like :func:`create_customer`.

    An erased customer cannot change (:class:`CustomerErased`).
    """
    region = get_settings().default_phone_region
    customer = await get_customer(tenant, customer_id)
    if customer.erased_at is not None:
        raise _erased(customer_id)
    ck = _Checker()
    values: dict[Any, Any] = {}
    if data.first_name is not UNSET:
        values[Customer.first_name] = ck.run(
            "first_name", _text, data.first_name, NAME_MAX, required=True
        )
    if data.last_name is not UNSET:
        values[Customer.last_name] = ck.run("last_name", _text, data.last_name, NAME_MAX)
    if data.external_ref is not UNSET:
        values[Customer.external_ref] = ck.run(
            "external_ref", _optional, check_ref, data.external_ref
        )
    if data.phone is not UNSET:
        values[Customer.phone] = ck.run("phone", _optional, normalize_phone, data.phone, region)
    if data.email is not UNSET:
        values[Customer.email] = ck.run("email", _optional, normalize_email, data.email)
    if data.locale is not UNSET:
        values[Customer.locale] = ck.run("locale", normalize_locale, data.locale)
    if data.timezone is not UNSET:
        values[Customer.timezone] = ck.run("timezone", check_timezone, data.timezone)
    if data.quiet_start is not UNSET:
        values[Customer.quiet_start] = ck.run("quiet_start", normalize_hhmm, data.quiet_start)
    if data.quiet_end is not UNSET:
        values[Customer.quiet_end] = ck.run("quiet_end", normalize_hhmm, data.quiet_end)
    start = values.get(Customer.quiet_start, customer.quiet_start)
    end = values.get(Customer.quiet_end, customer.quiet_end)
    if start and start == end:
        field = "quiet_end" if data.quiet_end is not UNSET else "quiet_start"
        ck.add(field, "quiet_start and quiet_end must differ (the window would be empty)")
    ck.raise_if_any("customer")
    if not values:
        return customer

    values[Customer.updated_at] = now()
    ref = values.get(Customer.external_ref)
    try:
        async with write_transaction():
            # Re-read inside the transaction: an erasure may have landed meanwhile.
            current = await get_customer(tenant, customer_id)
            if current.erased_at is not None:
                raise _erased(customer_id)
            if Customer.external_ref in values:
                await _check_ref_free(tenant, ref, own_id=customer_id)
            await tenant.update(Customer, values).where(Customer.id == customer_id)
    except (sqlite3.IntegrityError, asyncpg.exceptions.UniqueViolationError) as exc:
        if ref is not None and _is_duplicate_ref(exc):
            raise _ref_exists(ref) from None
        raise
    return await get_customer(tenant, customer_id)


def _erased(customer_id: UUID) -> CustomerErased:
    return CustomerErased(f"customer {customer_id} was erased; the record can no longer change")


def _search(term: str) -> Any:
    """Case-insensitive substring match on names, external_ref and phone.

    Digits typed any way (``(415) 555-01``) also match the E.164 phone.
    """
    esc = _LIKE_ESCAPE
    pattern = "%" + term.replace(esc, esc * 2).replace("%", esc + "%").replace("_", esc + "_") + "%"
    condition: Any = None
    for column in ("first_name", "last_name", "external_ref", "phone"):
        clause = WhereRaw(f"lower({column}) LIKE lower({{}}) ESCAPE '{esc}'", pattern)
        condition = clause if condition is None else condition | clause
    digits = re.sub(r"\D", "", term)
    if digits:
        condition = condition | WhereRaw("phone LIKE {}", f"%{digits}%")
    return condition


async def list_customers(
    tenant: Tenant, q: str | None = None, cursor: str | None = None, limit: int = DEFAULT_LIMIT
) -> tuple[list[Customer], str | None]:
    """A page of customers, oldest first, and the cursor of the next page.

    With ``q``, only customers whose names, external_ref or phone contain it; erased
    customers never match a search (there is nothing of theirs left to find).
    """
    query = tenant.objects(Customer)
    term = (q or "").strip()
    if term:
        query = query.where(Customer.erased_at.is_null()).where(_search(term))
    rows = await keyset(query, Customer, cursor, limit)
    return page(rows, limit)


# --- consent -------------------------------------------------------------------------------


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


def _new_record(
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
        customer = await get_customer(tenant, customer_id)
        if customer.erased_at is not None:
            raise _erased(customer_id)
        ck = _Checker()
        _check_consent(ck, record, {"phone": customer.phone, "email": customer.email})
        ck.raise_if_any("consent")
        latest = (
            await tenant.select(ConsentRecord, ConsentRecord.recorded_at)
            .where(ConsentRecord.customer == customer_id)
            .order_by(ConsentRecord.recorded_at, ascending=False)
            .first()
        )
        moment = now()
        if latest is not None:
            # History order is the order of recording, even if clocks of two API processes
            # disagree: a later record never sorts before an earlier one.
            previous = utc(latest["recorded_at"])
            if previous is not None and previous >= moment:
                moment = previous + timedelta(microseconds=1)
        row = _new_record(tenant, customer_id, record, moment)
        await row.save()
    return row


async def consent_history(tenant: Tenant, customer_id: UUID) -> list[ConsentRecord]:
    """Every consent record of the customer, oldest first."""
    await get_customer(tenant, customer_id)
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


# --- access and erasure --------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    stamp = utc(moment)
    return stamp.isoformat().replace("+00:00", "Z") if stamp else None


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = _iso(value)
        elif isinstance(value, UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _anchors(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


async def export_customer(tenant: Tenant, customer_id: UUID) -> dict[str, Any]:
    """Everything held about the customer, as plain JSON (GDPR access and portability)."""
    customer = await get_customer(tenant, customer_id)
    profile = _plain(customer.to_dict())
    profile.pop("organization", None)
    records = await consent_history(tenant, customer_id)
    history = []
    for r in records:
        item = _plain(r.to_dict())
        for internal in ("organization", "customer"):
            item.pop(internal, None)
        history.append(item)
    current = [
        _plain(
            {
                "channel": s.channel,
                "purpose": s.purpose,
                "status": s.status,
                "source": s.source,
                "recorded_at": s.recorded_at,
            }
        )
        for _, s in sorted(derive_consent(records).items())
    ]
    enrollments = await (
        tenant.select(
            Enrollment,
            Enrollment.id,
            Enrollment.journey.key.as_alias("journey_key"),
            Enrollment.journey.title.as_alias("journey_title"),
            Enrollment.journey_version.version.as_alias("journey_version"),
            Enrollment.anchors,
            Enrollment.timezone,
            Enrollment.holdout,
            Enrollment.status,
            Enrollment.ends_at,
            Enrollment.created_at,
            Enrollment.cancelled_at,
        )
        .where(Enrollment.customer == customer_id)
        .order_by(Enrollment.created_at, Enrollment.id)
    )
    steps = await (
        tenant.select(
            Step,
            Step.id,
            Step.enrollment,
            Step.behaviour,
            Step.occurrence,
            Step.due_at,
            Step.grace_until,
            Step.status,
            Step.completed_at,
            Step.completed_via,
            Step.created_at,
        )
        .where(Step.customer == customer_id)
        .order_by(Step.due_at, Step.id)
    )
    steps_of: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        item = _plain(s)
        steps_of.setdefault(item.pop("enrollment"), []).append(item)
    messages_of: dict[str, list[dict[str, Any]]] = {}
    for n in await nudges.nudges_of(tenant, [e["id"] for e in enrollments]):
        item = _plain(n)
        messages_of.setdefault(item.pop("enrollment"), []).append(item)
    out_enrollments = []
    for e in enrollments:
        item = _plain(e)
        item["anchors"] = _anchors(e["anchors"])
        item["steps"] = steps_of.get(item["id"], [])
        item["messages"] = messages_of.get(item["id"], [])
        out_enrollments.append(item)
    return {
        "format": "slipguard-customer-export/1",
        "exported_at": _iso(now()),
        "customer": profile,
        "current_consent": current,
        "consent_history": history,
        "enrollments": out_enrollments,
    }


@dataclass(frozen=True)
class Erasure:
    """The outcome of :func:`erase_customer`."""

    customer: Customer
    enrollments_cancelled: int
    steps_cancelled: int
    nudges_cancelled: int
    consent_records_kept: int


async def erase_customer(tenant: Tenant, customer_id: UUID) -> Erasure:
    """Erase the customer's personal data and stop everything planned for them.

    Names are blanked; phone, email and external_ref become null; ``erased_at`` is set (the
    first time only). Active enrollments are cancelled, and so are pending steps and every
    message not yet sent, so nothing reaches the person afterwards. The pseudonym stays: it
    identifies no one and keeps the error statistics whole.

    Consent records are kept, because proof that consent was given (and withdrawn) must be
    retained for years after the fact; their ``evidence`` is blanked, since it may hold
    personal data such as an IP address or a signature. Repeating an erasure is harmless.
    """
    moment = now()
    async with write_transaction():
        customer = await get_customer(tenant, customer_id)
        if customer.erased_at is None:
            await tenant.update(
                Customer,
                {
                    Customer.first_name: "",
                    Customer.last_name: "",
                    Customer.phone: None,
                    Customer.email: None,
                    Customer.external_ref: None,
                    Customer.erased_at: moment,
                    Customer.updated_at: moment,
                },
            ).where(Customer.id == customer_id)
        # The rest runs on every call, so a repeat also stops anything that slipped in since.
        every = await tenant.select(Enrollment, Enrollment.id, Enrollment.status).where(
            Enrollment.customer == customer_id
        )
        active = [e for e in every if e["status"] == "active"]
        if active:
            await tenant.update(
                Enrollment, {Enrollment.status: "cancelled", Enrollment.cancelled_at: moment}
            ).where(Enrollment.id.is_in([e["id"] for e in active]))
        # Every pending step of the customer, not only the active enrollments': an erased
        # person must receive nothing at all.
        pending = await (
            tenant.select(Step, Step.id)
            .where(Step.customer == customer_id)
            .where(Step.status == "pending")
        )
        if pending:
            await tenant.update(Step, {Step.status: "cancelled"}).where(
                Step.id.is_in([s["id"] for s in pending])
            )
        # Every enrollment's unsent messages, for the same reason.
        stopped = await nudges.cancel_for_enrollments(
            tenant, [e["id"] for e in every], "customer_erased", moment
        )
        await tenant.update(ConsentRecord, {ConsentRecord.evidence: ""}).where(
            ConsentRecord.customer == customer_id
        )
        kept = await tenant.select(ConsentRecord, ConsentRecord.id).where(
            ConsentRecord.customer == customer_id
        )
    return Erasure(
        await get_customer(tenant, customer_id), len(active), len(pending), stopped, len(kept)
    )
