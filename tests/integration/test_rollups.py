"""Day rollups (dashboards.rollups): every ranking read equals the raw aggregate, before
and after folds, after inserts, corrections that move a slip to another day, voids,
cancelled steps and two folds at once; and the rollup rows themselves equal the raw
per-day counts. Times are relative to now; each test has its own organisation and folds
only that one.
"""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core import clock
from core.db import run_sql
from dashboards import queries, rollups, services
from dashboards.queries import EXPOSED_STATUSES, Filters, Window
from journeys import services as journeys
from journeys.enrollments import services as enrollments
from journeys.tables import Enrollment, Step
from slips import corrections, validation
from tests.conftest import Org, make_org
from tests.factories import DASH_DOSE, DASH_WALK_IN, customer, dashboard_scene, log_slip, run

FILTERS = [
    Filters(),
    Filters(journey="dash-dose"),
    Filters(site="north"),
    Filters(stage="post_encounter"),
]
MANAGER = validation.Reporter()


@pytest.fixture(autouse=True)
def no_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the commit allowance, rows written before a fold are read from rollups at
    once (with it, everything a test just wrote would still be read raw)."""
    monkeypatch.setattr(rollups, "LAG", timedelta(0))


def windows() -> list[Window]:
    now = clock.now()
    midnight = datetime(now.year, now.month, now.day, tzinfo=UTC)
    return [
        Window(now - timedelta(days=30), now),  # the API's default
        Window(now - timedelta(days=7), now),
        Window(midnight - timedelta(days=45), midnight - timedelta(days=5)),  # whole days
        Window(now - timedelta(days=60, hours=5), now - timedelta(days=2, minutes=7)),
        Window(now - timedelta(hours=20), now + timedelta(days=3)),  # less than a day
        Window(now - timedelta(days=366), now),
    ]


async def assert_reads_equal_raw(org: Org) -> None:
    """Rollups + raw tail against raw rows only: per-source totals (count, customers,
    severity, system-detected) and exposure, for every window and filter; and the
    ranking built on both (this window and the previous one)."""
    for window in windows():
        for filters in FILTERS:
            fast = await rollups.ranking_facts(org.tenant, window, filters)
            raw = await queries.facts(org.tenant, window, filters)
            assert fast.totals == raw.totals, (window, filters)
            assert {k: sum(v.values()) for k, v in fast.steps.items()} == {
                k: n for k, v in raw.steps.items() if (n := sum(v.values()))
            }, (window, filters)
            assert fast.enrollments == raw.enrollments
    window = windows()[0]
    ranked = await services.ranking(org.tenant, window, Filters())
    current = await queries.facts(org.tenant, window, Filters())
    previous = await queries.facts(org.tenant, window.previous(), Filters())
    journeys_ = await queries.journeys(org.tenant)
    config = await queries.action_priority_config(org.tenant)
    expected = services.rank(current, previous, journeys_, config)
    assert ranked.items == expected
    assert ranked.total == sum(t.count for t in current.totals.values())


async def assert_rollups_exact(org: Org) -> None:
    """After a fold, each rollup row set equals its day's raw aggregate, for every day."""
    await rollups.fold_organization(org.id)
    day = rollups.day_sql
    slips = await run_sql(
        f"SELECT {day('occurred_at')} AS day, journey, behaviour, failure_mode, stage, site,"
        " count(*) AS n, sum(severity) AS sev FROM slip WHERE organization = {}"
        " AND voided_at IS NULL GROUP BY 1, 2, 3, 4, 5, 6",
        org.id,
    )
    rolled = await run_sql(
        "SELECT day, journey, behaviour, failure_mode, stage, site, slips AS n,"
        " severity_sum AS sev FROM slip_day_rollup WHERE organization = {}",
        org.id,
    )
    assert _rows(rolled) == _rows(slips)
    statuses = ", ".join(f"'{s}'" for s in EXPOSED_STATUSES)
    steps = await run_sql(
        f"SELECT {day('st.due_at')} AS day, e.journey AS journey, st.behaviour AS behaviour,"
        " count(*) AS n FROM step st JOIN enrollment e ON e.id = st.enrollment"
        f" WHERE st.organization = {{}} AND st.status IN ({statuses}) GROUP BY 1, 2, 3",
        org.id,
    )
    rolled = await run_sql(
        "SELECT day, journey, behaviour, steps AS n FROM step_day_rollup WHERE organization = {}",
        org.id,
    )
    assert _rows(rolled) == _rows(steps)
    # each block rollup row is the raw aggregate of its block's days
    blocked = await run_sql(
        "SELECT day, journey, behaviour, failure_mode, stage, site, slips AS n,"
        " severity_sum AS sev FROM slip_block_rollup WHERE organization = {}",
        org.id,
    )
    assert _rows(blocked) == _by_block(slips, counts=2)
    blocked = await run_sql(
        "SELECT day, journey, behaviour, steps AS n FROM step_block_rollup WHERE organization = {}",
        org.id,
    )
    assert _rows(blocked) == _by_block(steps, counts=1)


