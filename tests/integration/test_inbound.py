"""Texts customers send back, end to end: the fake Twilio posts signed incoming-message
webhooks to a real ``slipguard serve``; messages go out through the real SDK to the fake."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from coaching import delivery, outbox
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.channels.sms import TwilioSms
from coaching.tables import InboundMessage, Nudge
from core.tables import Organization
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.consent import current_consent
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.enrollments import services as enrollments
from settings import Secret, TwilioSettings
from slips.tables import Slip
from tests.conftest import LiveServer, Org
from tests.factories import claim_all, delivery_settings, enroll_due, nudge_rows, zone_at
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support.services import free_port

INBOUND = "/webhooks/twilio/inbound"
DEFAULT_SENDER = "+15005550006"  # the deployment's default number

DOSE = """\
key: dose-diary
title: Dose diary
locales: [en, zh-CN]
behaviours:
  - key: dose
    title: Take the tablet
    stage: post_encounter
    importance: 8
    schedule: {once: start}
    confirm: {reply: [DONE, 好了], grace: 4h}
    failure_modes:
      - {key: forgot, title: Forgot, deficit: forgetfulness, reply: [FORGOT]}
      - {key: ran-out, title: Ran out, deficit: financial, reply: [OUT, 没药了]}
    nudges:
      - {at: due, channel: sms, template: due}
      - {at: due + 2h, unless: confirmed, channel: sms, template: check}
templates:
  due: {en: "Time for your tablet.", zh-CN: "该吃药了。"}
  check: {en: "Did you take it? Reply DONE.", zh-CN: "吃药了吗? 请回复 好了。"}
  why: {en: "Why did you miss it? 1 forgot, 2 ran out", zh-CN: "为什么没吃? 1 忘了 2 没药了"}
