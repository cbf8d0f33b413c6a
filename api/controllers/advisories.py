"""Advisories API: one message to every customer a journey affects, and its progress."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response.base import ASGIResponse

from api.auth import principal_of, requires
from api.responses import idempotent
from coaching import advisories
from coaching.schemas import Advisories, AdvisoryIn, AdvisoryOut
from core.tenancy import Tenant

AnyRequest = Request[Any, Any, Any]


async def _out(tenant: Tenant, advisory: Any) -> AdvisoryOut:
    found = await advisories.progress(tenant, advisory.id)
    return AdvisoryOut.of(advisory, found.by_status, found.suppressed)


class AdvisoryController(Controller):
    """``/api/v1/advisories``."""

    path = "/api/v1/advisories"
    tags = ["advisories"]

    @post(
        "/",
        opt=requires("manager"),
        responses={201: ResponseSpec(AdvisoryOut, description="The advisory, written")},
    )
    async def create(self, request: AnyRequest, data: JSONBody[AdvisoryIn]) -> ASGIResponse:
        """Write the advisory's message for every affected customer at once (all or
        nothing); the workers send them from ``send_at`` with consent, sending window and
        cap applied. Follow ``progress`` with GET. Send ``Idempotency-Key`` to make a
        retry safe (without one, a second POST is a second advisory)."""
        p = principal_of(request)
        req = advisories.AdvisoryRequest(
            data.journey, data.behaviour, data.template, data.channel, data.purpose, data.send_at
        )

        async def work() -> AdvisoryOut:
            made = await advisories.create_advisory(p.tenant, req, p.user_id, p.api_key_id)
            return await _out(p.tenant, made)

        return await idempotent(request, 201, work)

    @get("/", opt=requires("manager"))
    async def index(self, request: AnyRequest) -> Advisories:
        """The 100 most recent advisories with their progress."""
        tenant = principal_of(request).tenant
        return Advisories(
            items=[await _out(tenant, a) for a in await advisories.list_advisories(tenant)]
        )

    @get("/{advisory_id:uuid}", opt=requires("manager"))
    async def show(self, request: AnyRequest, advisory_id: FromPath[UUID]) -> AdvisoryOut:
        """One advisory: how many messages wait, went out, failed or were suppressed (and
        why); ``done`` once none waits."""
        tenant = principal_of(request).tenant
        return await _out(tenant, await advisories.get_advisory(tenant, advisory_id))