def _by_block(day_rows: list[Any], counts: int) -> Counter[tuple[Any, ...]]:
    """Raw per-day rows (day, keys..., counts...) summed per block of days, the block
    named by its first day; the last ``counts`` columns are summed."""
    sums: dict[tuple[Any, ...], list[int]] = {}
    for r in day_rows:
        day, *rest = dict(r).values()
        key = (day - day % rollups.BLOCK_DAYS, *rest[:-counts])
        got = sums.setdefault(key, [0] * counts)
        for i, v in enumerate(rest[-counts:]):
            got[i] += int(v)
    return Counter(tuple(str(v) for v in (*k, *v)) for k, v in sums.items())


def _rows(rows: list[Any]) -> Counter[tuple[Any, ...]]:
    return Counter(tuple(str(v) for v in dict(r).values()) for r in rows)


async def test_reads_equal_raw_before_and_after_folds(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rollups, "ANALYZE_AFTER", 1)  # and the statistics are refreshed
    await dashboard_scene(org)
    await assert_reads_equal_raw(org)  # never folded: all raw
    assert await rollups.fold_organization(org.id) > 0
    assert await rollups.changed_days(org.id, await rollups.watermark(org.id)) == (
        set(),
        set(),
    )
    await assert_reads_equal_raw(org)
    await assert_rollups_exact(org)
    assert await rollups.fold_organization(org.id) == 0  # nothing changed since


async def test_reads_take_whole_days_from_rollups(org: Org) -> None:
    """A rollup row changed behind the job's back shows in the ranking: the read really
    uses them (for whole days before the watermark) and not the raw rows."""
    scene = await dashboard_scene(org)
    await rollups.fold_organization(org.id)
    window = Window(scene.window.since - timedelta(days=1), scene.window.until)
    before = await services.ranking(org.tenant, window, Filters())
    await run_sql(
        "UPDATE slip_day_rollup SET slips = slips + 100 WHERE organization = {} AND day = {}",
        org.id,
        rollups.day_of(scene.window.until) - 3,
    )
    after = await services.ranking(org.tenant, window, Filters())
    assert after.total == before.total + 100 * len(
        await run_sql(
            "SELECT id FROM slip_day_rollup WHERE organization = {} AND day = {}",
            org.id,
            rollups.day_of(scene.window.until) - 3,
        )
    )


async def test_reads_take_whole_blocks_from_block_rollups(org: Org) -> None:
    """In a long window, whole blocks of days are read from the block rollups: a block row
    changed behind the job's back shows in the facts; a day row of that block does not."""
    await dashboard_scene(org)
    now = clock.now()
    window = Window(now - timedelta(days=90), now)
    whole, _ = rollups.blocks(rollups.split(window, set())[0])
    block = whole[-1][1] - rollups.BLOCK_DAYS  # the last whole block before today
    await log_slip(org, "dash-dose", "take-dose", rollups.start_of(block + 8), "forgot")
    await rollups.fold_organization(org.id)

    async def counted() -> tuple[int, int]:
        facts = await rollups.ranking_facts(org.tenant, window, Filters())
        slips = sum(t.count for t in facts.totals.values())
        return slips, sum(n for per_day in facts.steps.values() for n in per_day.values())

    before = await counted()
    for table in ("slip_day_rollup", "step_day_rollup"):
        column = "slips" if table.startswith("slip") else "steps"
        await run_sql(
            f"UPDATE {table} SET {column} = {column} + 100 WHERE organization = {{}}"
            " AND day >= {} AND day < {}",
            org.id, block, block + rollups.BLOCK_DAYS,
        )  # fmt: skip
    assert await counted() == before
    rows = []
    for table in ("slip_block_rollup", "step_block_rollup"):
        column = "slips" if table.startswith("slip") else "steps"
        await run_sql(
            f"UPDATE {table} SET {column} = {column} + 100 WHERE organization = {{}}"
            " AND day = {}",
            org.id, block,
        )  # fmt: skip
        rows.append(
            len(await run_sql(f"SELECT id FROM {table} WHERE organization = {{}} AND day = {{}}",
                              org.id, block))
        )  # fmt: skip
    assert rows[0] >= 1 and rows[1] >= 1
    assert await counted() == (before[0] + 100 * rows[0], before[1] + 100 * rows[1])


