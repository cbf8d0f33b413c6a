"""Countermeasures API: record a prevention strategy against one error source, list them
with their before/after comparison, end or delete one."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, delete, get, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, JSONBody
from litestar.response.base import ASGIResponse

from api.auth import principal_of, requires
from api.openapi import may_answer
from api.responses import idempotent
from dashboards import countermeasures, services
from dashboards.measure_schemas import (
    CountermeasureEnd,
    CountermeasureIn,
    CountermeasureOut,
    Countermeasures,
)

AnyRequest = Request[Any, Any, Any]


class CountermeasureController(Controller):
    """``/api/v1/countermeasures``."""

    path = "/api/v1/countermeasures"
    tags = ["countermeasures"]

    @post(
        "/",
        opt=requires("manager") | may_answer(404),
        responses={201: ResponseSpec(CountermeasureOut, description="The countermeasure")},
    )
    async def create(self, request: AnyRequest, data: JSONBody[CountermeasureIn]) -> ASGIResponse:
        """Record a countermeasure from ``start_date`` (a day in the organisation's
        timezone). Send ``Idempotency-Key`` to make retries safe."""
        tenant = principal_of(request).tenant

        async def work() -> CountermeasureOut:
            tz = await services.organization_timezone(tenant)
            return await countermeasures.create(tenant, data, tz)

        return await idempotent(request, 201, work)

    @get("/", opt=requires("manager"))
    async def index(self, request: AnyRequest) -> Countermeasures:
        """Every countermeasure, newest start first, each with the target's rate in equal
        periods before and after its start and the rate ratio's exact 95% interval."""
        items = await countermeasures.list_all(principal_of(request).tenant)
        return Countermeasures(items=items)

    @get("/{countermeasure_id:uuid}", opt=requires("manager"))
    async def show(
        self, request: AnyRequest, countermeasure_id: FromPath[UUID]
    ) -> CountermeasureOut:
        """One countermeasure with its comparison."""
        return await countermeasures.one(principal_of(request).tenant, countermeasure_id)

    @post("/{countermeasure_id:uuid}/end", opt=requires("manager"), status_code=200)
    async def end(
        self,
        request: AnyRequest,
        countermeasure_id: FromPath[UUID],
        data: JSONBody[CountermeasureEnd],
    ) -> CountermeasureOut:
        """End a countermeasure at the start of ``end_date`` (default: now); its
        after-period stops there."""
        tenant = principal_of(request).tenant
        tz = await services.organization_timezone(tenant)
        return await countermeasures.end(tenant, countermeasure_id, data, tz)

    @delete("/{countermeasure_id:uuid}", opt=requires("manager") | may_answer(404))
    async def remove(self, request: AnyRequest, countermeasure_id: FromPath[UUID]) -> None:
        """Delete a countermeasure recorded by mistake."""
        await countermeasures.delete(principal_of(request).tenant, countermeasure_id)
