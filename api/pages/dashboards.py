"""Manager dashboards: the page, the JSON its script draws from, and a CSV per panel.

All three use the page session (manager role or higher); the JSON and the CSV carry
exactly the numbers the figures plot. The page loads Plotly from the installed package
(``/static/plotly/plotly.min.js``), never from another host.
"""

from __future__ import annotations

import re
from datetime import date
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import plotly
from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Response, Template

from api.auth import principal_of, requires
from core import clock
from dashboards import services
from dashboards.queries import Filters
from dashboards.schemas import Dashboard, Measure, RankBy

AnyRequest = Request[Any, Any, Any]
# The directory of plotly.min.js as the installed plotly package ships it (served at
# /static/plotly: never a CDN, never inline).
PLOTLY_DIR = Path(plotly.__file__).parent / "package_data"
PANEL_TITLES = {
    "ranking": "Ranking",
    "pareto": "Pareto",
    "matrix": "Importance x frequency",
    "horrors": "Hierarchy of Horrors",
    "index": "Quality index",
    "trends": "Weekly trends",
    "breakdowns": "Breakdowns",
}
# The Pareto toggle's choices.
MEASURE_TITLES: dict[Measure, str] = {
    "count": "Number of slips",
    "weighted": "Weighted by importance",
}


@cache
def plotly_style_guards() -> tuple[str, ...]:
    """Ids of the stylesheets the Plotly bundle writes inline when it loads (the map
    traces' styles) unless an element with that id is already on the page.

    Dashboards draw no maps, and the page policy allows no inline style, so the page
    carries an empty element with each id instead. Read from the installed bundle, so an
    upgrade of plotly brings its own ids along.
    """
    text = (PLOTLY_DIR / "plotly.min.js").read_text(encoding="utf-8")
    found = re.findall(
        r'getElementById\("([0-9a-f]{16,})"\)\)\{var \w+=document\.createElement\("style"\)',
        text,
    )
    return tuple(dict.fromkeys(found))


def _filters(
    journey: str | None, site: str | None, stage: str | None
) -> tuple[Filters, dict[str, str]]:
    """Filters from the query string (blank means none) and their canonical URL form."""
    clean = {k: v.strip() for k, v in (("journey", journey), ("site", site), ("stage", stage)) if v}
    clean = {k: v for k, v in clean.items() if v}
    return Filters(clean.get("journey"), clean.get("site"), clean.get("stage")), clean


class DashboardPages(Controller):
    """``/dashboards``: the manager's page and its data."""

    path = "/dashboards"
    include_in_schema = False
    opt = requires("manager")

    async def _dashboard(
        self,
        request: AnyRequest,
        journey: str | None,
        since: date | None,
        until: date | None,
        site: str | None,
        stage: str | None,
        by: RankBy,
        measure: Measure,
    ) -> Dashboard:
        tenant = principal_of(request).tenant
        tz = await services.organization_timezone(tenant)
        window = services.page_window(tz, since, until, clock.now())
        filters, _ = _filters(journey, site, stage)
        return await services.dashboard(tenant, window, filters, by, measure=measure)

    @get("/")
    async def page(
        self,
        request: AnyRequest,
        journey: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        site: FromQuery[str | None] = None,
        stage: FromQuery[str | None] = None,
        by: FromQuery[RankBy] = "priority",
        measure: FromQuery[Measure] = "count",
    ) -> Template:
        """The dashboard page; its filters (and the Pareto's measure) live in the URL."""
        principal = principal_of(request)
        tz = await services.organization_timezone(principal.tenant)
        today = clock.now().astimezone(tz).date()
        last = until or today
        first = since or services.default_first_day(last)
        _, clean = _filters(journey, site, stage)
        shown = {**clean, "since": first.isoformat(), "until": last.isoformat(), "by": by}
        query = urlencode({**shown, "measure": measure})
        # the Pareto toggle: this view with each measure
        measures = {m: urlencode({**shown, "measure": m}) for m in MEASURE_TITLES}
        return Template(
            "dashboards.html",
            context={
                "principal": principal,
                "choices": await services.filter_choices(principal.tenant),
                "filters": {
                    **clean,
                    "since": first,
                    "until": last,
                    "by": by,
                    "measure": measure,
                },
                "timezone": str(tz),
                "query": query,
                "panels": PANEL_TITLES,
                "measures": [(m, MEASURE_TITLES[m], q) for m, q in measures.items()],
                "style_guards": plotly_style_guards(),
            },
        )

    @get("/data")
    async def data(
        self,
        request: AnyRequest,
        journey: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        site: FromQuery[str | None] = None,
        stage: FromQuery[str | None] = None,
        by: FromQuery[RankBy] = "priority",
        measure: FromQuery[Measure] = "count",
        panel: FromQuery[str | None] = None,
    ) -> Response[bytes]:
        """Every panel's rows and figures as JSON; with ``panel``, that panel's rows."""
        d = await self._dashboard(request, journey, since, until, site, stage, by, measure)
        return Response(
            services.page_payload(d) if panel is None else services.panel_json(d, panel),
            media_type="application/json",
            headers={"Cache-Control": "no-store"},
        )

    @get("/export.csv")
    async def export(
        self,
        request: AnyRequest,
        panel: FromQuery[str] = "ranking",
        journey: FromQuery[str | None] = None,
        since: FromQuery[date | None] = None,
        until: FromQuery[date | None] = None,
        site: FromQuery[str | None] = None,
        stage: FromQuery[str | None] = None,
        by: FromQuery[RankBy] = "priority",
        measure: FromQuery[Measure] = "count",
    ) -> Response[str]:
        """One panel's plotted numbers as CSV."""
        d = await self._dashboard(request, journey, since, until, site, stage, by, measure)
        header, rows = services.table(d, panel)
        name = f"slipguard-{panel}-{d.since.date().isoformat()}-{d.until.date().isoformat()}.csv"
        return Response(
            services.to_csv(header, rows),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="{name}"',
                "Cache-Control": "no-store",
            },
        )
