"""The customer's own page (``/c/<token>``) through the application: the link a message
carries, steps done and missed with a reason, preferences, contact details with a texted
code, and everything a link must refuse."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import time_machine

from coaching import delivery, links, selfservice
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.tables import Nudge, PhoneCheck
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.consent import consent_history
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.enrollments import services as enrollments
from journeys.tables import Customer, CustomerChange, Step
from settings import get_settings
from slips.tables import Slip
from tests.conftest import Org
from tests.factories import claim_all, zone_at

PORTAL = """\
key: visit
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
    failure_modes:
      - {key: lost, title: I lost them, deficit: ability, guidance: Ask your doctor for a copy.}
      - {key: forgot, title: I forgot, deficit: forgetfulness}
    nudges:
      - {at: due - 1h, channel: sms, template: papers}
      - {at: due + 1h, unless: confirmed, channel: sms, template: check}
templates:
  papers: {en: "Bring your papers today: {{ link }}", zh-CN: "今天请带上证件: {{ link }}"}
  check: {en: "Did you bring them? {{ link }}", zh-CN: "带了吗? {{ link }}"}
"""
PAGE_LINK = re.compile(r"https?://[^/\s]+(/c/[A-Za-z0-9_.\-]+)")


async def visitor(org: Org, *, locale: str = "en", email: str | None = None) -> Customer:
    grants = [ConsentIn("sms", "informational", "granted", "staff", "Reminders by SMS")]
    if email:
        grants.append(ConsentIn("email", "informational", "granted", "staff", "By email"))
    return await records.create_customer(
        org.tenant,
        CustomerIn(
            first_name="Ada", last_name="Quill", phone="+14155550142", email=email,
            timezone=zone_at(12), locale=locale, consent=grants,
        ),
    )  # fmt: skip


async def enrolled(org: Org, customer: Customer, due_in: timedelta) -> tuple[UUID, UUID]:
    """Enrolled on the visit with the papers due ``due_in`` from now: (enrollment, step)."""
    await journeys.load_journey(org.tenant, PORTAL)
    start = (datetime.now(UTC) + due_in).replace(microsecond=0).isoformat()
    done = await enrollments.enroll(
        org.tenant, customer.id, "visit", {"start": start}, backfill=True
    )
    (step,) = await enrollments.steps_of(org.tenant, done.enrollment.id)
    return done.enrollment.id, step.id


async def sent_link(org: Org, step: UUID) -> str:
    """Send the step's first message through the outbox channel; the page path it links."""
    first = await Nudge.objects().where((Nudge.step == step) & (Nudge.position == 0)).first()
    assert first is not None
    await claim_all(org, first.due_at + timedelta(seconds=1))
    await delivery.deliver(first.id, Channels(OutboxChannel("sms"), OutboxChannel("email")))
    row = await Nudge.objects().where(Nudge.id == first.id).first()
    assert row is not None and row.status == "sent", row
    match = PAGE_LINK.search(row.body or "")
    assert match, row.body
    return match.group(1)


def form_token(html: str) -> str:
    found = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert found, "the page's forms carry a CSRF token"
    return found.group(1)


async def post(client: Any, path: str, page: str, data: dict[str, str] | None = None) -> Any:
    """Post a form the way the browser does: with the CSRF token of the page it is on."""
    token = form_token((await client.get(page)).text)
    return await client.post(
        path, data={"_csrf_token": token, **(data or {})}, follow_redirects=False
    )


async def test_the_link_in_a_message_opens_the_customers_steps_and_done_completes_one(
    client: Any, org: Org
) -> None:
    ada = await visitor(org)
    _, step = await enrolled(org, ada, timedelta(hours=2))
    page = await sent_link(org, step)
    shown = await client.get(page)
    assert shown.status_code == 200
    assert "Hello Ada" in shown.text and "Bring your papers" in shown.text
    assert "Bring your insurance card and the referral letter." in shown.text
    assert "Ask your doctor for a copy." in shown.text  # guidance for a known failure mode
    assert "no-store" in shown.headers["cache-control"]
    done = await post(client, f"{page}/steps/{step}/done", page)
    assert done.status_code == 303 and done.headers["location"] == f"{page}?saved=done"
    row = await Step.objects().where(Step.id == step).first()
    assert row is not None and row.status == "done" and row.completed_via == "link"
    # The "unless confirmed" check-back is not needed any more.
    check = await Nudge.objects().where((Nudge.step == step) & (Nudge.position == 1)).first()
    assert check is not None and check.status == "suppressed"
    after = await client.get(f"{page}?saved=done")
    assert "Thank you: marked as done." in after.text
    assert 'id="nothing-upcoming"' in after.text


