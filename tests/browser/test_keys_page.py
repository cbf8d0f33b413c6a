"""The admin's API keys page in Chromium: create a key (its secret shown once), use it,
revoke it, and see it refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import expect

from tests.conftest import LiveServer, Org


async def test_an_admin_creates_uses_and_revokes_a_key_in_the_browser(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    context = await browser.new_context(viewport={"width": 1100, "height": 900})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    await page.goto(live_server.url + "/admin/keys")
    await page.get_by_label("Email").fill(org.users["admin"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/admin/keys")

    await page.get_by_label("Name (what uses it)").fill("Booking system")
    await page.get_by_label("Role").select_option("staff")
    await page.get_by_role("button", name="Create key").click()
    await expect(page.locator("#key-created")).to_contain_text("shown only this once")
    token = (await page.locator("#new-key").text_content() or "").strip()
    assert token.startswith("sg_")
    await page.screenshot(path=str(artifacts / "keys-created.png"), full_page=True)
    me = httpx.get(live_server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["role"] == "staff"

    # The secret is not on the page again.
    await page.goto(live_server.url + "/admin/keys")
    assert token not in await page.content()
    await page.get_by_role("button", name="Revoke Booking system").click()
    await page.wait_for_url(live_server.url + "/admin/keys?revoked=true")
    await expect(page.locator("#key-revoked")).to_be_visible()
    me = httpx.get(live_server.url + "/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 401
    assert errors == []
    await context.close()


async def test_only_admins_reach_the_keys_page(
    browser: Any, live_server: LiveServer, org: Org
) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(live_server.url + "/admin/keys")
    await page.get_by_label("Email").fill(org.users["manager"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_load_state()
    response = await page.goto(live_server.url + "/admin/keys")
    assert response is not None and response.status == 403
    await context.close()