"""


@pytest.fixture(scope="module")
def server() -> Iterator[LiveServer]:
    """``slipguard serve`` that knows the Twilio auth token and its own public URL."""
    port = free_port()
    env = {
        **os.environ,
        "SLIPGUARD_SCHEDULER_EMBEDDED": "false",
        "SLIPGUARD_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "SLIPGUARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SLIPGUARD_TWILIO_FROM_NUMBER": DEFAULT_SENDER,
    }
    live = LiveServer(port, env)
    try:
        live.wait_ready()
        yield live
    finally:
        live.stop()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as twilio:
        yield twilio


def number() -> str:
    return f"+1415555{secrets.randbelow(10_000):04d}"


async def own_number(org: Org) -> str:
    """Give the organisation its own SMS number (what customers text back to)."""
    sender = f"+1202555{secrets.randbelow(10_000):04d}"
    await Organization.update(
        {
            Organization.sms_from: sender,
            Organization.contact_phone: "+12025550100",
            Organization.contact_email: "desk@clinic.test",
        }
    ).where(Organization.id == org.id)
    return sender


async def texting_customer(org: Org, phone: str | None = None, locale: str = "en") -> Any:
    grants = [ConsentIn("sms", "informational", "granted", "staff", "Reminders by SMS")]
    return await records.create_customer(
        org.tenant,
        CustomerIn(
            first_name="Mia", phone=phone or number(), timezone=zone_at(12), locale=locale,
            consent=grants,
        ),
    )  # fmt: skip


async def enrolled_dose(org: Org, customer: Any) -> tuple[UUID, UUID]:
    """Enrolled on DOSE with the dose due 10 minutes ago: (enrollment, step)."""
    await journeys.load_journey(org.tenant, DOSE)
    start = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    done = await enrollments.enroll(
        org.tenant, customer.id, "dose-diary", {"start": start}, backfill=True
    )
    (step,) = await enrollments.steps_of(org.tenant, done.enrollment.id)
    return done.enrollment.id, step.id


def channels(fake: FakeTwilio) -> Channels:
    twilio = TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID, auth_token=Secret(DEFAULT_AUTH_TOKEN), api_base=fake.url
    )
    return Channels(TwilioSms(twilio, None), OutboxChannel("email"))


def settings_from(sender: str) -> Any:
    import dataclasses

    base = delivery_settings()
    return dataclasses.replace(base, twilio=dataclasses.replace(base.twilio, from_number=sender))


async def inbound_rows(org: Org) -> list[dict[str, Any]]:
    return await (
        InboundMessage.select()
        .where(InboundMessage.organization == org.id)
        .order_by(InboundMessage.created_at)
    )


async def test_stop_stops_even_a_claimed_message_and_start_resumes(
    org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    to = await own_number(org)
    c = await texting_customer(org)
    eid, due = await enroll_due(org, c)
    (claimed,) = await claim_all(org, due)  # queued for a worker already
    status, body, content_type = fake.post_inbound(server.url + INBOUND, c.phone, to, " stop ")
    assert status == 200, body
    assert content_type.startswith("text/xml")
    assert "<Message>" in body and "no more texts" in body and "START" in body
    consent = await current_consent(org.tenant, c.id)
    for purpose in ("informational", "marketing"):
        assert consent[("sms", purpose)].status == "revoked"
        assert consent[("sms", purpose)].source == "sms_keyword"
    # The worker re-reads consent at send time: the claimed message is not sent.
    assert await delivery.deliver(claimed, channels(fake), delivery_settings()) == "suppressed"
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["reason"]) == ("suppressed", "no_consent")
    assert fake.messages == []

    status, body, _ = fake.post_inbound(server.url + INBOUND, c.phone, to, "Start")
    assert status == 200 and "texts are on again" in body
    consent = await current_consent(org.tenant, c.id)
    assert consent[("sms", "informational")].status == "granted"
    assert consent[("sms", "marketing")].status == "granted"  # the keyword took it away
    (later,) = await claim_all(org, due + timedelta(minutes=1))
    assert await delivery.deliver(later, channels(fake), delivery_settings()) == "sent"
    assert [m.to for m in fake.messages] == [c.phone]
    assert [r["outcome"] for r in await inbound_rows(org)] == ["stop", "start"]


async def test_help_answers_with_the_organisations_contact_details(
    org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    to = await own_number(org)
    c = await texting_customer(org)
    status, body, _ = fake.post_inbound(server.url + INBOUND, c.phone, to, "help")
    assert status == 200
    assert "+12025550100" in body and "desk@clinic.test" in body and "STOP" in body
    consent = await current_consent(org.tenant, c.id)
    assert consent[("sms", "informational")].status == "granted"  # HELP changes nothing


@pytest.mark.parametrize(("word", "locale"), [("Done", "en"), ("好了！", "zh-CN")])  # noqa: RUF001
async def test_a_confirmation_word_completes_the_step_and_cancels_its_follow_up(
    org: Org, fake: FakeTwilio, server: LiveServer, word: str, locale: str
) -> None:
    to = await own_number(org)
    c = await texting_customer(org, locale=locale)
    eid, step = await enrolled_dose(org, c)
    follow_up = [r for r in await nudge_rows(eid) if r["unless_confirmed"]]
    assert [r["status"] for r in follow_up] == ["scheduled"]
    status, body, _ = fake.post_inbound(server.url + INBOUND, c.phone, to, word)
    assert status == 200 and "<Message>" not in body
    (s,) = await enrollments.steps_of(org.tenant, eid)
    assert (s.id, s.status, s.completed_via) == (step, "done", "sms")
    row = next(r for r in await nudge_rows(eid) if r["unless_confirmed"])
    assert (row["status"], row["reason"]) == ("suppressed", "confirmed")
    (msg,) = await inbound_rows(org)
    assert (msg["outcome"], msg["step"], msg["needs_staff"]) == ("confirmed", step, False)


async def test_a_numbered_answer_to_why_did_you_miss_is_a_customer_slip(
    org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    to = await own_number(org)
    c = await texting_customer(org)
    eid, step = await enrolled_dose(org, c)
    now = datetime.now(UTC)
    question = await outbox.plan_message(
        org.tenant, customer=c.id, dedupe_key=f"why:{step}", kind="follow_up", channel="sms",
        template="why", due_at=now, step=step, enrollment=eid,
    )  # fmt: skip
    assert question is not None
    again = await outbox.plan_message(
        org.tenant, customer=c.id, dedupe_key=f"why:{step}", kind="follow_up", channel="sms",
        template="why", due_at=now, step=step, enrollment=eid,
    )  # fmt: skip
    assert again is None, "one question per step"
    assert question in await claim_all(org, now)
    assert await delivery.deliver(question, channels(fake), settings_from(to)) == "sent"
    assert fake.messages[-1].body.startswith("Why did you miss it?")

    sid = "SM" + secrets.token_hex(16)
    status, body, _ = fake.post_inbound(server.url + INBOUND, c.phone, to, " 2 ", sid=sid)
    assert status == 200 and "<Message>" not in body
    # Twilio repeating the same callback changes nothing.
    assert fake.post_inbound(server.url + INBOUND, c.phone, to, " 2 ", sid=sid)[0] == 200
    slips = await Slip.select().where(Slip.customer == c.id)
    assert len(slips) == 1
    slip = slips[0]
    assert (slip["source"], slip["failure_mode"], slip["step"]) == ("customer", "ran-out", step)
    assert slip["channel"] == "sms"
    (msg,) = await inbound_rows(org)
    assert (msg["outcome"], msg["question"], msg["slip"]) == ("answer", question, slip["id"])
    # The question is answered: a second answer is for staff to read.
    fake.post_inbound(server.url + INBOUND, c.phone, to, "FORGOT")
    assert await Slip.count().where(Slip.customer == c.id) == 1
    assert (await inbound_rows(org))[-1]["outcome"] == "unmatched"


async def test_an_unknown_number_lands_in_the_inbox_without_error(
    client: Any, org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    to = await own_number(org)
    stranger = number()
    status, body, _ = fake.post_inbound(server.url + INBOUND, stranger, to, "Who is this?")
    assert status == 200 and "<Message>" not in body
    (msg,) = await inbound_rows(org)
    assert (msg["outcome"], msg["needs_staff"], msg["customer"]) == ("unknown_sender", True, None)
    r = await client.get("/api/v1/inbox", headers=org.auth("staff"))
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["body"] == "Who is this?" and item["sender"].endswith(stranger[-4:])
    assert stranger not in r.text, "the number is masked"
    # The tasks page points staff to it.
    from tests.integration.test_dashboards import login

    await login(client, org.users["staff"], org.password)
    page = await client.get("/staff/tasks")
    assert page.status_code == 200 and 'id="inbox-waiting"' in page.text
    assert "1 text from customers" in page.text
    client.cookies.clear()
    r = await client.post(f"/api/v1/inbox/{item['id']}/close", headers=org.auth("staff"))
    assert r.status_code == 200 and r.json()["status"] == "closed"
    assert (await client.get("/api/v1/inbox", headers=org.auth("staff"))).json()["items"] == []
    r = await client.get("/api/v1/inbox", params={"status": "all"}, headers=org.auth("staff"))
    assert [i["id"] for i in r.json()["items"]] == [item["id"]]


async def test_a_message_to_one_organisation_never_touches_anothers_customers(
    org: Org, other_org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    to_a = await own_number(org)
    await own_number(other_org)
    phone = number()
    a = await texting_customer(org, phone)
    b = await texting_customer(other_org, phone)  # the same person, customer of both
    _, step_a = await enrolled_dose(org, a)
    _, step_b = await enrolled_dose(other_org, b)
    assert fake.post_inbound(server.url + INBOUND, phone, to_a, "DONE")[0] == 200
    assert fake.post_inbound(server.url + INBOUND, phone, to_a, "STOP")[0] == 200
    assert (await enrollments.get_step(org.tenant, step_a)).status == "done"
    assert (await enrollments.get_step(other_org.tenant, step_b)).status == "pending"
    assert (await current_consent(org.tenant, a.id))[("sms", "informational")].status == "revoked"
    kept = await current_consent(other_org.tenant, b.id)
    assert kept[("sms", "informational")].status == "granted"
    assert await inbound_rows(other_org) == []


async def test_unsigned_or_tampered_messages_are_refused(
    org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    to = await own_number(org)
    c = await texting_customer(org)
    url = server.url + INBOUND
    unsigned = fake.post_inbound(url, c.phone, to, "STOP", signed=False)
    assert unsigned.status == 403 and "problem+json" in unsigned.content_type
    assert fake.post_inbound(url, c.phone, to, "STOP", tamper=True)[0] == 403
    other = server.url.replace("127.0.0.1", "localhost") + INBOUND
    assert fake.post_inbound(other, c.phone, to, "STOP")[0] == 403
    wrong_account = FakeTwilio(auth_token="not-the-token")
    assert wrong_account.post_inbound(url, c.phone, to, "STOP")[0] == 403
    assert await inbound_rows(org) == []
    assert (await current_consent(org.tenant, c.id))[("sms", "informational")].status == "granted"


async def test_a_shared_default_sender_matches_no_organisation(
    org: Org, other_org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    """Several organisations without their own number share the deployment's: a reply to
    it cannot say whose customer wrote, so nothing is touched."""
    c = await texting_customer(org)
    await texting_customer(other_org, c.phone)
    status, body, _ = fake.post_inbound(server.url + INBOUND, c.phone, DEFAULT_SENDER, "STOP")
    assert status == 200 and "<Message>" not in body
    assert await inbound_rows(org) == [] and await inbound_rows(other_org) == []
    assert await Nudge.count().where(Nudge.customer == c.id) == 0


async def test_of_two_open_steps_the_most_recently_due_is_confirmed(org: Org) -> None:
    from coaching import inbound
    from settings import get_settings

    to = await own_number(org)
    c = await texting_customer(org)
    await journeys.load_journey(org.tenant, DOSE)
    steps = []
    for minutes in (50, 10, -200):  # due 50 and 10 minutes ago, and in 200 minutes
        start = (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()
        done = await enrollments.enroll(
            org.tenant, c.id, "dose-diary", {"start": start}, backfill=True
        )
        (step,) = await enrollments.steps_of(org.tenant, done.enrollment.id)
        steps.append(step.id)
    message = inbound.Inbound("SM" + secrets.token_hex(16), c.phone, to, "", "done")
    handled = await inbound.receive(message, get_settings())
    assert handled.outcome == "confirmed" and handled.reply is None
    states = [(await enrollments.get_step(org.tenant, s)).status for s in steps]
    assert states == ["pending", "done", "pending"]


async def test_erasing_a_customer_blanks_their_replies(org: Org) -> None:
    from coaching import inbound, privacy
    from settings import get_settings

    to = await own_number(org)
    c = await texting_customer(org)
    message = inbound.Inbound("SM" + secrets.token_hex(16), c.phone, to, "", "call me please")
    assert (await inbound.receive(message, get_settings())).outcome == "unmatched"
    await privacy.erase_customer(org.tenant, c.id)
    (row,) = await inbound_rows(org)
    assert (row["sender"], row["body"], row["customer"]) == (None, None, c.id)


async def test_a_missed_dose_is_asked_about_and_the_numbered_reply_brings_a_person(
    org: Org, fake: FakeTwilio, server: LiveServer
) -> None:
    """The loop end to end: the dose is missed, the follow-up job asks why (numbered
    options), the customer texts "2", that becomes their slip (ran out: a money problem),
    and the next follow-up run opens a staff task for it."""
    from coaching import followups
    from coaching.tables import StaffTask
    from slips import missed

    to = await own_number(org)
    c = await texting_customer(org)
    await journeys.load_journey(org.tenant, DOSE)
    start = (datetime.now(UTC) - timedelta(hours=5)).isoformat()  # past its 4 h grace
    await enrollments.enroll(org.tenant, c.id, "dose-diary", {"start": start}, backfill=True)
    (step,) = await missed.detect_missed(organization=org.id)
    await followups.follow_up_due(organization=org.id)
    (question,) = await Nudge.select(Nudge.id).where(Nudge.dedupe_key == f"why:{step}")
    now = datetime.now(UTC)
    assert question["id"] in await claim_all(org, now)
    assert await delivery.deliver(question["id"], channels(fake), settings_from(to)) == "sent"
    asked = fake.messages[-1]
    assert asked.to == c.phone and "1. Forgot" in asked.body and "2. Ran out" in asked.body

    status, _, _ = fake.post_inbound(server.url + INBOUND, c.phone, to, "2")
    assert status == 200
    (answer,) = await Slip.select().where((Slip.customer == c.id) & (Slip.source == "customer"))
    assert (answer["failure_mode"], answer["step"]) == ("ran-out", step)
    await followups.follow_up_due(organization=org.id)
    tasks = await StaffTask.select().where(StaffTask.slip == answer["id"])
    assert [t["reason"] for t in tasks] == ["financial"]
