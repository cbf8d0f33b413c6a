"""The staff outbox page in Chromium: recorded messages, their status and reason."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

import coaching.outbox  # noqa: F401 - plans the messages of every step written here
from coaching import delivery
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from tests.conftest import LiveServer, Org
from tests.factories import claim_all, delivery_settings, enroll_due, sms_customer


async def test_staff_read_recorded_messages_on_the_outbox_page(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    recorded = Channels(OutboxChannel("sms"), OutboxChannel("email"))
    sent = await sms_customer(org)
    _, due = await enroll_due(org, sent)
    for nudge_id in await claim_all(org, due):
        await delivery.deliver(nudge_id, recorded, delivery_settings())
    silent = await sms_customer(org, consent=False)
    _, due = await enroll_due(org, silent)
    for nudge_id in await claim_all(org, due):
        await delivery.deliver(nudge_id, recorded, delivery_settings())

    context = await browser.new_context(viewport={"width": 390, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    outside: list[str] = []
    page.on(
        "request", lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url)
    )
    await page.goto(live_server.url + "/outbox")
    await page.get_by_label("Email").fill(org.users["staff"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/outbox")
    await expect(page.get_by_role("heading", name="Outbox")).to_be_visible()
    rows = page.locator("table.outbox tbody tr")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="Hi Mia, time for your tablet.")).to_have_count(1)
    await expect(rows.filter(has_text="no consent")).to_have_count(1)
    assert sent.phone is not None
    await expect(page.get_by_text(sent.phone)).to_have_count(0)  # only the last digits
    await page.screenshot(path=str(artifacts / "outbox-phone.png"), full_page=True)
    assert errors == [] and outside == []
    await context.close()
