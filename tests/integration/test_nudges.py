"""Messages planned with their steps: the outbox rows an enrollment gets, and what
cancelling, confirming, holdouts, erasure and the rolling horizon do to them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from coaching.outbox import plans_of
from coaching.tables import Nudge
from journeys import services
from journeys.enrollments import jobs, planning
from journeys.enrollments import services as enrollments
from journeys.schedule import apply_offset, occurrences
from journeys.tables import Step
from tests.conftest import Org
from tests.factories import APPOINTMENT, customer, zone_at

DAILY = """\
key: daily-walk
title: Daily walk
anchors: [start]
behaviours:
  - key: walk
    title: Take a 20-minute walk
    stage: post_encounter
    importance: 6
    schedule: {every: 1d, at: "09:00", from: start, for: 10d}
    confirm: {reply: [DONE], grace: 6h}
    nudges:
      - {at: due, channel: sms, template: walk}
      - {at: due + 3h, unless: confirmed, channel: sms, template: walk-check}
templates:
  walk: {en: "Hi {{ first_name }}, time for your walk. Reply DONE after."}
  walk-check: {en: "Did you manage your walk today? Reply DONE."}
"""
YAML = {"content-type": "application/yaml"}


async def _load(client: Any, org: Org, source: str) -> None:
    h = {**org.auth("manager"), **YAML}
    r = await client.post("/api/v1/journeys", headers=h, content=source.encode())
    assert r.status_code in (200, 201), r.text


async def _enroll(
    client: Any,
    org: Org,
    journey: str,
    anchors: dict[str, str],
    tz: str = "America/New_York",
    **extra: Any,
):
    c = await customer(org, tz)
    body = {"customer_id": str(c.id), "journey": journey, "anchors": anchors, **extra}
    r = await client.post("/api/v1/enrollments", headers=org.auth("staff"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def _detail(client: Any, org: Org, enrollment_id: str) -> dict[str, Any]:
    r = await client.get(f"/api/v1/enrollments/{enrollment_id}", headers=org.auth("staff"))
    assert r.status_code == 200, r.text
    return r.json()


async def test_steps_come_with_their_messages_and_cancelling_stops_them(
    client: Any, org: Org
) -> None:
    await _load(client, org, DAILY)
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    # Local noon: the next two 09:00 walks are 21 and 45 hours away, both inside the 48-hour
    # horizon at any hour of the day (in one fixed zone, a start just after 09:00 would
    # leave only one).
    created = await _enroll(client, org, "daily-walk", {"start": start}, zone_at(12))
    eid = created["enrollment"]["id"]
    assert created["steps_created"] >= 2
    assert created["nudges_planned"] == 2 * created["steps_created"]
    assert created["past_nudges_skipped"] == 0
    detail = await _detail(client, org, eid)
    steps = {s["id"]: s for s in detail["steps"]}
    for n in detail["nudges"]:
        due = datetime.fromisoformat(steps[n["step_id"]]["due_at"])
        at = datetime.fromisoformat(n["due_at"])
        if n["kind"] == "reminder":
            assert (at, n["template"], n["unless_confirmed"]) == (due, "walk", False)
        else:
            assert n["kind"] == "follow_up"
            assert (at - due, n["template"], n["unless_confirmed"]) == (
                timedelta(hours=3),
                "walk-check",
                True,
            )
        assert n["status"] == "scheduled" and n["channel"] == "sms"

    # Confirming a step suppresses its follow-up, not its reminder.
    first = detail["steps"][0]["id"]
    r = await client.post(
        f"/api/v1/steps/{first}/complete", headers=org.auth("staff"), json={"via": "sms"}
    )
    assert r.status_code == 200
    mine = {
        n["kind"]: n for n in (await _detail(client, org, eid))["nudges"] if n["step_id"] == first
    }
    assert (mine["follow_up"]["status"], mine["follow_up"]["reason"]) == ("suppressed", "confirmed")
    assert mine["reminder"]["status"] == "scheduled"

    # One message has already gone out: cancelling must leave its history alone.
    await Nudge.update({Nudge.status: "sent"}).where(Nudge.id == UUID(mine["reminder"]["id"]))
    r = await client.post(f"/api/v1/enrollments/{eid}/cancel", headers=org.auth("staff"))
    assert r.status_code == 200
    after = (await _detail(client, org, eid))["nudges"]
    by_id = {n["id"]: n for n in after}
    assert by_id[mine["reminder"]["id"]]["status"] == "sent"
    assert by_id[mine["follow_up"]["id"]]["status"] == "suppressed"
    rest = [n for n in after if n["step_id"] != first]
    assert rest
    assert {(n["status"], n["reason"]) for n in rest} == {("cancelled", "enrollment_cancelled")}


async def test_holdout_messages_are_recorded_suppressed_and_never_scheduled(
    client: Any, org: Org
) -> None:
    await _load(client, org, DAILY)
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    created = await _enroll(client, org, "daily-walk", {"start": start}, holdout=True)
    assert created["enrollment"]["holdout"] is True
    assert created["steps_created"] >= 1 and created["nudges_planned"] == 0
    assert created["nudges_held_out"] >= 1
    eid = UUID(created["enrollment"]["id"])
    # ...and so does the rolling horizon later on.
    later = datetime.now(UTC) + timedelta(days=6)
    assert await jobs.materialise_due(now=later, organization=org.id) >= 1
    assert await Step.count().where(Step.enrollment == eid) > created["steps_created"]
    rows = await Nudge.select(Nudge.status, Nudge.reason).where(Nudge.enrollment == eid)
    assert len(rows) > created["nudges_held_out"]
    assert {(r["status"], r["reason"]) for r in rows} == {("suppressed", "holdout")}


async def test_a_reminder_already_past_at_enrollment_is_skipped_and_said(
    client: Any, org: Org
) -> None:
    await _load(client, org, APPOINTMENT)
    appointment = datetime.now(UTC) + timedelta(days=2)
    created = await _enroll(client, org, "visit", {"appointment": appointment.isoformat()})
    assert created["steps_created"] == 1
    assert (created["nudges_planned"], created["past_nudges_skipped"]) == (1, 1)
    (planned,) = (await _detail(client, org, created["enrollment"]["id"]))["nudges"]
    at = datetime.fromisoformat(planned["due_at"])
    ny = ZoneInfo("America/New_York")
    assert at.astimezone(ny).time() == appointment.astimezone(ny).time()
    assert timedelta(hours=22) < appointment - at < timedelta(hours=26)  # due - 1d, local


async def test_messages_days_before_a_step_are_planned_a_horizon_ahead_of_them(
    org: Org,
) -> None:
    """The visit's first message goes out 3 days before it; the step (with its messages)
    must exist a horizon before that message, not only a horizon before the visit."""
    await services.load_journey(org.tenant, APPOINTMENT)
    enrolled = datetime(2031, 1, 5, 15, tzinfo=UTC)
    appointment = enrolled + timedelta(days=20)
    c = await customer(org, "Europe/Berlin")
    done = await enrollments.enroll(
        org.tenant, c.id, "visit", {"appointment": appointment.isoformat()}, now=enrolled
    )
    assert done.steps_created == 0  # nothing is near yet
    _, _, definition = await services.current_definition(org.tenant, "visit")
    tz = ZoneInfo("Europe/Berlin")
    (visit,) = occurrences(definition, {"appointment": appointment}, tz)
    wanted = sorted(
        apply_offset(p.offset, visit.due_at, tz) for p in plans_of(definition.behaviours[0])
    )
    horizon = planning.horizon()
    eid = done.enrollment.id
    for hours in range(0, 21 * 24, 11):  # an irregular tick
        now = enrolled + timedelta(hours=hours)
        await jobs.materialise_due(now=now, organization=org.id)
        stored = sorted(
            r["due_at"] for r in await Nudge.select(Nudge.due_at).where(Nudge.enrollment == eid)
        )
        assert stored == [] or stored == wanted
        if wanted[0] < now + horizon:
            assert stored == wanted, f"the messages due by {now + horizon} are not planned"
    assert await Step.count().where(Step.enrollment == eid) == 1


async def test_another_organisation_cannot_see_or_stop_the_messages(
    client: Any, org: Org, other_org: Org
) -> None:
    await _load(client, org, DAILY)
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    created = await _enroll(client, org, "daily-walk", {"start": start})
    eid = created["enrollment"]["id"]
    other = other_org.auth("admin")
    assert (await client.get(f"/api/v1/enrollments/{eid}", headers=other)).status_code == 404
    assert (
        await client.post(f"/api/v1/enrollments/{eid}/cancel", headers=other)
    ).status_code == 404
    rows = await Nudge.select(Nudge.status, Nudge.organization).where(Nudge.enrollment == UUID(eid))
    assert rows and {(r["status"], r["organization"]) for r in rows} == {("scheduled", org.id)}


async def test_erasure_cancels_every_message_and_export_lists_them(client: Any, org: Org) -> None:
    await _load(client, org, DAILY)
    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    created = await _enroll(client, org, "daily-walk", {"start": start})
    cid, eid = created["enrollment"]["customer_id"], created["enrollment"]["id"]
    export = await client.get(f"/api/v1/customers/{cid}/export", headers=org.auth("manager"))
    assert export.status_code == 200
    (item,) = export.json()["enrollments"]
    assert len(item["messages"]) == created["nudges_planned"]
    assert {m["template"] for m in item["messages"]} == {"walk", "walk-check"}

    r = await client.post(f"/api/v1/customers/{cid}/erase", headers=org.auth("admin"))
    assert r.status_code == 200, r.text
    assert r.json()["nudges_cancelled"] == created["nudges_planned"]
    statuses = await Nudge.select(Nudge.status, Nudge.reason).where(Nudge.enrollment == UUID(eid))
    assert {(s["status"], s["reason"]) for s in statuses} == {("cancelled", "customer_erased")}
    again = await client.post(f"/api/v1/customers/{cid}/erase", headers=org.auth("admin"))
    assert again.json()["nudges_cancelled"] == 0


async def test_deleting_a_customer_or_organisation_deletes_steps_and_messages(
    client: Any, org: Org, other_org: Org
) -> None:
    """Steps and messages keep copies of their enrollment's customer and organisation
    without keys of their own (PostgreSQL): the enrollment's cascade must remove them."""
    from core.tables import Organization
    from journeys.tables import Customer

    start = (datetime.now(UTC) + timedelta(minutes=5)).isoformat()
    ids = {}
    for o in (org, other_org):
        await _load(client, o, DAILY)
        created = await _enroll(client, o, "daily-walk", {"start": start})
        ids[o.id] = (UUID(created["enrollment"]["customer_id"]), UUID(created["enrollment"]["id"]))

    async def counts(eid: UUID) -> tuple[int, int]:
        steps = await Step.count().where(Step.enrollment == eid)
        return steps, await Nudge.count().where(Nudge.enrollment == eid)

    customer_id, eid = ids[org.id]
    assert all(await counts(eid))
    await Customer.delete().where(Customer.id == customer_id)
    assert await counts(eid) == (0, 0)

    _, other_eid = ids[other_org.id]
    assert all(await counts(other_eid))
    await Organization.delete().where(Organization.id == other_org.id)
    assert await counts(other_eid) == (0, 0)


async def test_a_message_without_an_organisation_is_refused() -> None:
    """No foreign key guards ``nudge.organization``; the column has no default, so both the
    table class and the database (bulk writes bypass the class) refuse a row without it."""
    import pytest

    from core.db import run_sql
    from core.ids import new_id

    with pytest.raises(ValueError, match="organization"):
        Nudge(kind="reminder", channel="sms", template="t", due_at=datetime.now(UTC))
    nudge_id = new_id()
    with pytest.raises(Exception, match=r"(?i)null"):
        await run_sql("INSERT INTO nudge (id, due_at) VALUES ({}, {})", nudge_id, datetime.now(UTC))
    assert await Nudge.count().where(Nudge.id == nudge_id) == 0
