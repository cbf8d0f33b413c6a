"""The staff quick-entry page in real Chromium, on a 360 px phone: keyboard entry, undo,
double taps, a lost response and an offline spell each log exactly one slip."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from core.tables import IdempotencyRecord
from journeys import services as journeys
from journeys.customers import records as customers
from journeys.customers.schemas import CustomerIn
from slips.tables import Slip
from tests.conftest import LiveServer, Org

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"
DOSE = "Take your blood-pressure tablet"
WAITING = "Saved on this phone — will send when the connection is back (1 waiting)"


async def slip_count(org: Org) -> int:
    return await Slip.count().where(Slip.organization == org.id)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15) -> None:
    """Wait until ``check()`` holds (the live server writes from another process)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)


async def test_staff_logs_slips_on_a_phone(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    await journeys.load_journey(org.tenant, (LIBRARY / "hypertension-adherence.yaml").read_text())
    customer = await customers.create_customer(
        org.tenant,
        CustomerIn(
            first_name="Marta", last_name="Quist", external_ref="P-7001", phone="+14155550132"
        ),
    )
    context = await browser.new_context(viewport={"width": 360, "height": 740})
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    outside: list[str] = []
    sent: list[str] = []  # the Idempotency-Key of every slip POST
    page.on(
        "request",
        lambda r: (
            sent.append(r.headers.get("idempotency-key", ""))
            if r.method == "POST" and r.url.endswith("/staff/slips")
            else None
        ),
    )
    page.on(
        "request",
        lambda r: None if r.url.startswith(live_server.url) else outside.append(r.url),
    )

    # logged out: the page sends you to log in, and back
    await page.goto(live_server.url + "/staff")
    assert page.url.endswith("/login?next=/staff")
    await page.get_by_label("Email").fill(org.users["staff"].email)
    await page.get_by_label("Password").fill(org.password)
    await page.get_by_role("button", name="Log in").click()
    await page.wait_for_url(live_server.url + "/staff")
    await expect(page.get_by_role("heading", name="Log a slip")).to_be_visible()

    # keyboard only: journey, behaviour, failure mode, customer search, note, submit
    await page.get_by_label("Blood-pressure medication").focus()
    await page.keyboard.press("Space")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label(DOSE)).to_be_focused()
    await page.keyboard.press("Space")
    await expect(page.get_by_label("Not sure")).to_be_checked()
    await page.keyboard.press("Tab")  # into the failure modes, on the checked "Not sure"
    for _ in range(3):  # wraps to the first mode: Forgot, Felt better, Ran out
        await page.keyboard.press("ArrowDown")
    await expect(page.get_by_label("Ran out")).to_be_checked()
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Customer (optional)")).to_be_focused()
    await page.keyboard.type("quist")
    result = page.get_by_role("button", name="Marta Quist · P-7001 · •••• 0132")
    await expect(result).to_be_visible()
    await page.keyboard.press("ArrowDown")
    await expect(result).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("#customer-chosen")).to_contain_text("Marta Quist")
    await page.keyboard.press("Tab")
    await expect(page.get_by_label("Note (optional)")).to_be_focused()
    await page.keyboard.type("pharmacy closed")
    # the entry, ready to send, is what a phone user sees
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    await page.screenshot(path=str(artifacts / "staff-entry-360.png"), full_page=True)
    await page.keyboard.press("Tab")  # past "a complaint", left unticked: an error
    await expect(page.get_by_label("A complaint about our service")).to_be_focused()
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("button", name="Log slip")).to_be_focused()
    await page.keyboard.press("Enter")

    announce = page.locator("#announce")
    await expect(announce).to_have_text(f"Logged: {DOSE} — Ran out")
    assert await announce.get_attribute("aria-live") == "polite"
    await expect(page.get_by_role("button", name="Undo")).to_be_visible()
    rows = await Slip.objects().where(Slip.organization == org.id)
    assert len(rows) == 1
    first = rows[0]
    assert first.failure_mode == "ran-out" and first.customer == customer.id
    assert first.note == "pharmacy closed" and first.reporter_user == org.users["staff"].id
    # the form is ready for the next entry: same journey, nothing else chosen
    await expect(page.get_by_label("Blood-pressure medication")).to_be_checked()
    await expect(page.get_by_label(DOSE)).not_to_be_checked()
    await expect(page.get_by_label("Customer (optional)")).to_have_value("")
    await expect(page.get_by_label("Customer (optional)")).to_be_visible()
    await expect(page.locator("#customer-chosen")).to_be_hidden()
    await page.screenshot(path=str(artifacts / "staff-logged-360.png"), full_page=True)

    # Undo voids it; the button goes away after eight seconds either way
    await page.get_by_role("button", name="Undo").click()
    await expect(announce).to_have_text(f"Undone: {DOSE} — Ran out")
    voided = await Slip.objects().where(Slip.id == first.id).first()
    assert voided is not None and voided.void_reason == "undone by reporter"
    await expect(page.get_by_role("button", name="Undo")).to_be_hidden()

    # nothing chosen: said next to the choice, nothing sent
    await page.get_by_role("button", name="Log slip").click()
    await expect(page.locator("#behaviour-error")).to_have_text(
        "Choose what the customer did not do."
    )
    await expect(page.get_by_label(DOSE)).to_be_focused()

    # a 4xx from the server is shown next to the field it names, and not kept for a resend
    async def refuse(route: Any) -> None:
        problem = {
            "type": "https://slipguard.dev/problems/slip-invalid",
            "title": "Invalid input",
            "status": 422,
            "detail": "failure_mode: unknown failure mode",
            "errors": [{"field": "failure_mode", "message": "unknown failure mode 'forgot'"}],
        }
        await route.fulfill(
            status=422, content_type="application/problem+json", body=json.dumps(problem)
        )

    await page.route("**/staff/slips", refuse)
    await page.get_by_label(DOSE).check()
    await page.get_by_label("Forgot").check()
    await page.get_by_role("button", name="Log slip").click()
    await expect(page.locator("#failure_mode-error")).to_have_text("unknown failure mode 'forgot'")
    await expect(page.locator("#outbox")).to_be_hidden()
    await page.unroute("**/staff/slips")

    # a double tap: two submits of one entry before the first answer; one slip
    del sent[:]
    await page.evaluate(
        "() => { const f = document.getElementById('slip-form');"
        " f.requestSubmit(); f.requestSubmit(); }"
    )
    await expect(announce).to_have_text(f"Logged: {DOSE} — Forgot")
    await eventually(lambda: _equals(slip_count(org), 2))
    await asyncio.sleep(0.5)  # let the second request land too
    assert await slip_count(org) == 2
    assert len(sent) == 2 and sent[0] == sent[1]  # both were sent, with one key

    # a lost response: the server stored the slip but the phone never heard; the resend
    # (same key, same body) is replayed instead of logged again
    lost: list[str] = []

    async def lose_response(route: Any) -> None:
        if lost:
            await route.continue_()
            return
        response = await route.fetch()
        lost.append(str(response.status))
        await route.abort("connectionreset")

    await page.route("**/staff/slips", lose_response)
    await page.get_by_label(DOSE).check()
    await page.get_by_label("Felt better").check()
    await page.get_by_role("button", name="Log slip").click()
    await expect(page.locator("#outbox")).to_have_text(WAITING)
    assert lost == ["201"] and await slip_count(org) == 3
    await expect(announce).to_have_text(f"Logged: {DOSE} — Felt better", timeout=15_000)
    await expect(page.locator("#outbox")).to_be_hidden()
    assert await slip_count(org) == 3
    await page.unroute("**/staff/slips")

    # offline: the entry waits on the phone and is sent once the connection is back
    await context.set_offline(True)
    await page.get_by_label(DOSE).check()
    await page.get_by_label("Side effects").check()
    await page.get_by_role("button", name="Log slip").click()
    await expect(page.locator("#outbox")).to_have_text(WAITING)
    await page.screenshot(path=str(artifacts / "staff-offline-360.png"), full_page=True)
    stored = await page.evaluate("Object.keys(localStorage)")
    assert any(k.startswith("slipguard.staff.outbox.") for k in stored)
    await asyncio.sleep(1)
    assert await slip_count(org) == 3
    await context.set_offline(False)
    await expect(page.locator("#outbox")).to_be_hidden(timeout=15_000)
    await expect(announce).to_have_text(f"Logged: {DOSE} — Side effects")
    await eventually(lambda: _equals(slip_count(org), 4))
    assert await page.evaluate("Object.keys(localStorage).length") == 0
    modes = [r.failure_mode for r in await Slip.objects().where(Slip.organization == org.id)]
    assert sorted(m or "" for m in modes) == ["felt-better", "forgot", "ran-out", "side-effects"]
    records = await IdempotencyRecord.count().where(IdempotencyRecord.organization == org.id)
    assert records == 4  # one key per entry, however many times it was sent

    # the Undo offer lasts eight seconds
    await expect(page.get_by_role("button", name="Undo")).to_be_hidden(timeout=10_000)
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    assert errors == [] and outside == []
    await context.close()


async def _equals(value: Awaitable[int], expected: int) -> bool:
    return await value == expected
