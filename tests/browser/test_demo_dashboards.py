"""Every dashboard page over the simulated demo, in real Chromium: the demo's manager logs
in, each page draws its Plotly figures, and every figure holds as many bars and points as
the page's own JSON gives it, with no console error and no request to another host.

The demo here is small (150 customers) but has everything a page draws: ranked sources,
a countermeasure, holdout groups, nudges and failed deliveries.
"""

from __future__ import annotations

import base64
import secrets
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import LiveServer

CUSTOMERS = 150
# (page, the element its script marks ready, its JSON)
PAGES = [
    ("/dashboards", "#dashboards", "/dashboards/data"),
    ("/dashboards/countermeasures", "#panels-root", "/dashboards/countermeasures/data"),
    ("/dashboards/nudges", "#panels-root", "/dashboards/nudges/data"),
]
# Plotly's typed-array encoding of a JSON array: dtype → struct format.
DTYPES = {"f8": "d", "f4": "f", "i1": "b", "u1": "B", "i2": "h", "u2": "H", "i4": "i", "u4": "I"}


class Demo:
    """The demo organisation's slug and its manager's login."""

    def __init__(self, slug: str, email: str, password: str) -> None:
        self.slug, self.email, self.password = slug, email, password


@pytest.fixture(scope="module")
async def demo() -> AsyncIterator[Demo]:
    """A small demo organisation, made once for this module."""
    from api.demo import MANAGER, create

    slug = f"demo-{secrets.token_hex(3)}"
    made, counts = await create(customers=CUSTOMERS, slug=slug)
    assert counts["slips"] > 0 and counts["messages"] > 0
    yield Demo(slug, MANAGER, made.password or "")


def values(array: Any) -> list[Any]:
    """A figure's data array, plain or in Plotly's typed-array form."""
    if isinstance(array, dict) and "bdata" in array:
        fmt = DTYPES[array["dtype"].lstrip("<|")]
        raw = base64.b64decode(array["bdata"])
        return list(struct.unpack(f"<{len(raw) // struct.calcsize(fmt)}{fmt}", raw))
    return list(array or [])


def expected_marks(figure: dict[str, Any]) -> dict[str, int]:
    """Bars and scatter markers a figure's JSON asks Plotly to draw: a bar per value (a
    missing one keeps its place, empty), of which those with a non-zero value are filled;
    a marker per value present."""
    bars = filled = points = 0
    for trace in figure.get("data", []):
        kind = trace.get("type", "scatter")
        if kind == "bar":
            along = values(trace.get("x" if trace.get("orientation") == "h" else "y"))
            bars += len(along)
            filled += sum(v is not None and v != 0 for v in along)
        elif kind == "scatter":
            ys = values(trace.get("y"))
            mode = trace.get("mode") or ("lines+markers" if len(ys) < 20 else "lines")
            if "markers" in mode:
                points += sum(v is not None for v in ys)
    return {"bars": bars, "filled": filled, "points": points}


async def drawn_marks(page: Any, name: str) -> dict[str, int]:
    """Bars (and those with an area) and scatter markers Plotly drew in one figure's box."""
    box = f"#fig-{name}"
    filled = await page.locator(f"{box} .barlayer .point path").evaluate_all(
        "paths => paths.filter(p => { const b = p.getBBox(); return b.width > 0 && b.height > 0; })"
        ".length"
    )
    return {
        "bars": await page.locator(f"{box} .barlayer .point").count(),
        "filled": filled,
        "points": await page.locator(f"{box} .scatterlayer .point").count(),
    }


async def open_as_manager(browser: Any, live_server: LiveServer, demo: Demo) -> tuple[Any, Any]:
    """A fresh context logged in as the demo's manager, watching for console errors and
    requests to any host but this server's."""
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    outside: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )

    def watch(request: Any) -> None:
        parts = urlsplit(request.url)
        if parts.scheme not in ("data", "blob") and parts.hostname != "127.0.0.1":
            outside.append(request.url)

    page.on("request", watch)
    await page.goto(live_server.url + "/login")
    await page.get_by_label("Email").fill(demo.email)
    await page.get_by_label("Password").fill(demo.password)
    await page.get_by_role("button", name="Log in").click()
    # the same demo email may exist in another organisation of the test database
    organization = page.locator("input[name=organization]")
    await page.wait_for_load_state()
    if await organization.count():
        await page.get_by_label("Password").fill(demo.password)
        await organization.fill(demo.slug)
        await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/dashboards")
    page.problems, page.outside = problems, outside  # type: ignore[attr-defined]
    return context, page


