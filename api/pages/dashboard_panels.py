"""Manager pages for countermeasures (with source owners) and the nudge panels: each
page, the JSON its script draws from, a CSV per panel, and the managers' forms.

Forms post with the page session and its CSRF token and come back to the page (303); a
form that does not validate shows the page again with the problem named.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Response, Template

from api.auth import principal_of, requires
from api.pages.dashboards import plotly_style_guards
from core import clock
from core.errors import Invalid
from core.tenancy import Tenant
from dashboards import countermeasures, nudge_panels, owners, panel_exports, queries, services
from dashboards.measure_schemas import (
    STRATEGIES,
    CountermeasureEnd,
    CountermeasureIn,
    CountermeasureOut,
    OwnerIn,
)
from dashboards.nudge_schemas import NudgePanels

AnyRequest = Request[Any, Any, Any]
NO_STORE = {"Cache-Control": "no-store"}


async def source_choices(tenant: Tenant) -> list[tuple[str, str]]:
    """Every error source the journeys define, as (form value, label)."""
    found = await queries.journeys(tenant)
    out = []
    for jid, j in sorted(found.items(), key=lambda kv: kv[1].key):
        for b_key, b in j.behaviours.items():
            for mode in (None, *b.modes):
                value = "|".join((j.key, b_key, mode or ""))
                label = countermeasures.source_label((jid, b_key, mode), found)
                out.append((value, label if mode else f"{label}, no failure mode recorded"))
    return out


@dataclass(frozen=True)
class CountermeasureScope:
    """The countermeasures page's filters as the URL gives them (blank means none; no
    period means every countermeasure, whenever it ran)."""

    journey: str | None = None
    since: date | None = None
    until: date | None = None
    site: str | None = None
    stage: str | None = None

    @classmethod
    def of(
        cls,
        journey: str | None,
        since: str | None,
        until: str | None,
        site: str | None,
        stage: str | None,
    ) -> CountermeasureScope:
        def clean(value: str | None) -> str | None:
            return (value or "").strip() or None

        first = services.optional_day(since, "since")
        last = services.optional_day(until, "until")
        return cls(clean(journey), first, last, clean(site), clean(stage))

    @property
    def filters(self) -> queries.Filters:
        return queries.Filters(self.journey, self.site, self.stage)

    def shown(self) -> dict[str, str]:
        """The filters in their URL form, in the form's order."""
        values = (
            ("journey", self.journey),
            ("since", self.since.isoformat() if self.since else None),
            ("until", self.until.isoformat() if self.until else None),
            ("site", self.site),
            ("stage", self.stage),
        )
        return {k: v for k, v in values if v}


def _source(form: dict[str, str]) -> dict[str, Any]:
    journey, _, rest = form.get("source", "").partition("|")
    behaviour, _, mode = rest.partition("|")
    return {"journey": journey, "behaviour": behaviour, "failure_mode": mode or None}


