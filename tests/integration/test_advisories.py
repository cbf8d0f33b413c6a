"""Advisories: one message to every customer a journey affects, written at once through the
API, sent by the ordinary delivery path with consent applied, and followed by its progress."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import coaching.outbox  # noqa: F401 - plans the messages of every step written here
from coaching import delivery, dispatch
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.tables import Advisory, Nudge
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.enrollments import services as enrollments
from settings import get_settings
from tests.conftest import Org
from tests.factories import assert_problem, delivery_settings, zone_at

VISIT = """\
key: visit
title: Clinic visit
anchors: [visit]
behaviours:
  - key: bring-card
    title: Bring your card
    stage: pre_encounter
    importance: 5
    schedule: {once: visit}
  - key: fast
    title: Do not eat before
    stage: pre_encounter
    importance: 8
    schedule: {once: visit - 1d}
"""
TEXTS = ConsentIn("sms", "informational", "granted", "staff", "Texts")
CHANNELS = Channels(OutboxChannel("sms"), OutboxChannel("email"))


async def _customer(org: Org, i: int, consent: bool = True) -> Any:
    return await records.create_customer(
        org.tenant,
        CustomerIn(
            first_name=f"Kim{i}",
            phone=f"+1415557{i:04d}",
            timezone=zone_at(12),
            consent=[TEXTS] if consent else [],
        ),
    )


async def _enroll(org: Org, customer: Any, days: float = 3) -> Any:
    visit = datetime.now(UTC) + timedelta(days=days)
    done = await enrollments.enroll(org.tenant, customer.id, "visit", {"visit": visit.isoformat()})
    return done.enrollment


async def _send_all(org: Org) -> None:
    """Be the scheduler and the workers for this organisation until nothing is due."""

    async def work(pending: list[UUID]) -> None:
        while pending:
            await delivery.deliver(pending.pop(), CHANNELS, delivery_settings())

    while ids := await dispatch.claim_due(now=datetime.now(UTC), organization=org.id):
        await asyncio.gather(*(work(ids) for _ in range(8)))


async def _advisory_rows(advisory_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await Nudge.select(
        Nudge.customer, Nudge.status, Nudge.reason, Nudge.body, Nudge.kind
    ).where(Nudge.dedupe_key.like(f"advisory:{advisory_id}:%"))
    return rows


async def test_an_advisory_reaches_each_affected_customer_once_with_consent_applied(
    client: Any, org: Org
) -> None:
    await journeys.load_journey(org.tenant, VISIT)
    agreed = [await _customer(org, i) for i in range(4)]
    silent = await _customer(org, 4, consent=False)
    twice = agreed[0]  # two visits booked: still one message
    for c in [*agreed, silent]:
        await _enroll(org, c)
    await _enroll(org, twice, days=10)
    gone = await _customer(org, 5)  # cancelled their visit: not affected
    left = await _enroll(org, gone)
    await enrollments.cancel_enrollment(org.tenant, left.id)

    body = {
        "journey": "visit",
        "template": "{{ first_name }}, {{ org_name }} opens at 10 tomorrow.",
        "channel": "sms",
    }
    r = await client.post("/api/v1/advisories", headers=org.auth("manager"), json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["recipients"] == 5
    assert made["progress"] == {
        "waiting": 5, "sent": 0, "delivered": 0, "failed": 0, "cancelled": 0,
        "suppressed": {}, "done": False,
    }  # fmt: skip

    await _send_all(org)
    r = await client.get(f"/api/v1/advisories/{made['id']}", headers=org.auth("manager"))
    progress = r.json()["progress"]
    assert progress["sent"] == 4 and progress["suppressed"] == {"no_consent": 1}
    assert progress["waiting"] == 0 and progress["done"] is True
    rows = await _advisory_rows(made["id"])
    assert Counter(r["customer"] for r in rows) == {c.id: 1 for c in [*agreed, silent]}
    sent = {r["customer"]: r["body"] for r in rows if r["status"] == "sent"}
    assert sent[agreed[1].id].startswith(f"{agreed[1].first_name}, ")
    assert "opens at 10 tomorrow" in sent[agreed[1].id]
    assert {r["kind"] for r in rows} == {"advisory"}
    listed = await client.get("/api/v1/advisories", headers=org.auth("manager"))
    assert [a["id"] for a in listed.json()["items"]] == [made["id"]]


async def test_a_behaviour_narrows_it_to_customers_with_that_step_still_ahead(
    client: Any, org: Org
) -> None:
    await journeys.load_journey(org.tenant, VISIT)
    soon, later = await _customer(org, 1), await _customer(org, 2)
    await _enroll(org, soon, days=0.5)  # the fasting step (a day before) is already past
    await _enroll(org, later, days=3)
    body = {"journey": "visit", "behaviour": "fast", "template": "No food after 8 pm.",
            "channel": "sms"}  # fmt: skip
    r = await client.post("/api/v1/advisories", headers=org.auth("manager"), json=body)
    assert r.status_code == 201, r.text
    assert r.json()["recipients"] == 1
    rows = await _advisory_rows(r.json()["id"])
    assert [row["customer"] for row in rows] == [later.id]


async def test_a_bad_advisory_names_its_field_and_writes_nothing(client: Any, org: Org) -> None:
    await journeys.load_journey(org.tenant, VISIT)
    await _enroll(org, await _customer(org, 1))
    h = org.auth("manager")
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    cases = [
        ({"journey": "nope"}, "journey"),
        ({"behaviour": "dance"}, "behaviour"),
        ({"template": "Hi {{ first_name"}, "template"),
        ({"template": "Hi {{ shoe_size }}"}, "template"),
        ({"template": "{{ first_name[40] }}"}, "template"),
        ({"send_at": past}, "send_at"),
    ]
    for change, field in cases:
        body = {"journey": "visit", "template": "Hello", "channel": "sms", **change}
        problem = assert_problem(await client.post("/api/v1/advisories", headers=h, json=body), 422)
        assert [e["field"] for e in problem["errors"]] == [field], (change, problem)
    assert not await Nudge.exists().where(
        (Nudge.organization == org.id) & (Nudge.kind == "advisory")
    )
    assert await Advisory.count().where(Advisory.organization == org.id) == 0
    # Staff may not send advisories (the route-wide tenancy test covers other organisations).
    body = {"journey": "visit", "template": "Hello", "channel": "sms"}
    r = await client.post("/api/v1/advisories", headers=org.auth("staff"), json=body)
    assert r.status_code == 403


async def test_an_advisory_to_thousands_completes_with_a_correct_summary(
    client: Any, org: Org
) -> None:
    """5,000 customers on PostgreSQL (500 on SQLite); one in ten never agreed to texts."""
    await journeys.load_journey(org.tenant, VISIT)
    count = 5000 if get_settings().database.is_postgres else 500
    numbers = iter(range(count))
    silent: set[UUID] = set()

    async def add() -> None:
        for i in numbers:
            c = await _customer(org, i, consent=i % 10 != 0)
            if i % 10 == 0:
                silent.add(c.id)
            await _enroll(org, c)

    await asyncio.gather(*(add() for _ in range(8)))
    body = {"journey": "visit", "template": "{{ first_name }}: parking is closed on Friday.",
            "channel": "sms"}  # fmt: skip
    r = await client.post("/api/v1/advisories", headers=org.auth("manager"), json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["recipients"] == count
    await _send_all(org)
    await _send_all(org)  # a second pass finds nothing more to send
    progress = (
        await client.get(f"/api/v1/advisories/{made['id']}", headers=org.auth("manager"))
    ).json()["progress"]
    assert progress["sent"] == count - len(silent)
    assert progress["suppressed"] == {"no_consent": len(silent)}
    assert progress["done"] is True and progress["failed"] == 0
    rows = await _advisory_rows(made["id"])
    per_customer = Counter(r["customer"] for r in rows)
    assert len(per_customer) == count and set(per_customer.values()) == {1}
    assert {r["customer"] for r in rows if r["status"] == "suppressed"} == silent
