"""Email through a real SMTP server (aiosmtpd): text and HTML parts, the organisation's
footer, List-Unsubscribe, and an unsubscribe link that works without logging in."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

import coaching.outbox  # noqa: F401 - plans the messages of every step written here
from coaching import delivery
from coaching.channels.email import SmtpEmail
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.tables import Nudge
from core.tables import Organization
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.consent import current_consent
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.enrollments import services as enrollments
from settings import EmailSettings
from tests.conftest import Org
from tests.factories import claim_all, delivery_settings, zone_at
from tests.support.smtp import SmtpServer

MAIL = """\
key: mail
title: Visit
anchors: [start]
behaviours:
  - key: bring
    title: Bring your documents
    stage: pre_encounter
    importance: 6
    schedule: {once: start}
    nudges:
      - {at: due, channel: email, template: docs}
      - {at: due + 1m, channel: email, template: docs}
templates:
  docs: {en: "Hello {{ first_name }}, please bring your documents."}
"""


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


def _channels(smtp: SmtpServer) -> Channels:
    settings = EmailSettings(
        smtp_host="127.0.0.1", smtp_port=smtp.port, starttls=False,
        from_address="Riverside <care@riverside.example>",
    )  # fmt: skip
    return Channels(OutboxChannel("sms"), SmtpEmail(settings))


async def _enrolled(org: Org) -> tuple[Any, datetime]:
    await Organization.update(
        {Organization.postal_address: "1 River Road, Springfield",
         Organization.contact_phone: "+1 415 555 0100"}
    ).where(Organization.id == org.id)  # fmt: skip
    await journeys.load_journey(org.tenant, MAIL)
    c = await records.create_customer(
        org.tenant,
        CustomerIn(
            first_name="Noor",
            email="noor@example.org",
            timezone=zone_at(12),
            consent=[ConsentIn("email", "informational", "granted", "web", "Reminders by email")],
        ),
    )
    due = datetime.now(UTC) + timedelta(seconds=90)
    await enrollments.enroll(org.tenant, c.id, "mail", {"start": due.isoformat()})
    return c, due


async def test_email_has_both_parts_footer_and_a_working_unsubscribe_link(
    client: Any, org: Org, smtp: SmtpServer
) -> None:
    c, due = await _enrolled(org)
    first, second = sorted(
        await claim_all(org, due + timedelta(minutes=2)),
        key=lambda i: str(i),
    )
    settings = delivery_settings()
    assert await delivery.deliver(first, _channels(smtp), settings) == "sent"
    (mail,) = smtp.wait_for(1)
    m = mail.message
    assert mail.rcpt_tos == ["noor@example.org"]
    assert m["From"] == "Riverside <care@riverside.example>"
    text = m.get_body(("plain",)).get_content()
    html = m.get_body(("html",)).get_content()
    assert "Hello Noor, please bring your documents." in text
    assert "1 River Road, Springfield" in text and "1 River Road, Springfield" in html
    url = m["List-Unsubscribe"].strip("<>")
    assert m["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert url in text and "Stop these emails" in html
    row = (await Nudge.select().where(Nudge.id == first))[0]
    assert row["provider"] == "smtp" and row["provider_id"] == f"smtp-{first}"
    assert str(first) in m["Message-ID"] and row["recipient"] == c.email

    # The link works with no session: GET asks, POST (or a mail client's one-click) does it.
    path = urlsplit(url).path
    page = await client.get(path)
    assert page.status_code == 200 and "reminders and updates by email" in page.text
    done = await client.post(path, data={"List-Unsubscribe": "One-Click"})
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    state = (await current_consent(org.tenant, c.id))[("email", "informational")]
    assert (state.status, state.source) == ("revoked", "unsubscribe")
    # ...so the next message is never sent.
    assert await delivery.deliver(second, _channels(smtp), settings) == "suppressed"
    assert len(smtp.messages) == 1

    # A changed token is refused with a page, and changes nothing.
    tampered = path[:-2] + ("AA" if not path.endswith("AA") else "BB")
    assert (await client.post(tampered)).status_code == 404
    assert (await client.get("/unsubscribe/not-a-token")).status_code == 404


async def test_smtp_refusals_are_classified(org: Org, smtp: SmtpServer) -> None:
    _, due = await _enrolled(org)
    ids = await claim_all(org, due + timedelta(minutes=2))
    # A port nobody listens on: a transient failure, kept for a retry.
    closed = dataclasses.replace(
        _channels(smtp).email.settings,  # type: ignore[attr-defined]
        smtp_port=1,
    )
    down = Channels(OutboxChannel("sms"), SmtpEmail(closed))
    assert await delivery.deliver(ids[0], down, delivery_settings()) == "retrying"
    assert smtp.messages == []