async def check_figures(page: Any, payload: dict[str, Any]) -> list[str]:
    """Each figure of the payload drawn with the bars and points its JSON holds; returns
    the names of the figures drawn."""
    drawn = []
    for name, figure in payload["figures"].items():
        if not await page.locator(f"#fig-{name}").count():
            continue  # a figure this page has no box for
        await page.wait_for_selector(f"#fig-{name} svg.main-svg", timeout=15_000)
        assert await drawn_marks(page, name) == expected_marks(figure), name
        drawn.append(name)
    return drawn


async def test_demo_dashboard_pages_draw_what_their_json_holds(
    browser: Any, live_server: LiveServer, demo: Demo, artifacts: Path
) -> None:
    context, page = await open_as_manager(browser, live_server, demo)
    try:
        for path, root, source in PAGES:
            if page.url != live_server.url + path:
                await page.goto(live_server.url + path)
            await page.wait_for_selector(f"{root}[data-ready=true]", timeout=30_000)
            response = await page.request.get(live_server.url + source)
            assert response.ok, await response.text()
            payload = await response.json()
            drawn = await check_figures(page, payload)
            assert drawn, path
            if path == "/dashboards":
                await check_rankings_page(page, payload["dashboard"], drawn)
            elif path == "/dashboards/countermeasures":
                assert len(payload["items"]) == 1  # the demo's planning prompt
                assert await page.locator("#countermeasures-table tbody tr").count() == 1
                assert (await drawn_marks(page, "before_after"))["bars"] == 2
            else:
                await check_nudges_page(page, payload["panels"], drawn)
            name = path.strip("/").replace("/", "-")
            await page.screenshot(path=str(artifacts / f"demo-{name}.png"), full_page=True)
        assert page.problems == [], page.problems
        assert page.outside == [], page.outside
    finally:
        await context.close()


async def check_rankings_page(page: Any, d: dict[str, Any], drawn: list[str]) -> None:
    """The rankings page against its rows: a bar per source, a bubble per source with a
    rate, a table row per source, a list item per horror, a bar per breakdown value."""
    sources = len(d["ranking"]["items"])
    assert d["total"] > 0 and sources > 1
    assert {"pareto", "matrix", "horrors", "trends"} <= set(drawn)
    assert (await drawn_marks(page, "pareto"))["bars"] == len(d["pareto"]["bars"]) == sources
    assert (await drawn_marks(page, "matrix"))["points"] == len(d["matrix"]["points"])
    assert await page.locator("#ranking-table tbody tr").count() == sources
    assert await page.locator("#horrors-list li").count() == len(d["horrors"]["rows"])
    for name in drawn:
        if name.startswith("breakdown_"):
            dimension = name.removeprefix("breakdown_")
            rows = [r for r in d["breakdowns"]["rows"] if r["dimension"] == dimension]
            assert (await drawn_marks(page, name))["bars"] == len(rows), name
    status = await page.locator("#status").text_content()
    assert status is not None and str(d["total"]) in status


async def check_nudges_page(page: Any, p: dict[str, Any], drawn: list[str]) -> None:
    """The nudge page against its rows: a table row per journey with a holdout, a list
    item per service standard, no empty state where there are rows."""
    assert {"completion", "slips", "statuses", "standards"} <= set(drawn)
    effectiveness = p["effectiveness"]["rows"]
    assert effectiveness  # the demo's journeys keep a holdout share
    assert await page.locator("#effectiveness-table tbody tr").count() == len(effectiveness)
    assert await page.locator("#standards-list li").count() == len(p["standards"]["rows"])
    assert await page.locator("#empty-effectiveness").is_hidden()
    assert await page.locator("#empty-operations").is_hidden()
