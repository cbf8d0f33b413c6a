"""The weekly review pack (``slipguard report``): the main charts as PNG and one HTML
summary page, written to a folder.

PNG export goes through kaleido, which drives a Chrome-family browser: Debian's
``chromium`` is found by itself (``BROWSER_PATH`` names another). Data is collected
inside the event loop, images are written outside it, since kaleido runs its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import plotly.graph_objects as go
import plotly.io as pio
from jinja2 import Environment, FileSystemLoader, select_autoescape

from core import clock
from core.identity import organization_by_id
from core.tenancy import Tenant
from dashboards import countermeasures, figures, nudge_figures, nudge_panels, services
from dashboards.measure_schemas import CountermeasureOut
from dashboards.nudge_schemas import NudgePanels
from dashboards.queries import Filters
from dashboards.schemas import Dashboard

HERE = Path(__file__).parent
WIDTH = 1100  # pixels; the figures set their own heights
TOP_ROWS = 8


@dataclass
class ReportData:
    """Everything a report shows, collected for one organisation and period."""

    organization: str
    generated_at: datetime
    dashboard: Dashboard
    countermeasures: list[CountermeasureOut]
    nudges: NudgePanels


async def collect(tenant: Tenant, since: date | None, until: date | None) -> ReportData:
    """The panels for whole local days ``since``..``until`` (default: the last 30 days)."""
    tz = await services.organization_timezone(tenant)
    window = services.page_window(tz, since, until, clock.now())
    org = await organization_by_id(tenant.org_id)
    return ReportData(
        organization=org.name,
        generated_at=clock.now(),
        dashboard=await services.dashboard(tenant, window, Filters()),
        countermeasures=await countermeasures.list_all(tenant),
        nudges=await nudge_panels.panels(tenant, window, None, tz),
    )


def charts(data: ReportData) -> dict[str, go.Figure]:
    """The report's charts by file stem, drawn from the same rows as the pages."""
    d = data.dashboard
    return {
        "pareto": figures.pareto(d.pareto),
        "matrix": figures.matrix(d.matrix),
        "horrors": figures.horrors(d.horrors),
        "trends": figures.trends(d.trends),
        "countermeasures": figures.before_after(data.countermeasures),
        "nudge-completion": nudge_figures.effectiveness(data.nudges.effectiveness),
        "standards": nudge_figures.standards(data.nudges.standards),
        "messages-per-customer": nudge_figures.fatigue(data.nudges.operations),
    }


def write(data: ReportData, out: Path) -> list[Path]:
    """Write ``<chart>.png`` for each chart and ``index.html`` into ``out``; returns the
    files written."""
    out.mkdir(parents=True, exist_ok=True)
    drawn = charts(data)
    paths = [out / f"{stem}.png" for stem in drawn]
    pio.write_images(list(drawn.values()), paths, format="png", width=WIDTH)
    env = Environment(
        loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"])
    )
    html = env.get_template("report.html").render(
        data=data, d=data.dashboard, top=data.dashboard.ranking.items[:TOP_ROWS],
        charts=[p.name for p in paths],
    )  # fmt: skip
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    return [*paths, index]
