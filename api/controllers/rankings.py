"""Rankings API: error sources ranked by priority, count or FMEA Action Priority, and the
organisation's Action Priority table."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, put
from litestar.params import FromQuery, JSONBody

from api.auth import principal_of, requires
from api.openapi import may_answer
from api.params import Instant, instant
from dashboards import owners, services
from dashboards.measure_schemas import OwnerIn, OwnerOut, Owners
from dashboards.priority import ActionPriorityConfig
from dashboards.queries import Filters
from dashboards.schemas import RankBy, Ranking

AnyRequest = Request[Any, Any, Any]


class RankingController(Controller):
    """``/api/v1/rankings``."""

    path = "/api/v1/rankings"
    tags = ["rankings"]

    @get("/", opt=requires("manager"))
    async def index(
        self,
        request: AnyRequest,
        journey: FromQuery[str | None] = None,
        since: Instant = None,
        until: Instant = None,
        site: FromQuery[str | None] = None,
        stage: FromQuery[str | None] = None,
        by: FromQuery[RankBy] = "priority",
    ) -> Ranking:
        """Error sources (journey x behaviour x failure mode) in ``[since, until)`` (default:
        the last 30 days), ranked ``by`` priority (importance x slips per 100 due steps),
        count, or Action Priority then priority. Voided slips are left out; see
        docs/dashboards.md for every formula."""
        window = services.window_of(instant(since, "since"), instant(until, "until"))
        filters = Filters(journey=journey, site=site, stage=stage)
        return await services.ranking(principal_of(request).tenant, window, filters, by)

    @get("/owners", opt=requires("manager"))
    async def list_owners(self, request: AnyRequest) -> Owners:
        """Who answers for each error source, where a manager has said."""
        return Owners(items=await owners.list_owners(principal_of(request).tenant))

    @put("/owners", opt=requires("manager") | may_answer(404))
    async def set_owner(self, request: AnyRequest, data: JSONBody[OwnerIn]) -> OwnerOut | None:
        """Set who answers for one error source (journey, behaviour, failure mode; a null
        failure mode is the slips logged without one); a null ``owner`` clears it."""
        return await owners.set_owner(principal_of(request).tenant, data)

    @get("/action-priority", opt=requires("manager"))
    async def action_priority(self, request: AnyRequest) -> ActionPriorityConfig:
        """The organisation's Action Priority table and rating rules (the default until
        one is saved)."""
        return await services.action_priority_table(principal_of(request).tenant)

    @put("/action-priority", opt=requires("admin"))
    async def save_action_priority(
        self, request: AnyRequest, data: JSONBody[ActionPriorityConfig]
    ) -> ActionPriorityConfig:
        """Replace the organisation's Action Priority table (checked as a whole)."""
        return await services.save_action_priority_table(principal_of(request).tenant, data)
