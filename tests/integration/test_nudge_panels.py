"""The nudge panels on a hand-built outbox: nudged against holdout (Wilson intervals and
Newcombe's interval for the difference, written out here from their formulas), time to
confirm, statuses, failures, opt-outs, messages per customer, lateness, queue depth, the
delivery standard; the pages, their JSON and CSV, and another organisation's view."""

from __future__ import annotations

import csv
import io
import math
from datetime import timedelta
from typing import Any

import pytest

from coaching.tables import Nudge
from core import clock
from dashboards import nudge_panels, panel_exports, services
from dashboards.queries import Window
from journeys import services as journeys
from journeys.enrollments import services as enrollments
from journeys.tables import ConsentRecord, Step
from tests.conftest import Org, make_org
from tests.factories import DASH_DOSE, customer, log_slip
from tests.integration.test_dashboards import login

Z = 1.959963984540054


def wilson(k: int, n: int) -> tuple[float, float]:
    p = k / n
    centre = (2 * n * p + Z * Z) / (2 * (n + Z * Z))
    half = Z * math.sqrt(Z * Z + 4 * n * p * (1 - p)) / (2 * (n + Z * Z))
    return centre - half, centre + half


def newcombe(k1: int, n1: int, k2: int, n2: int) -> tuple[float, float]:
    (l1, u1), (l2, u2) = wilson(k1, n1), wilson(k2, n2)
    p1, p2 = k1 / n1, k2 / n2
    return (
        p1 - p2 - math.hypot(p1 - l1, u2 - p2),
        p1 - p2 + math.hypot(u1 - p1, p2 - l2),
    )


async def _steps(org: Org, enrollment: Any, window: Window) -> list[Any]:
    return await (
        Step.objects()
        .where(
            (Step.enrollment == enrollment)
            & (Step.due_at >= window.since)
            & (Step.due_at < window.until)
        )
        .order_by(Step.due_at)
    )


async def _nudge(org: Org, step: Any, status: str, sent_late: float | None, **extra: Any) -> None:
    """A message for ``step``: sent ``sent_late`` seconds after its planned time."""
    due = extra.pop("due_at", step.due_at)
    row = org.tenant.new(
        Nudge,
        enrollment=step.enrollment,
        customer=step.customer,
        step=step.id,
        kind="reminder",
        channel="sms",
        template="t",
        due_at=due,
        send_after=due,
        status=status,
        sent_at=due + timedelta(seconds=sent_late) if sent_late is not None else None,
        **extra,
    )
    await row.save()


async def outbox_scene(org: Org) -> Window:
    """A and B nudged, C and D holdout, on the daily dose journey for 20 days; the last 7
    days: A confirms every step, B none, C two, D none; A, C and D slip once each."""
    tenant = org.tenant
    await journeys.load_journey(tenant, DASH_DOSE)
    start = (clock.now() - timedelta(days=20)).isoformat()
    people = [await customer(org, tz="UTC") for _ in range(4)]
    enrolled = [
        await enrollments.enroll(tenant, p.id, "dash-dose", {"start": start}, holdout=i >= 2,
                                 backfill=True)
        for i, p in enumerate(people)
    ]  # fmt: skip
    t0 = clock.now()
    window = Window(t0 - timedelta(days=7), t0)
    a, b, c, d = [await _steps(org, e.enrollment.id, window) for e in enrolled]
    assert [len(s) for s in (a, b, c, d)] == [7] * 4
    for steps, done in ((a, 7), (b, 0), (c, 2), (d, 0)):
        for i, step in enumerate(steps):
            status = "done" if i < done else "missed"
            at = step.due_at + timedelta(hours=1) if status == "done" else None
            await Step.update({Step.status: status, Step.completed_at: at}).where(
                Step.id == step.id
            )
    # A's first three steps: a message sent 60, 120 and 600 s late, confirmed 10, 30 and
    # 50 minutes after it was sent
    for step, late, minutes in zip(a, (60, 120, 600), (10, 30, 50), strict=False):
        sent = step.due_at + timedelta(hours=1, minutes=-minutes)
        await _nudge(org, step, "delivered", late, due_at=sent - timedelta(seconds=late))
    await _nudge(org, b[0], "sent", 0)
    await _nudge(org, b[1], "failed", None, error_code="30006")
    await _nudge(org, b[2], "scheduled", None, due_at=t0 - timedelta(hours=1))  # the queue
    for who in (people[0], people[2], people[3]):
        await log_slip(org, "dash-dose", "take-dose", t0 - timedelta(days=2), "forgot", who)
    await tenant.new(
        ConsentRecord, customer=people[0].id, channel="sms", purpose="informational",
        status="revoked", source="sms_keyword", recorded_at=t0 - timedelta(days=1),
    ).save()  # fmt: skip
    return window


