"""The manager's dashboard in real Chromium: Plotly from this server draws every panel
under the page's security policy, with no console error and no request elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import LiveServer, Org, make_org
from tests.factories import dashboard_scene

# The scene's five sources, and the two kinds of reporter (staff, system).
SOURCES = 5


async def open_dashboard(browser: Any, live_server: LiveServer, org: Org) -> tuple[Any, Any]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    page = await context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on(
        "console",
        lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
    )
    outside: list[str] = []
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
    )
    await page.goto(live_server.url + "/login")
    await page.get_by_label("Email").fill(org.users["manager"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    # a manager lands on the dashboards
    await page.wait_for_url(live_server.url + "/dashboards")
    page.problems, page.outside = problems, outside  # type: ignore[attr-defined]
    return context, page


async def test_dashboard_draws_every_panel(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    await dashboard_scene(org)
    context, page = await open_dashboard(browser, live_server, org)
    try:
        await page.wait_for_selector("#dashboards[data-ready=true]", timeout=30_000)
        await page.wait_for_selector("#fig-pareto svg.main-svg", timeout=15_000)
        pareto_bars = page.locator("#fig-pareto .barlayer .point")
        assert await pareto_bars.count() == SOURCES
        assert await page.locator("#fig-matrix .scatterlayer .point").count() == SOURCES - 1
        assert await page.locator("#fig-breakdown_source .barlayer .point").count() == 2
        assert await page.locator("#fig-horrors .heatmaplayer image, #fig-horrors .hm").count()
        assert await page.locator("#horrors-list li").count() == SOURCES
        assert await page.locator("#ranking-table tbody tr").count() == SOURCES
        assert await page.locator("#fig-trends .scatterlayer .trace").count() == SOURCES
        # the cumulative line sits on a 0-100% axis
        ticks = await page.locator("#fig-pareto .y2tick text").all_text_contents()
        assert ticks == ["0%", "20%", "40%", "60%", "80%", "100%"]
        await page.screenshot(path=str(artifacts / "dashboards-all.png"), full_page=True)
        # a resize (the full-page screenshot makes one) keeps every figure inside its box
        await page.set_viewport_size({"width": 1000, "height": 700})
        await page.wait_for_timeout(300)
        spill = await page.evaluate(
            """() => [...document.querySelectorAll('.figure')].map(f => {
                 const svg = f.querySelector('svg.main-svg');
                 return [f.id, f.getBoundingClientRect().height,
                         svg ? svg.getBoundingClientRect().height : 0];
               }).filter(([, box, drawn]) => drawn < 100 || drawn > box + 1)"""
        )
        assert spill == []
        # the filters are in the URL: one journey narrows every panel
        await page.select_option("select[name=journey]", "dash-walkin")
        await page.get_by_role("button", name="Show").click()
        await page.wait_for_url("**/dashboards?journey=dash-walkin*")
        await page.wait_for_selector("#dashboards[data-ready=true]", timeout=30_000)
        await page.wait_for_selector("#fig-pareto svg.main-svg", timeout=15_000)
        assert await page.locator("#fig-pareto .barlayer .point").count() == 1
        await page.screenshot(path=str(artifacts / "dashboards-one-journey.png"), full_page=True)
        assert page.problems == []
        assert page.outside == []
    finally:
        await context.close()


async def test_empty_dashboard_says_what_to_do(
    browser: Any, live_server: LiveServer, artifacts: Path
) -> None:
    org = await make_org("empty")
    context, page = await open_dashboard(browser, live_server, org)
    try:
        await page.get_by_text("No journeys yet.").wait_for(timeout=15_000)
        assert await page.locator("#panels").is_hidden()
        await page.screenshot(path=str(artifacts / "dashboards-empty.png"), full_page=True)
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()


async def _pareto(page: Any) -> tuple[str, list[float]]:
    """The Pareto's bar-axis title as drawn, and the bars' plotted values."""
    await page.wait_for_selector("#dashboards[data-ready=true]", timeout=30_000)
    await page.wait_for_selector("#fig-pareto svg.main-svg", timeout=15_000)
    title = await page.locator("#fig-pareto .g-ytitle text").text_content()
    values = await page.evaluate("() => document.getElementById('fig-pareto').data[0].y")
    return title or "", [float(v) for v in values]


async def test_pareto_measure_toggle_keeps_to_the_url(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    await dashboard_scene(org)
    context, page = await open_dashboard(browser, live_server, org)
    try:
        title, counts = await _pareto(page)
        assert title == "slips (count)" and len(counts) == SOURCES
        # the ranking table's slips and importance, to check the weighted bars against
        cells = await page.evaluate(
            """() => [...document.querySelectorAll('#ranking-table tbody tr')]
                 .map(tr => [Number(tr.cells[2].textContent), Number(tr.cells[5].textContent)])"""
        )
        assert sorted(counts, reverse=True) == counts == sorted((c for c, _ in cells), reverse=True)
        toggle = page.get_by_role("navigation", name="Pareto bars by")
        assert (
            await toggle.get_by_role("link", name="Number of slips").get_attribute("aria-current")
            == "true"
        )
        await toggle.get_by_role("link", name="Weighted by importance").click()
        await page.wait_for_url("**/dashboards?*measure=weighted*")
        title, weighted = await _pareto(page)
        assert "weighted" in title and "importance" in title
        assert weighted == sorted((c * i for c, i in cells), reverse=True)
        assert weighted != counts
        toggle = page.get_by_role("navigation", name="Pareto bars by")
        assert (
            await toggle.get_by_role("link", name="Weighted by importance").get_attribute(
                "aria-current"
            )
            == "true"
        )
        await page.screenshot(path=str(artifacts / "dashboards-weighted.png"), full_page=True)
        # the filter form keeps the measure
        await page.select_option("select[name=journey]", "dash-dose")
        await page.get_by_role("button", name="Show").click()
        await page.wait_for_url("**/dashboards?journey=dash-dose*measure=weighted*")
        title, narrowed = await _pareto(page)
        assert "weighted" in title and 0 < len(narrowed) < SOURCES
        # and back to counts
        await page.get_by_role("link", name="Number of slips").click()
        await page.wait_for_url("**measure=count*")
        title, _ = await _pareto(page)
        assert title == "slips (count)" and "journey=dash-dose" in page.url
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()
