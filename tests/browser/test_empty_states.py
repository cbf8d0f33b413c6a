"""Empty states seen in real Chromium: an organisation with journeys but no slips in the
period, no countermeasure, no holdout and no message is told, visibly, what to do on each
dashboard page, and a longer period that holds a slip shows the panels instead."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from core import clock
from journeys import services as journeys
from tests.browser.test_dashboards_page import open_dashboard
from tests.conftest import LiveServer, Org
from tests.factories import DASH_DOSE, log_slip


async def visible_text(page: Any, text: str) -> None:
    """``text`` is on screen: rendered, not merely in the HTML."""
    found = page.get_by_text(text)
    await found.wait_for(state="visible", timeout=15_000)
    box = await found.bounding_box()
    assert box is not None and box["width"] > 0 and box["height"] > 0, text


async def test_no_slips_in_the_period_says_what_to_do(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    await journeys.load_journey(org.tenant, DASH_DOSE)
    # a slip 60 days ago: the organisation has slips, none in the default 30 days
    old = clock.now() - timedelta(days=60)
    await log_slip(org, "dash-dose", "take-dose", old, "forgot")
    context, page = await open_dashboard(browser, live_server, org)
    try:
        await visible_text(page, "No slips logged in this period.")
        assert await page.get_by_role("link", name="/staff").first.is_visible()
        assert await page.locator("#panels").is_hidden()
        assert await page.get_by_text("No journeys yet.").count() == 0
        assert await page.locator("#status").text_content() == ""
        await page.screenshot(path=str(artifacts / "empty-period.png"), full_page=True)
        # a period that reaches the old slip draws the panels
        first = (old - timedelta(days=2)).date().isoformat()
        await page.goto(f"{live_server.url}/dashboards?since={first}")
        await page.wait_for_selector("#dashboards[data-ready=true]", timeout=30_000)
        assert await page.locator("#empty").is_hidden()
        assert await page.locator("#ranking-table tbody tr").count() == 1
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()


async def test_nudge_and_countermeasure_pages_say_what_to_do(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    await journeys.load_journey(org.tenant, DASH_DOSE)  # no holdout share, no messages
    context, page = await open_dashboard(browser, live_server, org)
    try:
        await page.goto(live_server.url + "/dashboards/nudges")
        await page.wait_for_selector("#panels-root[data-ready=true]", timeout=30_000)
        await visible_text(page, "No journey has a holdout share.")
        await visible_text(page, "No messages in this period.")
        assert await page.locator("#effectiveness-table tbody tr").count() == 0
        await page.screenshot(path=str(artifacts / "empty-nudges.png"), full_page=True)
        await page.goto(live_server.url + "/dashboards/countermeasures")
        await page.wait_for_selector("#panels-root[data-ready=true]", timeout=30_000)
        await visible_text(page, "No countermeasures yet.")
        assert await page.locator("#countermeasures-table").count() == 0
        await page.screenshot(path=str(artifacts / "empty-countermeasures.png"), full_page=True)
        assert page.problems == [] and page.outside == [], page.problems
    finally:
        await context.close()
