"""Delivery of planned messages: claim, send-time checks, rendering, the real Twilio SDK
against the fake Twilio over HTTP, retries, permanent failures and recovery of a send
whose outcome was lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

import coaching.outbox  # noqa: F401 - plans the messages of every step written here
from coaching import delivery, dispatch
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.channels.sms import TwilioSms
from coaching.tables import Nudge
from core.tables import Organization
from journeys.customers import records
from journeys.customers.consent import current_consent
from settings import Secret, TwilioSettings
from tests.conftest import Org
from tests.factories import (
    FROM,
    claim_all,
    delivery_settings,
    enroll_due,
    nudge_rows,
    sms_customer,
    zone_at,
)
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def _channels(fake: FakeTwilio) -> Channels:
    twilio = TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID,
        auth_token=Secret(DEFAULT_AUTH_TOKEN),
        from_number=FROM,
        api_base=fake.url,
    )
    return Channels(TwilioSms(twilio, None), OutboxChannel("email"))


async def test_a_due_message_is_rendered_and_sent_once_through_the_sdk(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    claimed = await claim_all(org, due)
    assert len(claimed) == 1, "only the message due at the step's time is due yet"
    outcome = await delivery.deliver(claimed[0], _channels(fake), delivery_settings())
    assert outcome == "sent"
    (sent,) = fake.messages
    assert sent.to == c.phone and sent.from_ == FROM
    assert sent.body == "Hi Mia, time for your tablet."
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["provider_id"], row["provider"]) == ("sent", sent.sid, "twilio")
    assert row["body"] == sent.body and row["locale"] == "en" and row["attempts"] == 1
    # A second delivery of the same broker message finds nothing to do.
    assert await delivery.deliver(claimed[0], _channels(fake), delivery_settings()) == "not_queued"
    assert len(fake.messages) == 1


async def test_the_customer_locale_picks_the_template_with_fallback(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org, locale="zh-Hans-CN")
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    await delivery.deliver(nudge_id, _channels(fake), delivery_settings())
    assert fake.messages[0].body == "Mia，该吃药了。"  # noqa: RUF001
    assert (await nudge_rows(eid))[0]["locale"] == "zh-CN"


async def test_without_consent_nothing_is_sent(org: Org, fake: FakeTwilio) -> None:
    c = await sms_customer(org, consent=False)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "suppressed"
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["reason"]) == ("suppressed", "no_consent")
    assert fake.messages == []


async def test_outside_the_send_window_a_message_waits_for_it_to_open(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org, hour=3)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "held"
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["reason"]) == ("scheduled", "held_send_window")
    opens = row["send_after"].astimezone(ZoneInfo(c.timezone))
    assert (opens.hour, opens.minute) == (8, 0)
    assert timedelta(0) < row["send_after"] - datetime.now(UTC) <= timedelta(hours=6)
    assert fake.messages == []
    # Claimed at the opening, it goes (with the step's later messages, due by then).
    assert nudge_id in await claim_all(org, row["send_after"])
    assert await claim_all(org, row["send_after"] - timedelta(seconds=1)) == []


async def test_rate_limited_sends_are_retried_after_retry_after(org: Org, fake: FakeTwilio) -> None:
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    fake.fail_next(429, 20429, retry_after=90)
    before = datetime.now(UTC)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "retrying"
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["error_code"], row["attempts"]) == ("scheduled", "20429", 1)
    assert row["send_after"] >= before + timedelta(seconds=90)
    assert await claim_all(org, row["send_after"] - timedelta(seconds=1)) == []
    assert await claim_all(org, row["send_after"]) == [nudge_id]
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "sent"
    assert len(fake.messages) == 1
    assert (await nudge_rows(eid))[0]["attempts"] == 2


async def test_staff_see_what_was_sent_on_the_customers_page(
    client: Any, org: Org, other_org: Org, fake: FakeTwilio
) -> None:
    from tests.integration.test_dashboards import login

    c = await sms_customer(org)
    _, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "sent"
    await login(client, org.users["staff"], org.password)
    page = await client.get(f"/staff/customers/{c.id}")
    assert page.status_code == 200
    assert "Hi Mia, time for your tablet." in page.text and "<strong>sent</strong>" in page.text
    assert page.text.count('class="message"') == 4  # the sent one and three still planned
    await login(client, other_org.users["staff"], other_org.password)
    assert (await client.get(f"/staff/customers/{c.id}")).status_code == 404
    client.cookies.clear()


async def test_sends_are_counted_and_timed_for_prometheus(org: Org, fake: FakeTwilio) -> None:
    from prometheus_client import REGISTRY

    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    names = {
        "sent": ("slipguard_deliveries_total", {"channel": "sms", "outcome": "sent"}),
        "retrying": ("slipguard_deliveries_total", {"channel": "sms", "outcome": "retrying"}),
        "late": ("slipguard_delivery_lateness_seconds_count", {"channel": "sms"}),
        "timed": ("slipguard_delivery_send_seconds_count", {"channel": "sms"}),
    }
    before = {k: sample(name, **labels) for k, (name, labels) in names.items()}
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    fake.fail_next(500, 20500)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "retrying"
    row = (await nudge_rows(eid))[0]
    assert await claim_all(org, row["send_after"]) == [nudge_id]
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "sent"
    after = {k: sample(name, **labels) for k, (name, labels) in names.items()}
    assert {k: after[k] - before[k] for k in names} == {
        "sent": 1,
        "retrying": 1,
        "late": 1,  # only sent messages are late or on time
        "timed": 2,  # every attempt that reached the provider
    }


async def test_too_many_transient_failures_end_in_failed_exhausted(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    fake.fail_next(500, 20500, times=2)
    settings = delivery_settings(max_attempts=2)
    assert await delivery.deliver(nudge_id, _channels(fake), settings) == "retrying"
    row = (await nudge_rows(eid))[0]
    await claim_all(org, row["send_after"])
    assert await delivery.deliver(nudge_id, _channels(fake), settings) == "failed"
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["reason"], row["error_code"]) == ("failed", "exhausted", "20500")


async def test_an_unsubscribed_number_fails_and_withdraws_consent(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    fake.fail_to(c.phone, 400, 21610)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "failed"
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["reason"], row["error_code"]) == ("failed", "unsubscribed", "21610")
    consent = await current_consent(org.tenant, c.id)
    assert consent[("sms", "informational")].status == "revoked"
    assert consent[("sms", "informational")].source == "provider"
    # The next message of that customer is suppressed without asking the provider.
    later = await claim_all(org, due + timedelta(minutes=1))
    assert await delivery.deliver(later[0], _channels(fake), delivery_settings()) == "suppressed"


async def test_the_daily_cap_defers_the_fourth_message_and_critical_bypasses_it(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    ids = await claim_all(org, due + timedelta(minutes=5))
    assert len(ids) == 4
    outcomes = [await delivery.deliver(i, _channels(fake), delivery_settings()) for i in ids]
    assert outcomes == ["sent", "sent", "sent", "held"]
    rows = await nudge_rows(eid)
    (held,) = [r for r in rows if r["status"] != "sent"]
    assert (held["status"], held["reason"]) == ("scheduled", "deferred_frequency_cap")
    first_sent = min(r["sent_at"] for r in rows if r["sent_at"])
    assert held["send_after"] == first_sent + timedelta(days=1)
    # A critical message is not held by the cap.
    await Nudge.update({Nudge.critical: True}).where(Nudge.id == held["id"])
    await claim_all(org, held["send_after"])
    assert await delivery.deliver(held["id"], _channels(fake), delivery_settings()) == "sent"
    assert len(fake.messages) == 4


async def test_a_send_whose_outcome_was_lost_is_not_sent_twice(org: Org, fake: FakeTwilio) -> None:
    c = await sms_customer(org)
    eid, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    channels = _channels(fake)

    class DiesAfterSending:
        """The provider accepts the message, then the worker dies before recording it."""

        provider = "twilio"

        def send(self, message: Any) -> Any:
            channels.sms.send(message)
            raise SystemExit("killed")

        def find_sent(self, message: Any, since: datetime) -> str | None:
            return channels.sms.find_sent(message, since)

    dying = Channels(DiesAfterSending(), channels.email)  # type: ignore[arg-type]
    with pytest.raises(SystemExit):
        await delivery.deliver(nudge_id, dying, delivery_settings())
    assert (await nudge_rows(eid))[0]["status"] == "sending"
    # Nothing finished it: the scheduler finds the stale claim and queues it, marked.
    later = datetime.now(UTC) + timedelta(minutes=5)
    assert await dispatch.reclaim_stale(now=later, organization=org.id) == [nudge_id]
    assert await delivery.deliver(nudge_id, channels, delivery_settings()) == "sent"
    (accepted,) = fake.messages
    row = (await nudge_rows(eid))[0]
    assert (row["status"], row["provider_id"]) == ("sent", accepted.sid)


async def test_a_lost_claim_is_published_again_and_a_stale_send_is_retried(
    org: Org, fake: FakeTwilio
) -> None:
    c = await sms_customer(org)
    _, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    # The broker lost the message: after the stale time the scheduler publishes it again.
    # (claimed "at" the due time the claim was made for)
    assert await dispatch.reclaim_stale(now=due, organization=org.id) == []
    soon = due + timedelta(seconds=61)
    assert await dispatch.reclaim_stale(now=soon, organization=org.id) == [nudge_id]
    published: list[UUID] = []
    assert dispatch.publish_all([nudge_id], published.append) == 1
    assert published == [nudge_id]
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "sent"
    # Was not at the provider and never sent twice.
    assert len(fake.messages) == 1


async def test_organisation_sender_overrides_the_default(org: Org, fake: FakeTwilio) -> None:
    await Organization.update({Organization.messaging_service_sid: "MG" + "1" * 32}).where(
        Organization.id == org.id
    )
    c = await sms_customer(org)
    _, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    await delivery.deliver(nudge_id, _channels(fake), delivery_settings())
    (sent,) = fake.messages
    assert sent.messaging_service_sid == "MG" + "1" * 32 and sent.from_ is None


async def test_metrics_show_delivery_figures_from_the_outbox(
    client: Any, org: Org, fake: FakeTwilio
) -> None:
    import re

    from api import metrics

    c = await sms_customer(org)
    _, due = await enroll_due(org, c)
    for nudge_id in await claim_all(org, due + timedelta(minutes=5)):
        await delivery.deliver(nudge_id, _channels(fake), delivery_settings())
    metrics._state["at"] = 0.0  # take a fresh reading now
    text = (await client.get("/metrics")).text
    sent = re.search(r'^slipguard_nudges\{channel="sms",status="sent"\} (\S+)$', text, re.M)
    assert sent is not None and float(sent.group(1)) >= 3
    assert re.search(r'^slipguard_nudge_lateness_seconds\{quantile="0.99"\} \S+$', text, re.M)
    assert re.search(r"^slipguard_nudges_in_flight \S+$", text, re.M)


async def test_a_customer_who_moves_is_messaged_by_their_new_local_time(
    org: Org, fake: FakeTwilio
) -> None:
    """The step keeps the enrollment's timezone; the sending window follows the person."""
    from journeys.customers.schemas import CustomerPatch

    c = await sms_customer(org, hour=12)
    eid, due = await enroll_due(org, c)
    await records.update_customer(org.tenant, c.id, CustomerPatch(timezone=zone_at(3)))
    (nudge_id,) = await claim_all(org, due)
    assert await delivery.deliver(nudge_id, _channels(fake), delivery_settings()) == "held"
    row = (await nudge_rows(eid))[0]
    assert row["reason"] == "held_send_window" and row["due_at"] == due
    assert row["send_after"].astimezone(ZoneInfo(zone_at(3))).hour == 8
    assert fake.messages == []
