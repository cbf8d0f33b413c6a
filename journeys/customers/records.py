"""Customer records: create (with initial consent, all or nothing), read, change, search."""

from __future__ import annotations

import re
import secrets
import sqlite3
from datetime import timedelta
from typing import Any
from uuid import UUID

import asyncpg.exceptions
from msgspec import UNSET
from piccolo.columns.combination import WhereRaw

from core import clock
from core.db import write_transaction
from core.errors import FieldError
from core.identity import organization_by_id
from core.pagination import DEFAULT_LIMIT, keyset, page
from core.tenancy import Tenant
from journeys.customers.consent import new_record
from journeys.customers.forms import NAME_MAX
from journeys.customers.normalize import (
    Checker,
    check_consent,
    check_ref,
    check_timezone,
    normalize_email,
    normalize_hhmm,
    normalize_locale,
    normalize_phone,
    optional,
    text,
)
from journeys.customers.schemas import CustomerIn, CustomerPatch
from journeys.errors import CustomerErased, CustomerNotFound, CustomerRefExists
from journeys.tables import Customer
from settings import get_settings

# LIKE wildcards in a search term are literal text, escaped with this character.
_LIKE_ESCAPE = "!"


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
    ck = Checker()
    first_name = ck.run("first_name", text, data.first_name, NAME_MAX, required=True)
    last_name = ck.run("last_name", text, data.last_name, NAME_MAX)
    ref = ck.run("external_ref", optional, check_ref, data.external_ref)
    phone = ck.run("phone", optional, normalize_phone, data.phone, region)
    email = ck.run("email", optional, normalize_email, data.email)
    locale = ck.run("locale", normalize_locale, data.locale)
    timezone = ck.run("timezone", optional, check_timezone, data.timezone)
    send_window_start = ck.run("send_window_start", normalize_hhmm, data.send_window_start)
    send_window_end = ck.run("send_window_end", normalize_hhmm, data.send_window_end)
    if send_window_start and send_window_start == send_window_end:
        ck.add("send_window_end", "must differ from send_window_start (the window would be empty)")
    # The raw values decide whether an address was given: a mistyped phone is reported once,
    # as a phone error, not again on every consent that needs it.
    addresses = {"phone": data.phone, "email": data.email}
    seen: dict[tuple[str, str], int] = {}
    for i, c in enumerate(data.consent):
        check_consent(ck, c, addresses, prefix=f"consent[{i}].")
        key = (c.channel, c.purpose)
        if key in seen:
            ck.add(f"consent[{i}].purpose", f"repeats consent[{seen[key]}] for {c.channel}")
        seen.setdefault(key, i)
    ck.raise_if_any("customer")

    if timezone is None:
        timezone = (await organization_by_id(tenant.org_id)).timezone
    moment = clock.now()
    customer = tenant.new(
        Customer,
        external_ref=ref,
        first_name=first_name,
        last_name=last_name,
        phone=phone,
        email=email,
        locale=locale,
        timezone=timezone,
        send_window_start=send_window_start,
        send_window_end=send_window_end,
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
                await new_record(tenant, customer.id, c, stamp).save()
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
        raise CustomerErased.of(customer_id)
    ck = Checker()
    values: dict[Any, Any] = {}
    if data.first_name is not UNSET:
        values[Customer.first_name] = ck.run(
            "first_name", text, data.first_name, NAME_MAX, required=True
        )
    if data.last_name is not UNSET:
        values[Customer.last_name] = ck.run("last_name", text, data.last_name, NAME_MAX)
    if data.external_ref is not UNSET:
        values[Customer.external_ref] = ck.run(
            "external_ref", optional, check_ref, data.external_ref
        )
    if data.phone is not UNSET:
        values[Customer.phone] = ck.run("phone", optional, normalize_phone, data.phone, region)
    if data.email is not UNSET:
        values[Customer.email] = ck.run("email", optional, normalize_email, data.email)
    if data.locale is not UNSET:
        values[Customer.locale] = ck.run("locale", normalize_locale, data.locale)
    if data.timezone is not UNSET:
        values[Customer.timezone] = ck.run("timezone", check_timezone, data.timezone)
    if data.send_window_start is not UNSET:
        values[Customer.send_window_start] = ck.run(
            "send_window_start", normalize_hhmm, data.send_window_start
        )
    if data.send_window_end is not UNSET:
        values[Customer.send_window_end] = ck.run(
            "send_window_end", normalize_hhmm, data.send_window_end
        )
    start = values.get(Customer.send_window_start, customer.send_window_start)
    end = values.get(Customer.send_window_end, customer.send_window_end)
    if start and start == end:
        field = "send_window_end" if data.send_window_end is not UNSET else "send_window_start"
        ck.add(field, "send_window_start and send_window_end must differ (empty window)")
    ck.raise_if_any("customer")
    if not values:
        return customer

    values[Customer.updated_at] = clock.now()
    ref = values.get(Customer.external_ref)
    try:
        async with write_transaction():
            # Re-read inside the transaction: an erasure may have landed meanwhile.
            current = await get_customer(tenant, customer_id)
            if current.erased_at is not None:
                raise CustomerErased.of(customer_id)
            if Customer.external_ref in values:
                await _check_ref_free(tenant, ref, own_id=customer_id)
            await tenant.update(Customer, values).where(Customer.id == customer_id)
    except (sqlite3.IntegrityError, asyncpg.exceptions.UniqueViolationError) as exc:
        if ref is not None and _is_duplicate_ref(exc):
            raise _ref_exists(ref) from None
        raise
    return await get_customer(tenant, customer_id)


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