async def test_changes_after_a_fold_are_read_raw_then_folded(org: Org) -> None:
    await dashboard_scene(org)
    tenant = org.tenant
    await rollups.fold_organization(org.id)
    now = clock.now()
    # a new slip on an old day, a slip moved 20 days back, one voided, a correction of
    # its behaviour only, an enrollment cancelled, a step done
    who = await customer(org, tz="UTC")
    await log_slip(org, "dash-dose", "take-dose", now - timedelta(days=12), "forgot", who)
    slips, _ = await corrections.list_slips(tenant, corrections.SlipFilter(), None, 50)
    moved, voided, changed = slips[0], slips[1], slips[2]
    await corrections.correct_slip(
        tenant, moved.id, {"occurred_at": now - timedelta(days=20, hours=2)}, MANAGER, True
    )
    await corrections.void_slip(tenant, voided.id, "test", MANAGER, True)
    await corrections.correct_slip(
        tenant, changed.id, {"behaviour": "bring-card", "failure_mode": None}, MANAGER, True
    )
    enrollment = await tenant.select(Enrollment, Enrollment.id).first()
    assert enrollment is not None
    await enrollments.cancel_enrollment(tenant, enrollment["id"])
    await assert_reads_equal_raw(org)
    slip_days, step_days = await rollups.changed_days(org.id, await rollups.watermark(org.id))
    assert rollups.day_of(moved.occurred_at) in slip_days  # the day it left
    assert rollups.day_of(now - timedelta(days=20, hours=2)) in slip_days
    assert step_days
    await rollups.fold_organization(org.id)
    await assert_reads_equal_raw(org)
    await assert_rollups_exact(org)


async def test_two_folds_at_once(org: Org) -> None:
    await dashboard_scene(org)
    await asyncio.gather(rollups.fold_organization(org.id), rollups.fold_organization(org.id))
    await assert_reads_equal_raw(org)
    await log_slip(org, "dash-walkin", "sign-in", clock.now() - timedelta(days=3), site="north")
    await asyncio.gather(*(rollups.fold_organization(org.id) for _ in range(3)))
    await assert_reads_equal_raw(org)
    await assert_rollups_exact(org)