async def test_i_cannot_with_a_reason_becomes_the_customers_own_slip_and_stops_reminders(
    client: Any, org: Org
) -> None:
    ada = await visitor(org)
    _, step = await enrolled(org, ada, timedelta(hours=2))
    page = links.PATH + links.make_token(get_settings(), ada.id)
    form = f"{page}/steps/{step}/cannot"
    asked = await client.get(form)
    assert "I lost them" in asked.text and "Something else" in asked.text
    # "Something else" needs a few words: refused, nothing written.
    refused = await post(client, form, form, {"reason": "other", "text": "  "})
    assert refused.status_code == 422 and "text:" in refused.text
    assert await Slip.count().where(Slip.step == step) == 0
    sent = await post(client, form, form, {"reason": "lost"})
    assert sent.status_code == 303 and sent.headers["location"] == f"{page}?saved=missed"
    slip = await Slip.objects().where(Slip.step == step).first()
    assert slip is not None
    assert (slip.source, slip.failure_mode, slip.customer) == ("customer", "lost", ada.id)
    row = await Step.objects().where(Step.id == step).first()
    assert row is not None and row.status == "missed"
    statuses = {n.status for n in await Nudge.objects().where(Nudge.step == step)}
    assert statuses == {"cancelled"}
    # Reporting again (a double tap) records nothing more.
    await post(client, form, form, {"reason": "forgot"})
    assert await Slip.count().where(Slip.step == step) == 1


async def test_a_link_opens_only_its_own_customers_rows(
    client: Any, org: Org, other_org: Org
) -> None:
    ada = await visitor(org)
    bo = await visitor(other_org)
    _, step_a = await enrolled(org, ada, timedelta(hours=2))
    _, step_b = await enrolled(other_org, bo, timedelta(hours=3))
    page_b = links.PATH + links.make_token(get_settings(), bo.id)
    assert str(step_a) not in (await client.get(page_b)).text
    # B's link cannot touch A's step, whatever the form says.
    for action in ("done", "cannot"):
        answer = await post(client, f"{page_b}/steps/{step_a}/{action}", page_b, {"reason": "lost"})
        assert answer.status_code == 404, action
    row = await Step.objects().where(Step.id == step_a).first()
    assert row is not None and row.status == "pending"
    assert await Slip.count().where(Slip.step == step_a) == 0
    data = (await client.get(f"{page_b}/my-data.json")).json()
    assert data["customer"]["id"] == str(bo.id)
    assert str(ada.id) not in json.dumps(data) and str(step_a) not in json.dumps(data)
    assert str(step_b) in json.dumps(data)


async def test_forms_without_the_csrf_token_are_refused(client: Any, org: Org) -> None:
    ada = await visitor(org)
    _, step = await enrolled(org, ada, timedelta(hours=2))
    page = links.PATH + links.make_token(get_settings(), ada.id)
    await client.get(page)  # the browser has the cookie, an attacker's form has no token
    for path, data in (
        (f"{page}/steps/{step}/done", {}),
        (f"{page}/steps/{step}/cannot", {"reason": "lost"}),
        (f"{page}/preferences", {"locale": "zh-CN"}),
        (f"{page}/details", {"first_name": "Eve"}),
        (f"{page}/delete", {}),
        (f"{page}/new-link", {}),
    ):
        answer = await client.post(path, data=data, follow_redirects=False)
        assert answer.status_code == 403, path
    row = await Step.objects().where(Step.id == step).first()
    assert row is not None and row.status == "pending"
    still = await Customer.objects().where(Customer.id == ada.id).first()
    assert still is not None and still.first_name == "Ada" and still.erased_at is None


