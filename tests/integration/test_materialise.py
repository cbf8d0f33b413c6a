"""The rolling-horizon job: what exists ahead of now, batches that run side by side, and a
step that is already there when a refill comes to write it."""

from __future__ import annotations

import asyncio
import contextvars
from datetime import UTC, datetime, timedelta
from typing import Any

from core.db import insert_rows
from core.ids import new_id
from journeys import services
from journeys.enrollments import jobs, planning
from journeys.enrollments import services as enrollments
from journeys.schedule import occurrences
from journeys.tables import Enrollment, Step
from slips import validation, writes
from tests.conftest import Org
from tests.factories import JOURNEY, customer

# A month ahead of whatever today is, at noon UTC.
START = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0) + timedelta(days=30)


async def _enrolled(org: Org, count: int, tz: str = "America/New_York") -> list[Enrollment]:
    await services.load_journey(org.tenant, JOURNEY)
    out = []
    for _ in range(count):
        c = await customer(org, tz)
        done = await enrollments.enroll(org.tenant, c.id, "tenancy-check", {}, now=START)
        out.append(done.enrollment)
    return out


async def _due_times(enrollment: Enrollment) -> list[datetime]:
    rows = await Step.select(Step.due_at).where(Step.enrollment == enrollment.id)
    return sorted(r["due_at"] for r in rows)


async def test_every_step_within_the_horizon_exists_after_each_run(org: Org) -> None:
    (enrollment,) = await _enrolled(org, 1)
    _, _, definition = await services.current_definition(org.tenant, "tenancy-check")
    anchors = {"start": START}
    tz = __import__("zoneinfo").ZoneInfo(enrollment.timezone)
    whole = [o.due_at for o in occurrences(definition, anchors, tz)]
    horizon = planning.horizon()
    for hours in range(0, 32 * 24, 7):  # an irregular tick, past the journey's end
        now = START + timedelta(hours=hours)
        await jobs.materialise_due(now=now, organization=org.id)
        stored = await _due_times(enrollment)
        wanted = [d for d in whole if d < now + horizon]
        assert stored[: len(wanted)] == wanted, f"missing steps at {now}"
        # ...and nothing is written much further than the refill band reaches.
        reach = jobs.REFILL_HORIZONS * horizon + timedelta(days=1)
        assert all(d < now + reach for d in stored)
    assert await _due_times(enrollment) == whole


async def test_parallel_batches_and_rival_schedulers_write_each_step_once(org: Org) -> None:
    rows = await _enrolled(org, 12, "Asia/Tokyo")
    # A batch of 5 at a time, two batches per call, and two schedulers calling together.
    for day in range(0, 34):
        now = START + timedelta(days=day)
        await asyncio.gather(
            jobs.materialise_due(now=now, limit=5, organization=org.id),
            jobs.materialise_due(now=now, limit=5, organization=org.id),
        )
    while await jobs.materialise_due(now=START + timedelta(days=40), limit=5, organization=org.id):
        pass
    for enrollment in rows:
        steps = await Step.select(Step.occurrence).where(Step.enrollment == enrollment.id)
        assert sorted(s["occurrence"] for s in steps) == list(range(30))


async def test_a_step_already_written_is_skipped_not_fatal(org: Org, monkeypatch: Any) -> None:
    (enrollment,) = await _enrolled(org, 1, "Europe/London")
    stored = await Step.select().where(Step.enrollment == enrollment.id).order_by(Step.due_at)
    last = stored[-1]
    # Someone (an older scheduler, a manual repair) already wrote the next occurrence,
    # beyond the enrollment's mark: the fast path's COPY would hit the unique index.
    extra = (
        new_id(), org.id, enrollment.id, last["customer"], last["behaviour"],
        last["occurrence"] + 1, last["due_at"] + timedelta(days=1),
        last["grace_until"] + timedelta(days=1), True, "pending", datetime.now(UTC),
    )  # fmt: skip
    await insert_rows("step", planning.STEP_COLUMNS, planning.PG_TYPES, [extra])
    conflict_safe = []
    original = planning._insert_steps

    async def counted(rows: list[Any]) -> set[str]:
        conflict_safe.append(len(rows))
        return await original(rows)

    monkeypatch.setattr(planning, "_insert_steps", counted)
    written = await jobs.materialise_due(now=START + timedelta(days=2), organization=org.id)
    assert written >= 1
    # The batch was (re)done with ON CONFLICT DO NOTHING (on PostgreSQL after COPY met the
    # unique index; SQLite always writes that way), and the existing step is not counted.
    assert conflict_safe == [written + 1]
    occurrences_now = [
        s["occurrence"]
        for s in await Step.select(Step.occurrence)
        .where(Step.enrollment == enrollment.id)
        .order_by(Step.occurrence)
    ]
    assert occurrences_now == list(range(len(occurrences_now)))
    assert len(occurrences_now) >= last["occurrence"] + 3


async def test_a_claimed_enrollment_still_takes_slips(org: Org) -> None:
    """The job's claim must not make writes that reference the enrollment wait for the
    batch (PostgreSQL; on SQLite every write queues behind the one writer anyway)."""
    import pytest
    from piccolo.engine.postgres import PostgresEngine

    from core.db import engine, write_transaction

    if not isinstance(engine(), PostgresEngine):
        pytest.skip("row locks are a PostgreSQL matter")
    (enrollment,) = await _enrolled(org, 1)
    later = START + timedelta(days=2)
    async with write_transaction():
        claimed = await jobs._claim_due(later + planning.horizon(), 10, org.id)
        assert [row["id"] for row in claimed] == [enrollment.id]
        # Another connection logs a slip on that enrollment while the claim is held.
        item = validation.SlipInput("tenancy-check", "check-in", enrollment_id=enrollment.id)
        # (A fresh context: the task must not inherit this transaction's connection.)
        outside = asyncio.create_task(
            writes.record_slip(org.tenant, item, validation.Reporter()),
            context=contextvars.Context(),
        )
        slip = await asyncio.wait_for(outside, 5)
    assert slip.enrollment == enrollment.id
