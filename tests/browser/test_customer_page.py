"""The customer's own page in Chromium on a phone-sized screen, opened from the link in a
text message the fake Twilio received: done, can't (with a reason), language, download,
delete."""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import expect

from coaching import delivery
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.channels.sms import TwilioSms
from coaching.tables import Nudge
from core.tables import PrivacyEvent
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.enrollments import services as enrollments
from journeys.tables import Customer, Step
from settings import Secret, TwilioSettings, get_settings
from slips.tables import Slip
from tests.conftest import LiveServer, Org
from tests.factories import claim_all, zone_at
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

VISIT = """\
key: visit-day
title: Clinic visit
anchors: [start]
locales: [en, zh-CN]
behaviours:
  - key: papers
    title: Bring your papers
    stage: pre_encounter
    importance: 6
    instructions: Bring your insurance card and the referral letter.
    schedule: {once: start}
    confirm: {reply: [DONE], grace: 4h}
    nudges:
      - {at: due - 2h, channel: sms, template: today}
  - key: fast
    title: Do not eat before the visit
    stage: pre_encounter
    importance: 8
    schedule: {once: "start + 1h"}
    confirm: {reply: [FASTED], grace: 4h}
    failure_modes:
      - {key: hungry, title: I was too hungry, deficit: motivation, guidance: Eat a light supper.}
      - {key: unaware, title: Nobody told me, deficit: role_clarity}
templates:
  today: {en: "Your visit is today. Your steps: {{ link }}", zh-CN: "今天就诊: {{ link }}"}
"""


async def test_a_customer_uses_their_page_from_a_text_message(
    browser: Any, live_server: LiveServer, org: Org, artifacts: Path
) -> None:
    ada = await records.create_customer(
        org.tenant,
        CustomerIn(
            first_name="Ada", last_name="Quill", phone="+14155550177", timezone=zone_at(12),
            consent=[ConsentIn("sms", "informational", "granted", "staff", "Reminders by SMS")],
        ),
    )  # fmt: skip
    await journeys.load_journey(org.tenant, VISIT)
    start = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    done = await enrollments.enroll(
        org.tenant, ada.id, "visit-day", {"start": start.isoformat()}, backfill=True
    )
    papers, fast = await enrollments.steps_of(org.tenant, done.enrollment.id)
    # The reminder goes out through the real Twilio SDK to the fake, linking to the server.
    first = await Nudge.objects().where(Nudge.step == papers.id).first()
    assert first is not None
    await claim_all(org, first.due_at + timedelta(seconds=1))
    base = get_settings()
    settings = dataclasses.replace(
        base,
        server=dataclasses.replace(base.server, public_url=live_server.url),
        twilio=dataclasses.replace(base.twilio, from_number="+15005550006"),
    )
    with FakeTwilio() as fake:
        sms = TwilioSms(
            TwilioSettings(
                account_sid=DEFAULT_ACCOUNT_SID, auth_token=Secret(DEFAULT_AUTH_TOKEN),
                api_base=fake.url,
            ),
            None,
        )  # fmt: skip
        assert await delivery.deliver(first.id, Channels(sms, OutboxChannel("email")), settings)
        (message,) = fake.wait_for(1)
    link = re.search(r"http://\S+/c/\S+", message.body)
    assert link, message.body
    assert urlsplit(link.group(0)).netloc == urlsplit(live_server.url).netloc

    context = await browser.new_context(
        viewport={"width": 360, "height": 740}, accept_downloads=True
    )
    page = await context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.on(
        "request",
        lambda r: problems.append(r.url) if urlsplit(r.url).hostname != "127.0.0.1" else None,
    )
    await page.goto(link.group(0))
    await expect(page.get_by_role("heading", name="Hello Ada")).to_be_visible()
    steps = page.locator("#upcoming > li")
    await expect(steps).to_have_count(2)
    await expect(steps.nth(0)).to_contain_text("Bring your insurance card")
    await page.screenshot(path=str(artifacts / "customer-steps-phone.png"), full_page=True)

    # Done on the first step.
    await steps.nth(0).get_by_role("button", name="Done").click()
    await expect(page.get_by_role("status")).to_have_text("Thank you: marked as done.")
    await expect(steps).to_have_count(1)
    row = await Step.objects().where(Step.id == papers.id).first()
    assert row is not None and row.status == "done"

    # "I can't" on the second, with a reason.
    await steps.nth(0).get_by_role("link", name="I can't / I missed it").click()
    await expect(page.get_by_role("heading", name="What got in the way?")).to_be_visible()
    await page.get_by_label("I was too hungry").check()
    await page.screenshot(path=str(artifacts / "customer-why-phone.png"), full_page=True)
    await page.get_by_role("button", name="Send").click()
    await expect(page.get_by_role("status")).to_contain_text("Thank you for telling us")
    await expect(page.locator("#nothing-upcoming")).to_be_visible()
    await expect(page.locator("#past li")).to_have_count(2)
    slip = await Slip.objects().where(Slip.step == fast.id).first()
    assert slip is not None and (slip.source, slip.failure_mode) == ("customer", "hungry")

    # Chinese, from the preferences.
    await page.get_by_role("link", name="Preferences").click()
    await page.get_by_label("Language").select_option("zh-CN")
    await page.get_by_role("button", name="Save").click()
    await expect(page.get_by_role("heading", name="偏好设置")).to_be_visible()
    await expect(page.get_by_role("status")).to_have_text("您的偏好已保存。")
    await page.get_by_role("link", name="您的步骤").click()
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await expect(page.locator("#past")).to_contain_text("已完成")
    await page.screenshot(path=str(artifacts / "customer-steps-zh-phone.png"), full_page=True)

    # A copy of their data.
    await page.get_by_role("link", name="您的数据").click()
    async with page.expect_download() as waiting:
        await page.get_by_role("link", name="下载我的数据").click()
    download = await waiting.value
    saved = artifacts / "customer-export.json"
    await download.save_as(saved)
    data = json.loads(saved.read_text())
    assert data["customer"]["first_name"] == "Ada"
    exported_steps = [s for e in data["enrollments"] for s in e["steps"]]
    assert {s["status"] for s in exported_steps} == {"done", "missed"}
    await page.screenshot(path=str(artifacts / "customer-privacy-zh-phone.png"), full_page=True)

    # Delete, after a confirmation.
    await page.get_by_role("link", name="删除我的数据").click()
    await expect(page.get_by_role("heading", name="删除您的数据？")).to_be_visible()  # noqa: RUF001
    await page.get_by_role("button", name="是的，删除我的数据").click()  # noqa: RUF001
    await expect(page.get_by_role("heading", name="您的数据已删除")).to_be_visible()
    gone = await Customer.objects().where(Customer.id == ada.id).first()
    assert gone is not None and gone.erased_at is not None and gone.phone is None
    events = await PrivacyEvent.select(PrivacyEvent.kind, PrivacyEvent.actor).where(
        PrivacyEvent.customer == ada.id
    )
    assert sorted((e["kind"], e["actor"]) for e in events) == [
        ("erasure", "customer"), ("export", "customer"),
    ]  # fmt: skip
    await page.screenshot(path=str(artifacts / "customer-deleted-phone.png"), full_page=True)
    assert problems == []
    # The link opens nothing now (a 404 page, which the console reports).
    await page.goto(link.group(0))
    await expect(page.get_by_role("heading", name="This link does not work")).to_be_visible()
    await context.close()
