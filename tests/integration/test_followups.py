"""Follow-ups by cause, end to end: missed steps and slips become messages in the outbox
and staff tasks, each exactly once, however many schedulers run the job at once."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import coaching.outbox  # noqa: F401 - plans the messages of every step written here
from coaching import delivery, dispatch, followups
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.tables import FollowUp, Nudge, StaffTask
from core import identity
from journeys import services as journeys
from journeys.enrollments import services as enrollments
from journeys.tables import Step
from slips import missed, validation, writes
from slips.tables import Slip
from tests.conftest import Org
from tests.factories import delivery_settings, sms_customer

COACH = """\
key: coach
title: Daily tablet
anchors: [start]
follow_up: {escalate_after_misses: 3, remind_before: 2h, check_back: 3d}
behaviours:
  - key: dose
    title: Take your tablet
    stage: post_encounter
    importance: 8
    instructions: Take one tablet with breakfast.
    schedule: {every: 1d, at: "08:00", from: start, for: 30d}
    confirm: {reply: [DONE], grace: 4h}
    failure_modes:
      - {key: forgot, title: I forgot, deficit: forgetfulness, guidance: Keep the box in sight.}
      - {key: unsure, title: Not sure how, deficit: role_clarity, guidance: Swallow it whole.}
      - {key: fed-up, title: Fed up with it, deficit: motivation}
      - {key: cannot, title: Cannot get there, deficit: ability}
      - {key: cost, title: Cannot pay, deficit: financial}
    nudges:
      - {at: due, channel: sms, template: dose}
templates:
  dose: {en: "Hi {{ first_name }}, time for your tablet. Reply DONE."}