async def test_the_staff_task_standard_judges_tasks_on_the_day_they_fell_due(org: Org) -> None:
    from coaching import tasks
    from coaching.tables import StaffTask
    from core.tables import Organization

    await Organization.update(
        {Organization.task_due_hours: 12, Organization.task_target_percent: 75}
    ).where(Organization.id == org.id)
    now = clock.now()
    opened = now - timedelta(days=3)

    async def task(name: str, closed_after_hours: float | None, hours: int = 12) -> None:
        made = await tasks.open_task(
            org.tenant, key=name, reason="ability", title=name, due_hours=hours, now=opened
        )
        if closed_after_hours is not None:
            await StaffTask.update(
                {StaffTask.status: "closed",
                 StaffTask.closed_at: opened + timedelta(hours=closed_after_hours)}
            ).where(StaffTask.id == made)  # fmt: skip

    await task("in time", 11)
    await task("late", 13)
    await task("still open", None)
    await task("not due yet", None, hours=24 * 5)
    tz = await services.organization_timezone(org.tenant)
    p = await nudge_panels.panels(org.tenant, Window(now - timedelta(days=30), now), None, tz)
    row = next(r for r in p.standards.rows if r.key == "tasks_in_time")
    assert row.title == "75% of staff tasks handled within 12 h" and row.target == 75
    assert (row.met, row.total) == (1, 3)
    assert row.measured == pytest.approx(100 / 3) and row.meets_target is False


@pytest.fixture
async def window(org: Org) -> Window:
    return await outbox_scene(org)


async def test_panels_match_the_hand_count(org: Org, window: Window) -> None:
    tz = await services.organization_timezone(org.tenant)
    p = await nudge_panels.panels(org.tenant, window, None, tz)
    [row] = p.effectiveness.rows
    assert row.journey == "dash-dose"
    assert (row.nudged.completed, row.nudged.settled) == (7, 14)
    assert (row.holdout.completed, row.holdout.settled) == (2, 14)
    assert (row.nudged.completion_low, row.nudged.completion_high) == pytest.approx(wilson(7, 14))
    assert (row.nudged.slipped, row.nudged.enrollments) == (1, 2)
    assert (row.holdout.slipped, row.holdout.enrollments) == (2, 2)
    assert (row.holdout.slip_low, row.holdout.slip_high) == pytest.approx(wilson(2, 2))
    assert row.completion_difference == pytest.approx(7 / 14 - 2 / 14)
    low, high = newcombe(7, 14, 2, 14)
    assert (row.completion_difference_low, row.completion_difference_high) == pytest.approx(
        (low, high)
    )
    assert row.slip_difference == pytest.approx(-0.5)
    assert row.confirmations_after_nudge == 3
    assert row.median_minutes_to_confirm == pytest.approx(30)
    o = p.operations
    counts = {(s.status, s.channel): s.count for s in o.statuses}
    assert counts == {("delivered", "sms"): 3, ("sent", "sms"): 1, ("failed", "sms"): 1,
                      ("scheduled", "sms"): 1}  # fmt: skip
    assert [(f.code, f.count) for f in o.failures] == [("30006", 1)]
    assert (o.opted_out, o.messaged_customers) == (1, 2)
    assert (o.opt_out_low, o.opt_out_high) == pytest.approx(wilson(1, 2))
    assert [(b.messages, b.customers) for b in o.fatigue] == [
        ("1-4", 2), ("5-9", 0), ("10-19", 0), ("20+", 0)
    ]  # fmt: skip
    assert o.customers_over_threshold == 0
    assert o.messages_sent == 4  # three delivered and one sent: 0, 60, 120, 600 s late
    assert (o.lateness_p50_seconds, o.lateness_p99_seconds) == pytest.approx((60, 600))
    assert o.queue_depth == 1
    standard = next(r for r in p.standards.rows if r.key == "nudges_delivered")
    assert (standard.met, standard.total) == (4, 5)
    assert standard.measured == pytest.approx(80) and standard.meets_target is False
    assert sum(standard.weekly_total) == 5


async def test_pages_json_csv_and_another_organisation(
    client: Any, org: Org, window: Window
) -> None:
    await login(client, org.users["manager"], org.password)
    try:
        page = await client.get("/dashboards/nudges")
        assert page.status_code == 200 and "Nudge effectiveness" in page.text
        data = (await client.get("/dashboards/nudges/data")).json()
        assert set(data["figures"]) == {
            "completion", "slips", "statuses", "failures", "fatigue", "standards"
        }  # fmt: skip
        eff = data["panels"]["effectiveness"]["rows"][0]
        assert data["figures"]["completion"]["data"][0]["y"] == [
            100 * eff["nudged"]["completion_rate"]
        ]
        for panel in panel_exports.NUDGE_PANELS:
            r = await client.get(f"/dashboards/nudges/export.csv?panel={panel}")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
            j = await client.get(f"/dashboards/nudges/data?panel={panel}")
            assert j.status_code == 200
        statuses = list(csv.reader(io.StringIO(
            (await client.get("/dashboards/nudges/export.csv?panel=statuses")).text
        )))  # fmt: skip
        plotted = data["figures"]["statuses"]["data"][0]
        assert [int(r[2]) for r in statuses[1:]] == plotted["y"]
        assert (await client.get("/dashboards/nudges/export.csv?panel=x")).status_code == 422
        other = await make_org("zeta")
        await login(client, other.users["manager"], other.password)
        texts = [(await client.get("/dashboards/nudges")).text]
        body = (await client.get("/dashboards/nudges/data")).json()
        assert body["panels"]["effectiveness"]["rows"] == []
        assert body["panels"]["operations"]["statuses"] == []
        assert body["panels"]["operations"]["queue_depth"] == 0
        for panel in panel_exports.NUDGE_PANELS:
            texts.append((await client.get(f"/dashboards/nudges/export.csv?panel={panel}")).text)
        for text in texts:
            assert "dash-dose" not in text and "30006" not in text
    finally:
        client.cookies.clear()
