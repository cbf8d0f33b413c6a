"""Status callbacks (signed, forward-only) against a real ``slipguard serve``, and the
message history API that answers "did the customer get the reminder?"."""

from __future__ import annotations

import os
import random
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest

from coaching import delivery
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import STATUS_CALLBACK_PATH, Channels
from coaching.channels.sms import TwilioSms
from coaching.tables import DeliveryEvent, Nudge
from settings import Secret, TwilioSettings
from tests.conftest import LiveServer, Org
from tests.factories import claim_all, delivery_settings, enroll_due, nudge_rows, sms_customer
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio
from tests.support.services import free_port


@pytest.fixture(scope="module")
def signed_server() -> Iterator[LiveServer]:
    """``slipguard serve`` that knows the Twilio auth token and its own public URL."""
    port = free_port()
    env = {
        **os.environ,
        "SLIPGUARD_SCHEDULER_EMBEDDED": "false",
        "SLIPGUARD_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "SLIPGUARD_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    server = LiveServer(port, env)
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


def _channels(fake: FakeTwilio, callback: str) -> Channels:
    twilio = TwilioSettings(
        account_sid=DEFAULT_ACCOUNT_SID, auth_token=Secret(DEFAULT_AUTH_TOKEN), api_base=fake.url
    )
    return Channels(TwilioSms(twilio, callback), OutboxChannel("email"))


async def _sent(org: Org, fake: FakeTwilio, server: LiveServer) -> tuple[UUID, str]:
    """One message sent through the fake, with the server's status callback URL."""
    c = await sms_customer(org)
    _, due = await enroll_due(org, c)
    (nudge_id,) = await claim_all(org, due)
    callback = server.url + STATUS_CALLBACK_PATH
    assert (
        await delivery.deliver(nudge_id, _channels(fake, callback), delivery_settings()) == "sent"
    )
    (message,) = fake.messages
    assert message.status_callback == callback
    return nudge_id, message.sid


async def _status(nudge_id: UUID) -> tuple[str, str | None, str | None]:
    row = await Nudge.select(Nudge.status, Nudge.reason, Nudge.error_code).where(
        Nudge.id == nudge_id
    )
    return row[0]["status"], row[0]["reason"], row[0]["error_code"]


async def test_signed_callbacks_move_the_status_forward_only(
    org: Org, fake: FakeTwilio, signed_server: LiveServer
) -> None:
    nudge_id, sid = await _sent(org, fake, signed_server)
    assert fake.post_status(sid, "delivered") == 204
    assert (await _status(nudge_id))[0] == "delivered"
    # Late, duplicated and shuffled callbacks never move it back.
    late = ["sent", "queued", "sent", "delivered", "sending", "sent"]
    random.Random(7).shuffle(late)
    assert [fake.post_status(sid, s) for s in late] == [204] * len(late)
    assert (await _status(nudge_id))[0] == "delivered"
    events = await DeliveryEvent.select().where(DeliveryEvent.nudge == nudge_id)
    assert len(events) == 1 + len(late)
    assert [e["status"] for e in events if e["applied"]] == ["delivered"]


async def test_undelivered_carries_the_error_code(
    org: Org, fake: FakeTwilio, signed_server: LiveServer
) -> None:
    nudge_id, sid = await _sent(org, fake, signed_server)
    assert fake.post_status(sid, "sent") == 204
    assert fake.post_status(sid, "undelivered", 30006) == 204
    assert await _status(nudge_id) == ("failed", "undelivered", "30006")
    assert fake.post_status(sid, "delivered") == 204  # failed is final
    assert (await _status(nudge_id))[0] == "failed"


async def test_unsigned_tampered_or_misaddressed_callbacks_are_refused(
    org: Org, fake: FakeTwilio, signed_server: LiveServer
) -> None:
    nudge_id, sid = await _sent(org, fake, signed_server)
    assert fake.post_status(sid, "delivered", tamper=True) == 403
    # Signed for another URL (the same server under another name): refused.
    other = signed_server.url.replace("127.0.0.1", "localhost") + STATUS_CALLBACK_PATH
    assert fake.post_status(sid, "delivered", url=other) == 403
    request = urllib.request.Request(
        signed_server.url + STATUS_CALLBACK_PATH,
        data=f"MessageSid={sid}&MessageStatus=delivered".encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403
    assert "problem+json" in refused.value.headers["content-type"]
    assert (await _status(nudge_id))[0] == "sent"
    assert await DeliveryEvent.count().where(DeliveryEvent.nudge == nudge_id) == 0


async def test_history_lists_and_shows_messages_with_their_events(
    client: Any, org: Org, other_org: Org, fake: FakeTwilio, signed_server: LiveServer
) -> None:
    nudge_id, sid = await _sent(org, fake, signed_server)
    fake.post_status(sid, "delivered")
    row = (await Nudge.select(Nudge.customer, Nudge.enrollment).where(Nudge.id == nudge_id))[0]
    r = await client.get(
        "/api/v1/nudges",
        params={"customer_id": str(row["customer"]), "status": "delivered"},
        headers=org.auth("staff"),
    )
    assert r.status_code == 200, r.text
    (item,) = r.json()["items"]
    assert item["id"] == str(nudge_id) and item["provider_id"] == sid
    assert item["body"] == "Hi Mia, time for your tablet."
    assert item["recipient"].startswith("…") and len(item["recipient"]) == 5
    everything = await client.get(
        "/api/v1/nudges",
        params={"enrollment_id": str(row["enrollment"]), "limit": 2},
        headers=org.auth("staff"),
    )
    first = everything.json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = await client.get(
        "/api/v1/nudges",
        params={"enrollment_id": str(row["enrollment"]), "cursor": first["next_cursor"]},
        headers=org.auth("staff"),
    )
    ids = [i["id"] for i in first["items"] + rest.json()["items"]]
    assert len(ids) == len(set(ids)) == len(await nudge_rows(row["enrollment"]))
    detail = await client.get(f"/api/v1/nudges/{nudge_id}", headers=org.auth("staff"))
    assert [e["status"] for e in detail.json()["events"]] == ["delivered"]
    # Another organisation sees none of it.
    assert (
        await client.get(f"/api/v1/nudges/{nudge_id}", headers=other_org.auth("admin"))
    ).status_code == 404
    theirs = await client.get(
        "/api/v1/nudges",
        params={"customer_id": str(row["customer"])},
        headers=other_org.auth("admin"),
    )
    assert theirs.json()["items"] == []
    bad = await client.get(
        "/api/v1/nudges", params={"since": "0001-01-01T00:00:00+14:00"}, headers=org.auth()
    )
    assert bad.status_code in (400, 422)