async def test_one_organisation_failing_does_not_stop_another(
    org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    other = await make_org("rollup")
    await dashboard_scene(org)
    await dashboard_scene(other)
    real = rollups.fold_organization

    async def flaky(org_id: UUID) -> int:
        if org_id == org.id:
            raise RuntimeError("broken")
        return await real(org_id)

    monkeypatch.setattr(rollups, "fold_organization", flaky)
    try:
        await rollups.fold_changes()
        assert org.id in rollups.BAD_ORGANIZATIONS.active()
        assert await rollups.watermark(other.id) > rollups.NEVER
        assert await rollups.watermark(org.id) == rollups.NEVER
    finally:
        rollups.BAD_ORGANIZATIONS.clear()
    await assert_reads_equal_raw(other)


def test_split_covers_the_window_once() -> None:
    """Folded whole days and raw spans partition the window, for any edges and changes."""
    rng = random.Random(7)
    base = datetime(2026, 3, 1, tzinfo=UTC)
    for _ in range(300):
        since = base + timedelta(minutes=rng.randrange(0, 60 * 24 * 10))
        until = since + timedelta(minutes=rng.randrange(1, 60 * 24 * 40))
        changed = {rollups.day_of(since) + rng.randrange(-2, 45) for _ in range(rng.randrange(4))}
        folded, raw = rollups.split(Window(since, until), changed)
        spans = sorted([(rollups.start_of(a), rollups.start_of(b)) for a, b in folded] + raw)
        assert spans[0][0] == since and spans[-1][1] == until
        assert all(a[1] == b[0] for a, b in itertools.pairwise(spans))
        assert not changed & {d for a, b in folded for d in range(a, b)}


@given(runs=st.lists(st.tuples(st.integers(-40, 400), st.integers(1, 60)), max_size=6))
def test_blocks_partition_runs_of_days(runs: list[tuple[int, int]]) -> None:
    """Whole blocks and the days left over hold each day of the runs once; every block is
    aligned and whole, and no whole block is left among the leftover days."""
    days = {d for a, n in runs for d in range(a, a + n)}
    merged = rollups.ranges(days)
    whole, rest = rollups.blocks(merged)
    whole_days = [d for a, b in whole for d in range(a, b)]
    rest_days = [d for a, b in rest for d in range(a, b)]
    assert sorted(whole_days + rest_days) == sorted(days)
    size = rollups.BLOCK_DAYS
    assert all(a % size == 0 and b % size == 0 and a < b for a, b in whole)
    assert not any(
        set(range(b, b + size)) <= set(rest_days) for b in {d - d % size for d in rest_days}
    )


OPS = ["insert", "move", "void", "cancel", "done", "fold", "two folds"]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    ops=st.lists(st.tuples(st.sampled_from(OPS), st.integers(0, 2**32)), min_size=1, max_size=10)
)
async def test_random_operations_keep_reads_exact(ops: list[tuple[str, int]]) -> None:
    """Sequences of inserts, corrections that move a slip, voids, cancelled enrollments,
    completed steps and (sometimes concurrent) folds: after each operation every read
    equals the raw aggregate, and at the end every rollup row its day's."""
    org = await make_org("rollrand")
    tenant = org.tenant
    await journeys.load_journey(tenant, DASH_DOSE)
    await journeys.load_journey(tenant, DASH_WALK_IN)
    people = [await customer(org, tz="UTC") for _ in range(3)]
    start = (clock.now() - timedelta(days=40)).isoformat()
    for who in people:
        await enrollments.enroll(tenant, who.id, "dash-dose", {"start": start}, backfill=True)
    slip_ids: list[UUID] = []
    for op, seed in ops:
        rng = random.Random(seed)
        now = clock.now()
        if op == "insert" or (not slip_ids and op in ("move", "void")):
            at = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 70))
            behaviour, mode = rng.choice(
                [("take-dose", "forgot"), ("take-dose", "ran-out"), ("bring-card", None)]
            )
            slip = await log_slip(
                org,
                "dash-dose",
                behaviour,
                at,
                mode,
                rng.choice([*people, None]),
                source=rng.choice(["staff", "system"]),
                site=rng.choice(["north", None]),
            )
            slip_ids.append(slip.id)
        elif op == "move":
            at = now - timedelta(minutes=rng.randrange(1, 60 * 24 * 70))
            target = rng.choice(slip_ids)
            if (await corrections.get_slip(tenant, target)).voided_at is None:
                await corrections.correct_slip(tenant, target, {"occurred_at": at}, MANAGER, True)
        elif op == "void":
            await corrections.void_slip(tenant, rng.choice(slip_ids), "test", MANAGER, True)
        elif op == "cancel":
            found = await tenant.select(Enrollment, Enrollment.id)
            await enrollments.cancel_enrollment(tenant, rng.choice(found)["id"])
        elif op == "done":
            open_steps = await tenant.select(Step, Step.id).where(
                Step.status.is_in(["pending", "missed"])
            )
            if open_steps:
                await enrollments.complete_step(tenant, rng.choice(open_steps)["id"], "test")
        elif op == "fold":
            await rollups.fold_organization(org.id)
        else:
            await asyncio.gather(
                rollups.fold_organization(org.id), rollups.fold_organization(org.id)
            )
        await assert_reads_equal_raw(org)
    await assert_rollups_exact(org)
    await assert_reads_equal_raw(org)


async def test_fold_command(org: Org, cli_env: dict[str, str]) -> None:
    """``slipguard fold-rollups`` folds now (as after a bulk load); reads stay exact."""
    await dashboard_scene(org)
    done = await asyncio.to_thread(run, "fold-rollups", env=cli_env)
    assert done.returncode == 0, done.stderr
    assert "recounted" in done.stdout
    assert await rollups.watermark(org.id) > rollups.NEVER
    await assert_reads_equal_raw(org)


@pytest.mark.parametrize(
    "moment",
    [
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 1, tzinfo=UTC) - timedelta(microseconds=1),
        datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 0, tzinfo=UTC),
        datetime(1900, 1, 1, 0, 0, 1, tzinfo=UTC),
    ],
)
async def test_day_sql_agrees_with_day_of(moment: datetime) -> None:
    """The database's day of a stored instant is Python's, at midnight and before 1970."""
    value = "CAST({} AS timestamptz)" if queries.is_postgres() else "{}"
    rows = await run_sql(
        f"SELECT {rollups.day_sql('x')} AS day FROM (SELECT {value} AS x) t", moment
    )
    assert int(rows[0]["day"]) == rollups.day_of(moment)


def test_the_fold_is_a_scheduler_job() -> None:
    """Registered through coaching's seam (coaching never imports dashboards)."""
    from coaching import scheduler

    assert rollups.fold_day_rollups in scheduler.JOBS