async def test_tampered_expired_and_erased_links_get_a_friendly_page(client: Any, org: Org) -> None:
    ada = await visitor(org, email="ada@example.test")
    token = links.make_token(get_settings(), ada.id)
    # A character inside the signature (the last one carries two padding bits that
    # base64 decoders ignore, so changing it may leave the same signature).
    at = len(token) - 5
    flipped = token[:at] + ("A" if token[at] != "A" else "B") + token[at + 1 :]
    for bad in (flipped, token[:20], "not-a-token", "x" * 300):
        answer = await client.get(links.PATH + bad)
        assert answer.status_code == 404, bad
        assert "This link does not work" in answer.text and "Traceback" not in answer.text
    days = get_settings().server.link_days
    with time_machine.travel(datetime.now(UTC) - timedelta(days=days + 1)):
        old = links.make_token(get_settings(), ada.id)
    expired = await client.get(links.PATH + old)
    assert expired.status_code == 410 and "This link has expired" in expired.text
    # A fresh link goes to the contact on file, at most three an hour.
    for _ in range(links.NEW_LINKS_PER_HOUR):
        sent = await post(client, f"{links.PATH}{old}/new-link", links.PATH + old)
        assert sent.status_code == 200 and "A new link is on its way" in sent.text
    refused = await post(client, f"{links.PATH}{old}/new-link", links.PATH + old)
    assert refused.status_code == 429
    fresh = await Nudge.objects().where(
        (Nudge.customer == ada.id) & (Nudge.template == links.NEW_LINK_TEMPLATE)
    )
    assert len(fresh) == links.NEW_LINKS_PER_HOUR
    assert all(n.channel == "sms" and n.critical for n in fresh)
    new_path = PAGE_LINK.search(fresh[0].body or "")
    assert new_path and (await client.get(new_path.group(1))).status_code == 200
    # After erasure no link opens anything, old or new.
    from coaching import privacy

    await privacy.erase_customer(org.tenant, ada.id)
    for path in (links.PATH + token, new_path.group(1), f"{links.PATH}{token}/my-data.json"):
        gone = await client.get(path)
        assert gone.status_code == 404 and "Ada" not in gone.text, path


async def test_preferences_change_language_hours_pause_and_consent_with_the_words_shown(
    client: Any, org: Org
) -> None:
    ada = await visitor(org, email="ada@example.test")
    page = links.PATH + links.make_token(get_settings(), ada.id)
    prefs = f"{page}/preferences"
    bad = await post(
        client, prefs, prefs,
        {"locale": "en", "window_start": "09:00", "window_end": "09:00", "sms": "on"},
    )  # fmt: skip
    assert bad.status_code == 422 and "quiet hours" in bad.text
    resume = (datetime.now(UTC) + timedelta(days=10)).date().isoformat()
    saved = await post(
        client, prefs, prefs,
        {"locale": "zh-CN", "window_start": "09:30", "window_end": "20:00", "pause_until": resume,
         "email": "on"},
    )  # fmt: skip
    assert saved.status_code == 303
    after = await client.get(page)
    assert '<html lang="zh-CN">' in after.text and "您的步骤" in after.text
    assert 'id="paused"' in after.text
    row = await Customer.objects().where(Customer.id == ada.id).first()
    assert row is not None
    assert (row.locale, row.send_window_start, row.send_window_end) == ("zh-CN", "09:30", "20:00")
    assert row.paused_until is not None and row.paused_until > datetime.now(UTC)
    changes = await CustomerChange.objects().where(CustomerChange.customer == ada.id)
    assert {c.field for c in changes} == {
        "locale", "send_window_start", "send_window_end", "paused_until",
    }  # fmt: skip
    sms = [r for r in await consent_history(org.tenant, ada.id) if r.channel == "sms"]
    assert [r.status for r in sms] == ["granted", "revoked"]
    assert sms[-1].source == "web"
    assert sms[-1].text_shown == selfservice.CHANNEL_TEXT["en"]["sms"]  # the words on the form
    assert sms[-1].evidence.startswith("customer page")


