"""The countermeasure and nudge pages in real Chromium: a countermeasure recorded through
the form, the before/after bars, the trend chart's start line, and every nudge panel drawn
under the page policy, with no console error and no request elsewhere."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from dashboards import countermeasures, services
from dashboards.measure_schemas import CountermeasureIn
from tests.browser.test_dashboards_page import open_dashboard
from tests.conftest import LiveServer, Org
from tests.factories import log_slip
from tests.integration.test_countermeasures import AFTER, BEFORE, scene
from tests.integration.test_nudge_panels import outbox_scene


async def test_countermeasure_form_and_before_after(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    day, _ = await scene(org)
    context, page = await open_dashboard(browser, live_server, org)
    try:
        await page.get_by_role("link", name="Countermeasures").first.click()
        await page.wait_for_selector("#panels-root[data-ready=true]", timeout=30_000)
        assert await page.get_by_text("No countermeasures yet.").is_visible()
        form = page.get_by_role("form", name="Record a countermeasure")
        await form.locator("select[name=source]").select_option("dash-dose|take-dose|forgot")
        await form.locator("select[name=strategy]").select_option("reminder")
        await form.locator("input[name=start_date]").fill(day.isoformat())
        await form.locator("input[name=owner]").fill("Desk lead")
        await form.get_by_role("button", name="Record").click()
        await page.wait_for_selector("#panels-root[data-ready=true]", timeout=30_000)
        await page.wait_for_selector("#fig-before_after svg.main-svg", timeout=15_000)
        assert await page.locator("#fig-before_after .barlayer .point").count() == 2
        assert await page.locator("#countermeasures-table tbody tr").count() == 1
        owners = page.get_by_role("form", name="Set an owner")
        await owners.locator("select[name=source]").select_option("dash-dose|take-dose|forgot")
        await owners.locator("input[name=owner]").fill("Pharmacist")
        await owners.get_by_role("button", name="Save").click()
        await page.wait_for_selector("#owners-table", timeout=15_000)
        await page.screenshot(path=str(artifacts / "countermeasures.png"), full_page=True)
        # the rankings page shows the owner and marks the start on the trend chart
        await page.goto(live_server.url + "/dashboards")
        await page.wait_for_selector("#dashboards[data-ready=true]", timeout=30_000)
        await page.wait_for_selector("#fig-trends svg.main-svg", timeout=15_000)
        assert await page.locator("#fig-trends .shapelayer path").count() >= 1
        notes = await page.locator("#fig-trends .annotation-text").all_text_contents()
        assert f"reminder from {day.isoformat()}" in notes
        assert await page.locator("#ranking-table td", has_text="Pharmacist").count() == 1
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()


async def test_nudge_panels_draw(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    await outbox_scene(org)
    context, page = await open_dashboard(browser, live_server, org)
    try:
        await page.goto(live_server.url + "/dashboards/nudges")
        await page.wait_for_selector("#panels-root[data-ready=true]", timeout=30_000)
        for name in ("completion", "slips", "statuses", "failures", "fatigue", "standards"):
            await page.wait_for_selector(f"#fig-{name} svg.main-svg", timeout=15_000)
        assert await page.locator("#fig-completion .barlayer .point").count() == 2
        assert await page.locator("#fig-statuses .barlayer .point").count() == 4
        assert await page.locator("#fig-fatigue .barlayer .point").count() == 4
        assert await page.locator("#effectiveness-table tbody tr").count() == 1
        # Nudges delivered, and staff tasks handled in time (none yet: no measure).
        assert await page.locator("#standards-list li").count() == 2
        assert await page.locator("#empty-effectiveness").is_hidden()
        await page.screenshot(path=str(artifacts / "nudges.png"), full_page=True)
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()


async def test_countermeasure_filters_narrow_the_page(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    day, starts_at = await scene(org)
    for hours in (-3, 3):  # one north slip on each side of the start
        at = starts_at + timedelta(hours=hours)
        await log_slip(org, "dash-dose", "take-dose", at, "forgot", site="north")
    tz = await services.organization_timezone(org.tenant)
    for journey, behaviour, mode, strategy in (
        ("dash-dose", "take-dose", "forgot", "reminder"),
        ("dash-walkin", "sign-in", None, "signage"),
    ):
        body = CountermeasureIn(
            journey=journey,
            behaviour=behaviour,
            failure_mode=mode,
            strategy=strategy,  # type: ignore[arg-type]
            start_date=day,
        )
        await countermeasures.create(org.tenant, body, tz)
    context, page = await open_dashboard(browser, live_server, org)
    try:

        async def shown() -> tuple[list[str], int]:
            await page.wait_for_selector("#panels-root[data-ready=true]", timeout=30_000)
            rows = await page.locator("#countermeasures-table tbody tr").all_text_contents()
            bars = await page.evaluate(
                "() => (document.getElementById('fig-before_after').data || [])"
                ".reduce((n, t) => n + t.y.length, 0)"
            )
            return [" ".join(r.split()) for r in rows], bars

        await page.goto(live_server.url + "/dashboards/countermeasures")
        rows, bars = await shown()
        # the walk-in has no enrollments to rate by: only the dose's two bars are drawn
        assert len(rows) == 2 and bars == 2
        assert any(f"{BEFORE + 1} / {AFTER + 1}" in r for r in rows)
        filters = page.get_by_role("form", name="Filters")
        await filters.locator("select[name=journey]").select_option("dash-walkin")
        await filters.get_by_role("button", name="Show").click()
        await page.wait_for_url("**/dashboards/countermeasures?journey=dash-walkin*")
        rows, bars = await shown()
        assert len(rows) == 1 and "signage" in rows[0] and bars == 0
        await filters.locator("select[name=journey]").select_option("dash-dose")
        await filters.locator("input[name=site]").fill("north")
        await filters.get_by_role("button", name="Show").click()
        await page.wait_for_url("**/dashboards/countermeasures?journey=dash-dose*site=north*")
        rows, bars = await shown()
        assert len(rows) == 1 and "reminder" in rows[0] and "1 / 1" in rows[0] and bars == 2
        assert await filters.locator("input[name=site]").input_value() == "north"
        csv_link = page.get_by_role("link", name="CSV")
        assert "journey=dash-dose" in (await csv_link.get_attribute("href") or "")
        await page.screenshot(path=str(artifacts / "countermeasures-filtered.png"), full_page=True)
        # a stage none of them is in: said so, with a way back to all of them
        await filters.locator("input[name=site]").fill("")
        await filters.locator("select[name=stage]").select_option("pre_encounter")
        await filters.get_by_role("button", name="Show").click()
        await page.wait_for_url("**stage=pre_encounter*")
        rows, bars = await shown()
        assert rows == [] and bars == 0
        assert await page.get_by_text("No countermeasures match these filters.").is_visible()
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()