"""


@pytest.fixture(autouse=True)
def fresh_quarantines() -> Iterator[None]:
    yield
    for quarantine in (followups.BAD_ORGANIZATIONS, followups.BAD_VERSIONS):
        quarantine.clear()


async def _scene(org: Org) -> tuple[Any, list[Step]]:
    """A customer on the daily tablet for five days, every past dose missed (with its
    system slip); returns the customer and the missed steps, oldest first."""
    await journeys.load_journey(org.tenant, COACH)
    c = await sms_customer(org)
    start = (datetime.now(UTC) - timedelta(days=5)).isoformat()
    await enrollments.enroll(org.tenant, c.id, "coach", {"start": start}, backfill=True)
    await missed.detect_missed(organization=org.id)
    steps = await (
        org.tenant.objects(Step)
        .where((Step.customer == c.id) & (Step.status == "missed"))
        .order_by(Step.due_at)
    )
    assert len(steps) >= 4
    return c, list(steps)


async def _slip(
    org: Org,
    c: Any,
    mode: str | None,
    step: Step | None = None,
    kind: str = "error",
    source: str = "customer",
    reporter: validation.Reporter | None = None,
) -> Any:
    item = validation.SlipInput(
        journey="coach",
        behaviour="dose",
        failure_mode=mode,
        customer_id=c.id,
        step_id=step.id if step else None,
        kind=kind,
        note="from the test",
    )
    return await writes.record_slip(
        org.tenant,
        item,
        reporter or validation.Reporter(),
        source,  # type: ignore[arg-type]
    )


async def _nudges(org: Org, like: str) -> list[dict[str, Any]]:
    return await Nudge.select().where((Nudge.organization == org.id) & Nudge.dedupe_key.like(like))


async def _tasks(org: Org) -> list[StaffTask]:
    return list(await org.tenant.objects(StaffTask))


async def test_a_missed_step_with_no_known_cause_asks_why_once(org: Org) -> None:
    c, steps = await _scene(org)
    await followups.follow_up_due(organization=org.id)
    await followups.follow_up_due(organization=org.id)
    asked = await _nudges(org, "why:%")
    assert sorted(r["dedupe_key"] for r in asked) == sorted(f"why:{s.id}" for s in steps)
    last = next(r for r in asked if r["dedupe_key"] == f"why:{steps[-1].id}")
    assert last["kind"] == "follow_up" and last["status"] == "scheduled"
    assert last["step"] == steps[-1].id and last["customer"] == c.id
    # The options are the behaviour's failure modes, numbered in definition order.
    assert last["body"].endswith(
        "Reply with a number:\n1. I forgot\n2. Not sure how\n3. Fed up with it\n"
        "4. Cannot get there\n5. Cannot pay"
    )
    # The contract with inbound replies: asking again writes nothing.
    assert await followups.ask_why(org.tenant, steps[-1].id) is None
    assert len(await _nudges(org, "why:%")) == len(steps)
    assert await _tasks(org) == []


async def test_three_motivation_misses_in_a_row_open_exactly_one_task(org: Org) -> None:
    c, steps = await _scene(org)
    for step in steps[-3:]:
        await _slip(org, c, "fed-up", step)
    # Two schedulers at once: every slip is followed up once, one task for the run.
    await asyncio.gather(
        followups.follow_up_due(organization=org.id),
        followups.follow_up_due(organization=org.id),
    )
    await followups.follow_up_due(organization=org.id)
    tasks = await _tasks(org)
    assert [t.reason for t in tasks] == ["repeated_misses"]
    assert tasks[0].customer == c.id and tasks[0].status == "open"
    assert tasks[0].dedupe_key == f"misses:{steps[0].id}"
    encouraged = await _nudges(org, "encourage:%")
    assert len(encouraged) == 3
    slips = await Slip.count().where(Slip.organization == org.id)
    assert await FollowUp.count().where(FollowUp.organization == org.id) == slips


async def test_fewer_misses_than_the_setting_only_encourage(org: Org) -> None:
    c, steps = await _scene(org)
    # The latest dose was taken: the run of misses starts again.
    later = await (
        org.tenant.objects(Step)
        .where((Step.customer == c.id) & (Step.status == "pending"))
        .order_by(Step.due_at)
        .first()
    )
    assert later is not None
    await Step.update({Step.status: "done"}).where(Step.id == steps[-2].id)
    await _slip(org, c, "fed-up", steps[-1])
    written = await followups.follow_up_due(organization=org.id)
    mine = [w for w in written if w.decision.action.startswith("encourage")]
    assert [w.decision.action for w in mine] == ["encourage"] and mine[0].task is None
    assert await _tasks(org) == []


async def test_an_ability_slip_opens_a_task_at_once_due_by_the_standard(org: Org) -> None:
    await identity.update_organization(org.id, {"task_due_hours": 6, "task_target_percent": 80})
    c, _ = await _scene(org)
    staff = org.users["staff"]
    slip = await _slip(
        org, c, "cannot", source="staff", reporter=validation.Reporter(user_id=staff.id)
    )
    await followups.follow_up_due(organization=org.id)
    (task,) = await _tasks(org)
    assert (task.reason, task.slip, task.assigned_to) == ("ability", slip.id, staff.id)
    assert task.due_at - task.created_at == timedelta(hours=6)
    assert "Mia" in task.title


async def test_a_complaint_gets_the_five_step_recovery_and_a_check_back(org: Org) -> None:
    await identity.update_organization(org.id, {"contact_phone": "+14155550100"})
    c, _ = await _scene(org)
    slip = await _slip(org, c, None, kind="complaint", source="staff")
    before = datetime.now(UTC)
    await followups.follow_up_due(organization=org.id)
    (recovery,) = await _nudges(org, f"recovery:{slip.id}")
    body = recovery["body"]
    assert body.startswith("Mia, we are sorry")  # 1. apologise
    assert "This is Alpha Test." in body  # 2. who we are
    assert "contact you within 24 hours" in body  # 3. how we will handle it
    assert "We will check back with you on " in body  # 4. the follow-up
    assert recovery["kind"] == "recovery"
    (check_back,) = await _nudges(org, f"check-back:{slip.id}")  # 5. follow through
    assert check_back["due_at"] - before >= timedelta(days=3) - timedelta(minutes=1)
    assert "+14155550100" in check_back["body"]
    (task,) = await _tasks(org)
    assert task.reason == "complaint"


async def test_role_clarity_sends_guidance_and_forgetfulness_an_extra_reminder(org: Org) -> None:
    c, steps = await _scene(org)
    await _slip(org, c, "unsure", steps[-1])
    await _slip(org, c, "forgot", steps[-2])
    now = datetime.now(UTC)
    await followups.follow_up_due(organization=org.id)
    (guidance,) = await _nudges(org, "guidance:%")
    assert "Take one tablet with breakfast." in guidance["body"]
    assert "Swallow it whole." in guidance["body"]
    (reminder,) = await _nudges(org, "extra-reminder:%")
    step = await Step.objects().where(Step.id == reminder["step"]).first()
    assert step is not None and step.status == "pending" and step.due_at > now
    assert reminder["kind"] == "reminder"
    assert reminder["due_at"] == max(reminder["created_at"], step.due_at - timedelta(hours=2))


async def test_a_follow_up_is_sent_with_the_text_it_was_written_with(org: Org) -> None:
    _c, steps = await _scene(org)
    await followups.follow_up_due(organization=org.id)
    await Nudge.update({Nudge.status: "cancelled"}).where(
        (Nudge.organization == org.id) & (Nudge.dedupe_key != f"why:{steps[-1].id}")
    )
    (nudge_id,) = await dispatch.claim_due(now=datetime.now(UTC), organization=org.id)
    outbox = OutboxChannel("sms")
    channels = Channels(outbox, OutboxChannel("email"))
    assert await delivery.deliver(nudge_id, channels, delivery_settings()) == "sent"
    row = await Nudge.objects().where(Nudge.id == nudge_id).first()
    assert row is not None and row.body is not None and "1. I forgot" in row.body


async def test_imported_and_voided_slips_are_not_followed_up(org: Org) -> None:
    c, _ = await _scene(org)
    await followups.follow_up_due(organization=org.id)
    await _slip(org, c, "cannot", source="import")
    assert await followups.follow_up_due(organization=org.id) == []
    assert await _tasks(org) == []


async def test_one_organisations_failure_does_not_stop_another(org: Org, other_org: Org) -> None:
    c, _ = await _scene(org)
    theirs, _ = await _scene(other_org)
    await _slip(other_org, theirs, "cost")
    # The first organisation's customer table row is made unreadable for this job: its
    # timezone is not a zone, so building its messages fails.
    from journeys.tables import Customer

    await Customer.update({Customer.timezone: "Not/AZone"}).where(Customer.id == c.id)
    # One run over both organisations, as the scheduler runs it over all of them.
    await followups.follow_up_due(organizations=[org.id, other_org.id])
    assert [t.reason for t in await _tasks(other_org)] == ["financial"]
    assert await FollowUp.count().where(FollowUp.organization == org.id) == 0
    assert org.id in followups.BAD_ORGANIZATIONS.active()


async def test_a_holdout_customer_is_asked_nothing_but_it_is_recorded(org: Org) -> None:
    await journeys.load_journey(org.tenant, COACH)
    c = await sms_customer(org)
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    await enrollments.enroll(
        org.tenant, c.id, "coach", {"start": start}, holdout=True, backfill=True
    )
    await missed.detect_missed(organization=org.id)
    await followups.follow_up_due(organization=org.id)
    asked = await _nudges(org, "why:%")
    assert asked and {(r["status"], r["reason"]) for r in asked} == {("suppressed", "holdout")}
