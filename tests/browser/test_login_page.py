"""The login page in real Chromium, on a phone-sized viewport."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.conftest import LiveServer, Org


async def test_staff_logs_in_on_a_phone(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(live_server.url + "/")
    assert page.url.endswith("/login?next=/")
    await page.get_by_label("Email").fill(org.users["staff"].email)
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    assert await page.get_by_role("alert").inner_text() == "Wrong email or password."
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/")
    assert "Alpha Test" in await page.locator("h1").inner_text()
    # nothing overflows a 360 px screen
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(artifacts / "login-home-360.png"), full_page=True)
    await page.get_by_role("button", name="Log out").click()
    await page.wait_for_url(live_server.url + "/login")
    assert errors == []
    await context.close()
