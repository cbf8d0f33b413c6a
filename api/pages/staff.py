"""The staff quick-entry page: log a slip in a few taps, from a phone, even offline.

The page and its JSON endpoints use the session cookie and CSRF token of the pages (the
script sends the ``slipguard_csrf`` cookie back as ``x-csrftoken``). Every entry carries
an ``Idempotency-Key`` made on the phone, so a double tap or a resend logs one slip.
"""

from __future__ import annotations

import time
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response import Redirect, Template
from litestar.response.base import ASGIResponse

from api.auth import principal_of, requires
from api.responses import create_once
from api.slip_intake import preparer, reporter_of
from coaching import inbound
from coaching.schemas import InboxItemOut
from journeys.customers import records as customers
from journeys.tables import Customer
from slips import corrections
from slips import stats as slip_stats
from slips.schemas import SlipIn, SlipOut

AnyRequest = Request[Any, Any, Any]
INBOX_PAGE = 100
SEARCH_LIMIT = 8
SEARCH_MIN_CHARS = 2
UNDO_REASON = "undone by reporter"


class CustomerHit(msgspec.Struct):
    """A customer search result, with only the end of the phone number shown."""

    id: UUID
    name: str
    external_ref: str | None
    phone: str | None

    @classmethod
    def of(cls, c: Customer) -> CustomerHit:
        name = f"{c.first_name} {c.last_name}".strip()
        return cls(c.id, name, c.external_ref, mask_phone(c.phone))


class CustomerHits(msgspec.Struct):
    """Up to eight matches."""

    items: list[CustomerHit]


def mask_phone(phone: str | None) -> str | None:
    """``+14155550132`` → ``•••• 0132``: enough to tell two customers apart, no more."""
    digits = "".join(ch for ch in phone or "" if ch.isdigit())
    return f"•••• {digits[-4:]}" if digits else None


class StaffPages(Controller):
    """``/staff``: the quick-entry page and the endpoints its script calls."""

    path = "/staff"
    include_in_schema = False
    opt = requires("staff")

    @get("/")
    async def entry(self, request: AnyRequest) -> Template:
        """The entry page, with the choices ordered by recent and frequent use."""
        principal = principal_of(request)
        choices = await slip_stats.staff_choices(principal.tenant)
        return Template(
            "staff.html",
            context={
                "principal": principal,
                "choices": choices,
                "server_now_ms": int(time.time() * 1000),
            },
        )

    @post("/slips")
    async def log_slip(self, request: AnyRequest, data: JSONBody[SlipIn]) -> ASGIResponse:
        """Log one slip as the signed-in user, at most once per ``Idempotency-Key``."""
        return await create_once(
            request, 201, preparer(principal_of(request), data), require_key=True
        )

    @post("/slips/{slip_id:uuid}/undo", status_code=200)
    async def undo(self, request: AnyRequest, slip_id: FromPath[UUID]) -> SlipOut:
        """Void a slip the signed-in user logged (within the edit window)."""
        p = principal_of(request)
        slip = await corrections.void_slip(p.tenant, slip_id, UNDO_REASON, reporter_of(p), False)
        return SlipOut.of(slip, await corrections.journey_key(p.tenant, slip))

    @get("/customers")
    async def search_customers(self, request: AnyRequest, q: FromQuery[str] = "") -> CustomerHits:
        """Customers whose name, external_ref or phone contain ``q`` (at most eight)."""
        term = q.strip()
        if len(term) < SEARCH_MIN_CHARS:
            return CustomerHits(items=[])
        found, _ = await customers.list_customers(
            principal_of(request).tenant, term, limit=SEARCH_LIMIT
        )
        return CustomerHits(items=[CustomerHit.of(c) for c in found])

    @get("/inbox")
    async def inbox(self, request: AnyRequest, closed: FromQuery[int] = 0) -> Template:
        """Texts no rule could act on, oldest first, each with a one-tap close."""
        principal = principal_of(request)
        rows, more = await inbound.list_inbox(principal.tenant, "open", limit=INBOX_PAGE)
        items = [InboxItemOut.of(r) for r in rows]
        ids = {i.customer_id for i in items if i.customer_id}
        names: dict[UUID, str] = {}
        if ids:
            for c in await principal.tenant.select(
                Customer, Customer.id, Customer.first_name, Customer.last_name
            ).where(Customer.id.is_in(list(ids))):
                names[c["id"]] = f"{c['first_name']} {c['last_name']}".strip() or "Customer"
        return Template(
            "inbox.html",
            context={
                "principal": principal,
                "items": items,
                "names": names,
                "more": more is not None,
                "closed": closed == 1,
            },
        )

    @post("/inbox/{item_id:uuid}/close", status_code=303)
    async def close_inbox_item(self, request: AnyRequest, item_id: FromPath[UUID]) -> Redirect:
        """Close one inbox item (a plain form post: works without JavaScript)."""
        p = principal_of(request)
        await inbound.close_item(p.tenant, item_id, p.user_id)
        return Redirect("/staff/inbox?closed=1", status_code=303)