async def test_a_new_phone_number_needs_the_code_texted_to_it(client: Any, org: Org) -> None:
    ada = await visitor(org)
    page = links.PATH + links.make_token(get_settings(), ada.id)
    privacy_page = f"{page}/privacy"
    asked = await post(
        client, f"{page}/details", privacy_page,
        {"first_name": "Ada", "last_name": "Quill", "email": "", "phone": "+1 415 555 0199"},
    )  # fmt: skip
    assert asked.status_code == 303
    code_row = (
        await Nudge.objects()
        .where((Nudge.customer == ada.id) & (Nudge.template == "verify-phone"))
        .first()
    )
    assert code_row is not None and code_row.recipient == "+14155550199"
    code = re.search(r"\d{6}", code_row.body or "")
    assert code
    wrong = "000000" if code.group(0) != "000000" else "111111"
    refused = await post(client, f"{page}/phone", privacy_page, {"code": wrong})
    assert refused.status_code == 422 and "not the code" in refused.text
    unchanged = await Customer.objects().where(Customer.id == ada.id).first()
    assert unchanged is not None and unchanged.phone == "+14155550142"
    ok = await post(client, f"{page}/phone", privacy_page, {"code": code.group(0)})
    assert ok.status_code == 303
    changed = await Customer.objects().where(Customer.id == ada.id).first()
    assert changed is not None and changed.phone == "+14155550199"
    assert await PhoneCheck.count().where(PhoneCheck.customer == ada.id) == 0
    # Only the field's name is kept in the change history, never the number.
    changes = await CustomerChange.objects().where(CustomerChange.customer == ada.id)
    assert [(c.field, c.old_value, c.new_value) for c in changes] == [("phone", "", "")]


async def test_an_advisory_can_carry_each_customers_own_link(client: Any, org: Org) -> None:
    from coaching import advisories

    ada = await visitor(org)
    await enrolled(org, ada, timedelta(hours=2))
    advisory = await advisories.create_advisory(
        org.tenant,
        advisories.AdvisoryRequest(
            "visit", None, "Parking is closed today. Your steps: {{ link }}", "sms",
            "informational", None,
        ),
    )  # fmt: skip
    row = (
        await Nudge.objects()
        .where((Nudge.customer == ada.id) & (Nudge.template == "advisory"))
        .first()
    )
    assert row is not None and advisory.recipients == 1
    path = PAGE_LINK.search(row.body or "")
    assert path, row.body
    opened = await client.get(path.group(1))
    assert opened.status_code == 200 and "Hello Ada" in opened.text


async def test_the_access_log_shows_the_route_never_the_token(
    client: Any, org: Org, caplog: Any
) -> None:
    import logging

    ada = await visitor(org)
    token = links.make_token(get_settings(), ada.id)
    caplog.set_level(logging.INFO, logger="slipguard.access")
    for path in (f"/c/{token}", f"/c/{token}/preferences", f"/c/{token[:30]}"):
        await client.get(path)
    lines = [r.getMessage() for r in caplog.records if r.name == "slipguard.access"]
    assert "GET /c/… 200" in lines and "GET /c/…/preferences 200" in lines, lines
    assert "GET /c/… 404" in lines
    assert not any(token[:30] in line for line in lines)


async def test_correcting_details_is_all_or_nothing_and_names_the_field(
    client: Any, org: Org
) -> None:
    ada = await visitor(org)
    page = links.PATH + links.make_token(get_settings(), ada.id)
    privacy_page = f"{page}/privacy"
    # A bad number: the new name is not saved either, and no code goes out.
    bad_phone = await post(
        client, f"{page}/details", privacy_page,
        {"first_name": "Adele", "last_name": "Quill", "email": "", "phone": "12"},
    )  # fmt: skip
    assert bad_phone.status_code == 422 and "phone:" in bad_phone.text
    # A bad email: no code goes to the new number.
    bad_email = await post(
        client, f"{page}/details", privacy_page,
        {"first_name": "Ada", "last_name": "Quill", "email": "not-an-email",
         "phone": "+1 415 555 0199"},
    )  # fmt: skip
    assert bad_email.status_code == 422 and "email: not an email address" in bad_email.text
    row = await Customer.objects().where(Customer.id == ada.id).first()
    assert row is not None and (row.first_name, row.email) == ("Ada", None)
    assert await PhoneCheck.count().where(PhoneCheck.customer == ada.id) == 0
    assert await Nudge.count().where(Nudge.customer == ada.id) == 0
    assert await CustomerChange.count().where(CustomerChange.customer == ada.id) == 0
