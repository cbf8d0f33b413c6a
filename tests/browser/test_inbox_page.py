"""The staff inbox in real Chromium, on a 360 px phone: texts no rule explained, read and
closed with the keyboard alone (a plain form post carrying the CSRF token)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from coaching import inbound
from coaching.tables import InboundMessage
from core.tables import Organization
from journeys.customers import records as customers
from journeys.customers.schemas import CustomerIn
from settings import get_settings
from tests.conftest import LiveServer, Org


async def test_staff_read_and_close_inbox_items_with_the_keyboard(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    number = f"+1202555{secrets.randbelow(10_000):04d}"
    await Organization.update({Organization.sms_from: number}).where(Organization.id == org.id)
    marta = await customers.create_customer(
        org.tenant, CustomerIn(first_name="Marta", last_name="Quist", phone="+14155550132")
    )
    assert marta.phone is not None
    for sender, text in ((marta.phone, "Can I come on Friday instead?"), ("+14155550177", "hi")):
        message = inbound.Inbound("SM" + secrets.token_hex(16), sender, number, "", text)
        handled = await inbound.receive(message, get_settings())
        assert handled.reply is None and handled.outcome in inbound.INBOX_OUTCOMES

    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    await page.goto(live_server.url + "/staff/inbox")
    await page.get_by_label("Email").fill(org.users["staff"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/staff/inbox")
    await expect(page.get_by_role("heading", name="Inbox", exact=True)).to_be_visible()
    cards = page.locator("li.message")
    await expect(cards).to_have_count(2)
    await expect(cards.nth(0)).to_contain_text("Marta Quist")
    await expect(cards.nth(0)).to_contain_text("Can I come on Friday instead?")
    await expect(cards.nth(1)).to_contain_text("Unknown number")
    await expect(page.get_by_text(marta.phone)).to_have_count(0)  # only the last digits
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, f"the page scrolls sideways ({width} px)"
    await page.screenshot(path=str(artifacts / "inbox-phone.png"), full_page=True)

    # keyboard only: tab to the first card's Close button and press Enter
    close = page.get_by_role("button", name="Close the message from Marta Quist")
    for _ in range(30):
        await page.keyboard.press("Tab")
        if await close.evaluate("b => b === document.activeElement"):
            break
    await expect(close).to_be_focused()
    await page.keyboard.press("Enter")
    await page.wait_for_url(live_server.url + "/staff/inbox?closed=1")
    await expect(page.get_by_role("status")).to_have_text("Closed.")
    await expect(cards).to_have_count(1)
    await expect(cards.nth(0)).to_contain_text("Unknown number")
    rows = await InboundMessage.select().where(
        (InboundMessage.organization == org.id) & InboundMessage.closed_at.is_not_null()
    )
    assert [(r["customer"], r["closed_by"]) for r in rows] == [(marta.id, org.users["staff"].id)]
    assert errors == []
    await context.close()
