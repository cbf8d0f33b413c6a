"""The staff tasks page in Chromium: open tasks, the most overdue first, the customer's
history beside each, and closing one from the keyboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from coaching import tasks
from coaching.tables import StaffTask
from tests.conftest import LiveServer, Org
from tests.factories import enroll_due, sms_customer


async def test_staff_close_the_most_overdue_task_from_the_keyboard(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    now = datetime.now(UTC)
    c = await sms_customer(org)
    later = await tasks.open_task(
        org.tenant, key=f"page:{org.id}:later", reason="ability", title="Help Mia: cannot come",
        due_hours=20, now=now, customer=c.id,
    )  # fmt: skip
    late = await tasks.open_task(
        org.tenant, key=f"page:{org.id}:late", reason="complaint",
        title="Handle Mia's complaint about delivery", due_hours=1,
        now=now - timedelta(hours=3), customer=c.id, detail="Parcel left in the rain",
    )  # fmt: skip
    context = await browser.new_context(viewport={"width": 390, "height": 800})
    page = await context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("response", lambda r: errors.append(r.url) if r.status >= 400 else None)
    await page.goto(live_server.url + "/staff/tasks")
    await page.get_by_label("Email").fill(org.users["staff"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/staff/tasks")
    await expect(page.get_by_role("heading", name="Tasks", exact=True)).to_be_visible()
    items = page.locator("ol.tasks > li")
    await expect(items).to_have_count(2)
    first = items.nth(0)
    await expect(first).to_have_class("task overdue")
    await expect(first).to_contain_text("Overdue by 2 h")
    await expect(first).to_contain_text("Parcel left in the rain")
    await expect(items.nth(1)).to_contain_text("Due in 19 h")
    await page.screenshot(path=str(artifacts / "tasks-phone.png"), full_page=True)

    # Keyboard only: type the outcome, Tab to the button, Enter.
    await page.locator(f"#outcome-{late}").focus()
    await page.keyboard.type("Called, sent a new parcel")
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent")
    assert focused == "Close task"
    await page.keyboard.press("Enter")
    await page.wait_for_url(live_server.url + "/staff/tasks?closed=true")
    await expect(page.get_by_role("status")).to_have_text("Task closed.")
    await expect(items).to_have_count(1)
    await expect(items.nth(0)).to_contain_text("cannot come")
    row = await StaffTask.objects().where(StaffTask.id == late).first()
    assert row is not None and row.status == "closed"
    assert row.outcome == "Called, sent a new parcel"
    assert row.closed_by_user == org.users["staff"].id
    # One click, no outcome typed: closed as handled.
    await page.get_by_role("button", name="Close task").click()
    await page.wait_for_url(live_server.url + "/staff/tasks?closed=true")
    await expect(page.locator("#no-tasks")).to_be_visible()
    row = await StaffTask.objects().where(StaffTask.id == later).first()
    assert row is not None and row.outcome == "Handled"
    # The customer's page: every planned message with its status, the latest first.
    await enroll_due(org, c)
    await page.goto(f"{live_server.url}/staff/customers/{c.id}")
    await expect(page.locator("#customer-name")).to_have_text("Mia")
    messages = page.locator("#customer-messages > li")
    await expect(messages).to_have_count(4)
    await expect(messages.nth(0)).to_contain_text("scheduled")
    await page.screenshot(path=str(artifacts / "customer-phone.png"), full_page=True)
    assert errors == []
    await context.close()
