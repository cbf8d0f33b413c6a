"""``/c/<token>``: the customer's own page, reached from a link in their messages.

The signed token in the path is the only credential (:mod:`coaching.links`); every form
also carries the CSRF token. Pages are phone-first, in the customer's language, never
cached, and keep nothing in a session: a visitor holds only what the token opens.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from api.pages.customer_texts import TEXTS
from coaching import links, privacy, selfservice
from coaching.errors import LinkExpired, LinkInvalid
from core import audit
from core.errors import DomainError
from core.tables import Organization
from journeys.tables import Customer
from settings import get_settings

AnyRequest = Request[Any, Any, Any]
STATUS = {"not_found": 404, "throttled": 429, "conflict": 409}
NOTICES = ("done", "missed", "preferences", "details", "phone", "code")


def _clean(data: dict[str, str], name: str, limit: int = 500) -> str:
    return (data.get(name) or "").replace("\x00", "").strip()[:limit]


def _language(request: AnyRequest) -> str:
    """For pages that know no customer: Chinese when the browser asks for it first."""
    wanted = request.headers.get("accept-language", "").lower()
    return "zh-CN" if wanted.startswith("zh") else "en"


def _broken(request: AnyRequest, exc: Exception) -> Template:
    """The friendly page for a link that opens nothing (never a stack trace): the handler
    of :class:`LinkInvalid` for every route here."""
    expired = isinstance(exc, LinkExpired)
    token = str(request.path_params.get("token", ""))
    return Template(
        "customer/broken.html",
        context={"t": TEXTS[_language(request)], "expired": expired, "token": token},
        status_code=410 if expired else 404,
    )


async def _context(customer: Customer, **extra: Any) -> dict[str, Any]:
    org = await Organization.objects().where(Organization.id == customer.organization).first()
    contact = " · ".join(p for p in (org.contact_phone, org.contact_email) if p) if org else ""
    return {
        "t": TEXTS[selfservice.page_locale(customer)],
        "customer": customer,
        "org_name": org.name if org else "",
        "contact": contact,
        **extra,
    }


class CustomerPortal(Controller):
    """Public: the token is the credential; no staff login reaches or is needed here."""

    path = links.PATH.rstrip("/")
    include_in_schema = False
    cache_control = CacheControlHeader(no_store=True, private=True)
    exception_handlers = {LinkInvalid: _broken}

    async def _holder(self, token: str) -> Customer:
        return await links.holder(get_settings(), token)

    async def _show(
        self, customer: Customer, token: str, notice: str | None = None,
        error: str | None = None, status_code: int = 200,
    ) -> Template:  # fmt: skip
        view = await selfservice.overview(customer)
        context = await _context(
            customer, token=token, view=view, notice=notice, error=error,
            paused=selfservice.paused_text(customer),
        )  # fmt: skip
        return Template("customer/steps.html", context=context, status_code=status_code)

    @get("/{token:str}")
    async def steps(self, token: FromPath[str], saved: FromQuery[str | None] = None) -> Template:
        """Today's and upcoming steps, the last month's with their outcome, and streaks."""
        customer = await self._holder(token)
        return await self._show(customer, token, saved if saved in NOTICES else None)

    @post("/{token:str}/steps/{step_id:uuid}/done")
    async def done(self, token: FromPath[str], step_id: FromPath[UUID]) -> Any:
        """Mark one of the customer's steps done."""
        customer = await self._holder(token)
        try:
            await selfservice.mark_done(customer, step_id)
        except DomainError as exc:
            return await self._show(customer, token, error=_say(exc), status_code=_status(exc))
        return Redirect(f"{links.PATH}{token}?saved=done", status_code=303)

    @get("/{token:str}/steps/{step_id:uuid}/cannot")
    async def why(self, token: FromPath[str], step_id: FromPath[UUID]) -> Template:
        """Ask what got in the way: the behaviour's failure modes, or something else."""
        customer = await self._holder(token)
        return await self._why(customer, token, step_id)

    async def _why(
        self, customer: Customer, token: str, step_id: UUID, error: str | None = None,
        status_code: int = 200,
    ) -> Template:  # fmt: skip
        view = await selfservice.overview(customer)
        step = next((s for s in (*view.upcoming, *view.past) if s.id == step_id), None)
        if step is None:
            return await self._show(customer, token, error="step not found", status_code=404)
        context = await _context(customer, token=token, step=step, error=error)
        return Template("customer/why.html", context=context, status_code=status_code)

    @post("/{token:str}/steps/{step_id:uuid}/cannot")
    async def cannot(
        self, token: FromPath[str], step_id: FromPath[UUID],
        data: URLEncodedBody[dict[str, str]],
    ) -> Any:  # fmt: skip
        """Record the customer's reason as their own slip; the step stops reminding."""
        customer = await self._holder(token)
        try:
            await selfservice.report_missed(
                customer, step_id, _clean(data, "reason", 64), _clean(data, "text", 2000)
            )
        except DomainError as exc:
            return await self._why(customer, token, step_id, _say(exc), _status(exc))
        return Redirect(f"{links.PATH}{token}?saved=missed", status_code=303)

    @get("/{token:str}/preferences")
    async def preferences(
        self, token: FromPath[str], saved: FromQuery[str | None] = None
    ) -> Template:
        """Channels, quiet hours, language and a pause."""
        customer = await self._holder(token)
        return await self._preferences(customer, token, saved if saved in NOTICES else None)

    async def _preferences(
        self, customer: Customer, token: str, notice: str | None = None,
        error: str | None = None, status_code: int = 200,
    ) -> Template:  # fmt: skip
        context = await _context(
            customer, token=token, notice=notice, error=error,
            form=await selfservice.preference_form(customer),
            locales=selfservice.LOCALES,
            channel_text=selfservice.CHANNEL_TEXT[selfservice.page_locale(customer)],
            paused=selfservice.paused_text(customer),
        )  # fmt: skip
        return Template("customer/preferences.html", context=context, status_code=status_code)

    @post("/{token:str}/preferences")
    async def save_preferences(
        self, request: AnyRequest, token: FromPath[str], data: URLEncodedBody[dict[str, str]]
    ) -> Any:
        """Apply the preferences; consent changes keep the words shown and how."""
        customer = await self._holder(token)
        wanted = selfservice.Preferences(
            locale=_clean(data, "locale", 35),
            window_start=_clean(data, "window_start", 5),
            window_end=_clean(data, "window_end", 5),
            pause_until=_clean(data, "pause_until", 10),
            sms=data.get("sms") == "on",
            email=data.get("email") == "on",
        )
        client = request.client.host if request.client else "unknown"
        try:
            await selfservice.update_preferences(customer, wanted, f"customer page, from {client}")
        except DomainError as exc:
            return await self._preferences(
                customer, token, error=_say(exc), status_code=_status(exc)
            )
        return Redirect(f"{links.PATH}{token}/preferences?saved=preferences", status_code=303)

    @get("/{token:str}/privacy")
    async def your_data(
        self, token: FromPath[str], saved: FromQuery[str | None] = None
    ) -> Template:
        """Download, correct, delete."""
        customer = await self._holder(token)
        return await self._privacy(customer, token, saved if saved in NOTICES else None)

    async def _privacy(
        self, customer: Customer, token: str, notice: str | None = None,
        error: str | None = None, status_code: int = 200,
    ) -> Template:  # fmt: skip
        context = await _context(
            customer, token=token, notice=notice, error=error,
            pending_phone=await selfservice.pending_phone(customer),
        )  # fmt: skip
        return Template("customer/privacy.html", context=context, status_code=status_code)

    @get("/{token:str}/my-data.json")
    async def download(self, token: FromPath[str]) -> Any:
        """Everything held about the customer, as a JSON file."""
        customer = await self._holder(token)
        data = await privacy.export_customer(
            selfservice.tenant_of(customer), customer.id, actor=audit.CUSTOMER
        )
        return Response(
            data,
            media_type="application/json",
            headers={"content-disposition": 'attachment; filename="my-data.json"'},
        )

    @post("/{token:str}/details")
    async def save_details(self, token: FromPath[str], data: URLEncodedBody[dict[str, str]]) -> Any:
        """Name and email as typed; a new phone number gets a code first."""
        customer = await self._holder(token)
        phone = _clean(data, "phone", 40)
        try:
            await selfservice.update_details(
                customer, _clean(data, "first_name", 100), _clean(data, "last_name", 100),
                _clean(data, "email", 254), phone,
            )  # fmt: skip
        except DomainError as exc:
            return await self._privacy(customer, token, error=_say(exc), status_code=_status(exc))
        notice = "code" if phone else "details"
        return Redirect(f"{links.PATH}{token}/privacy?saved={notice}", status_code=303)

    @post("/{token:str}/phone")
    async def confirm_phone(
        self, token: FromPath[str], data: URLEncodedBody[dict[str, str]]
    ) -> Any:
        """The code texted to the new number puts it on file."""
        customer = await self._holder(token)
        try:
            await selfservice.confirm_phone_change(customer, _clean(data, "code", 12))
        except DomainError as exc:
            return await self._privacy(customer, token, error=_say(exc), status_code=_status(exc))
        return Redirect(f"{links.PATH}{token}/privacy?saved=phone", status_code=303)

    @get("/{token:str}/delete")
    async def ask_delete(self, token: FromPath[str]) -> Template:
        """Say what deleting does and keeps, and ask to confirm."""
        customer = await self._holder(token)
        return Template("customer/delete.html", context=await _context(customer, token=token))

    @post("/{token:str}/delete")
    async def delete(self, token: FromPath[str]) -> Template:
        """Erase the customer's personal data; the link stops working."""
        customer = await self._holder(token)
        context = await _context(customer, token=token, deleted=True)
        await privacy.erase_customer(
            selfservice.tenant_of(customer), customer.id, actor=audit.CUSTOMER
        )
        return Template("customer/delete.html", context=context)

    @post("/{token:str}/new-link")
    async def new_link(self, request: AnyRequest, token: FromPath[str]) -> Template:
        """Send a fresh link to the contact on file (expired links name their customer)."""
        t = TEXTS[_language(request)]
        try:
            await links.send_new_link(get_settings(), token)
        except LinkInvalid:
            raise
        except DomainError as exc:
            return Template(
                "customer/broken.html",
                context={"t": t, "expired": True, "token": token, "error": _say(exc)},
                status_code=_status(exc),
            )
        return Template(
            "customer/broken.html", context={"t": t, "expired": True, "sent": True, "token": token}
        )


def _say(exc: DomainError) -> str:
    """What was wrong, field by field when the check names them ("email: not an email
    address"), else the error's own words."""
    if exc.errors:
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return str(exc)


def _status(exc: DomainError) -> int:
    return STATUS.get(exc.kind, 422)