def _csv(header: list[str], rows: list[list[Any]], name: str) -> Response[str]:
    return Response(
        services.to_csv(header, rows),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


def _scope(
    journey: FromQuery[str | None] = None,
    since: FromQuery[str | None] = None,
    until: FromQuery[str | None] = None,
    site: FromQuery[str | None] = None,
    stage: FromQuery[str | None] = None,
) -> CountermeasureScope:
    """The countermeasures routes' filters, read once from the query string for each."""
    return CountermeasureScope.of(journey, since, until, site, stage)


SCOPE = {"chosen": Provide(_scope, sync_to_thread=False)}


class PanelPages(Controller):
    """``/dashboards/countermeasures``, ``/dashboards/owners`` and ``/dashboards/nudges``."""

    path = "/dashboards"
    include_in_schema = False
    opt = requires("manager")

    # --- countermeasures and owners ------------------------------------------------------

    async def _countermeasures(
        self, request: AnyRequest, scope: CountermeasureScope
    ) -> list[CountermeasureOut]:
        tenant = principal_of(request).tenant
        tz = await services.organization_timezone(tenant)
        period = (
            None
            if scope.since is None and scope.until is None
            else services.page_window(tz, scope.since, scope.until, clock.now())
        )
        return await countermeasures.list_all(tenant, scope.filters, period)

    async def _countermeasure_page(
        self,
        request: AnyRequest,
        error: str | None = None,
        status: int = 200,
        scope: CountermeasureScope | None = None,
    ) -> Template:
        principal = principal_of(request)
        tenant = principal.tenant
        tz = await services.organization_timezone(tenant)
        scope = scope or CountermeasureScope()
        return Template(
            "countermeasures.html",
            context={
                "principal": principal,
                "items": await self._countermeasures(request, scope),
                "choices": await services.filter_choices(tenant),
                "filters": scope.shown(),
                "query": urlencode(scope.shown()),
                "owners": await owners.list_owners(tenant),
                "sources": await source_choices(tenant),
                "strategies": STRATEGIES,
                "today": clock.now().astimezone(tz).date().isoformat(),
                "timezone": str(tz),
                "error": error,
                "style_guards": plotly_style_guards(),
            },
            status_code=status,
        )

    @get("/countermeasures", dependencies=SCOPE)
    async def countermeasure_page(
        self,
        request: AnyRequest,
        chosen: NamedDependency[CountermeasureScope],
    ) -> Template:
        """Countermeasures with their before/after comparison, and the managers' forms;
        the filters live in the URL."""
        return await self._countermeasure_page(request, scope=chosen)

    @get("/countermeasures/data", dependencies=SCOPE)
    async def countermeasure_data(
        self,
        request: AnyRequest,
        chosen: NamedDependency[CountermeasureScope],
    ) -> Response[bytes]:
        """The countermeasures and the before/after figure, as JSON."""
        items = await self._countermeasures(request, chosen)
        return Response(
            panel_exports.countermeasure_payload(items),
            media_type="application/json",
            headers=NO_STORE,
        )

    @get("/countermeasures/export.csv", dependencies=SCOPE)
    async def countermeasure_csv(
        self,
        request: AnyRequest,
        chosen: NamedDependency[CountermeasureScope],
    ) -> Response[str]:
        """The before/after numbers of the countermeasures shown, as CSV."""
        items = await self._countermeasures(request, chosen)
        header, rows = panel_exports.countermeasure_table(items)
        return _csv(header, rows, "slipguard-countermeasures.csv")

    @post("/countermeasures", status_code=303)
    async def add_countermeasure(
        self, request: AnyRequest, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        """Record a countermeasure from the page's form."""
        tenant = principal_of(request).tenant
        try:
            body = msgspec.convert(
                {
                    **_source(data),
                    "strategy": data.get("strategy", ""),
                    "start_date": data.get("start_date", ""),
                    "owner": data.get("owner", "").strip(),
                    "note": data.get("note", "").strip(),
                },
                CountermeasureIn,
                strict=False,
            )
            tz = await services.organization_timezone(tenant)
            await countermeasures.create(tenant, body, tz)
        except (msgspec.ValidationError, Invalid) as e:
            return await self._countermeasure_page(request, _message(e), 422)
        return Redirect("/dashboards/countermeasures", status_code=303)

    @post("/countermeasures/{countermeasure_id:uuid}/end", status_code=303)
    async def end_countermeasure(
        self, request: AnyRequest, countermeasure_id: FromPath[UUID]
    ) -> Redirect:
        """End a countermeasure now (its after-period stops here)."""
        tenant = principal_of(request).tenant
        tz = await services.organization_timezone(tenant)
        await countermeasures.end(tenant, countermeasure_id, CountermeasureEnd(), tz)
        return Redirect("/dashboards/countermeasures", status_code=303)

    @post("/owners", status_code=303)
    async def set_owner(
        self, request: AnyRequest, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        """Set (or, left blank, clear) who answers for a source."""
        try:
            owner = data.get("owner", "").strip() or None
            body = msgspec.convert({**_source(data), "owner": owner}, OwnerIn)
            await owners.set_owner(principal_of(request).tenant, body)
        except (msgspec.ValidationError, Invalid) as e:
            return await self._countermeasure_page(request, _message(e), 422)
        return Redirect("/dashboards/countermeasures#owners", status_code=303)

    # --- nudges ------------------------------------------------------------------------------

    async def _nudges(
        self, request: AnyRequest, journey: str | None, since: date | None, until: date | None
    ) -> NudgePanels:
        tenant = principal_of(request).tenant
        tz = await services.organization_timezone(tenant)
        window = services.page_window(tz, since, until, clock.now())
        return await nudge_panels.panels(tenant, window, (journey or "").strip() or None, tz)

    @get("/nudges")
    async def nudge_page(
        self,
        request: AnyRequest,
        journey: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Template:
        """Nudge effectiveness, service standards and operations; filters in the URL."""
        principal = principal_of(request)
        tz = await services.organization_timezone(principal.tenant)
        last = until or clock.now().astimezone(tz).date()
        first = since or services.default_first_day(last)
        clean = {"journey": journey.strip()} if journey and journey.strip() else {}
        query = urlencode({**clean, "since": first.isoformat(), "until": last.isoformat()})
        return Template(
            "nudges.html",
            context={
                "principal": principal,
                "choices": await services.filter_choices(principal.tenant),
                "filters": {**clean, "since": first, "until": last},
                "timezone": str(tz),
                "query": query,
                "style_guards": plotly_style_guards(),
            },
        )

    @get("/nudges/data")
    async def nudge_data(
        self,
        request: AnyRequest,
        journey: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        panel: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        """Every nudge panel's rows and figures as JSON; with ``panel``, that panel's rows."""
        p = await self._nudges(request, journey, since, until)
        body = (
            panel_exports.nudge_payload(p)
            if panel is None
            else panel_exports.nudge_panel_json(p, panel)
        )
        return Response(body, media_type="application/json", headers=NO_STORE)

    @get("/nudges/export.csv")
    async def nudge_csv(
        self,
        request: AnyRequest,
        panel: FromQuery[str] = "effectiveness",
        journey: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
    ) -> Response[str]:
        """One nudge panel's plotted numbers as CSV."""
        p = await self._nudges(request, journey, since, until)
        header, rows = panel_exports.nudge_table(p, panel)
        span = f"{p.since.date().isoformat()}-{p.until.date().isoformat()}"
        return _csv(header, rows, f"slipguard-{panel}-{span}.csv")


def _message(error: Exception) -> str:
    """A form problem in words: the field and what is wrong with it."""
    if isinstance(error, Invalid) and error.errors:
        return "; ".join(f"{e.field}: {e.message}" for e in error.errors)
    return str(error)
