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


async def test_a_user_changes_their_password_on_a_phone(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(live_server.url + "/login")
    await page.get_by_label("Email").fill(org.users["manager"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/dashboards")  # where managers start
    await page.goto(live_server.url + "/")
    await page.get_by_role("link", name="Change your password").click()
    await page.wait_for_url(live_server.url + "/account/password")
    await page.get_by_label("Current password").fill(org.password)
    await page.get_by_label("New password (at least 10 characters)").fill("a new passphrase 1")
    await page.get_by_label("New password again").fill("a new passphrase 1")
    await page.get_by_role("button", name="Change password").click()
    await page.wait_for_url(live_server.url + "/account/password?done=true")
    assert "has been changed" in await page.get_by_role("status").inner_text()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(artifacts / "password-changed-360.png"), full_page=True)
    # Still logged in here.
    await page.goto(live_server.url + "/")
    assert "Alpha Test" in await page.locator("h1").inner_text()
    assert errors == []
    await context.close()
