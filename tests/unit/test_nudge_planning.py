"""Planning messages with their steps: every message planned once, in time, none for a
holdout, and nothing planned in the past."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coaching.outbox import NUDGE_COLUMNS, plans_of
from journeys.definition import JourneyDefinition
from journeys.enrollments import jobs, planning
from journeys.schedule import apply_offset, last_due, lead_of, occurrences
from tests.factories import ZONES, journey, schedules

NY = ZoneInfo("America/New_York")


@st.composite
def nudge_lists(draw: st.DrawFn) -> list[dict[str, str]]:
    out = []
    for _ in range(draw(st.integers(1, 3))):
        sign = draw(st.sampled_from(["-", "+"]))
        amount = draw(st.integers(0, 10))
        unit = draw(st.sampled_from(["m", "h", "d", "w"]))
        at = "due" if amount == 0 else f"due {sign} {amount}{unit}"
        out.append({"at": at, "channel": draw(st.sampled_from(["sms", "email"])), "template": "t"})
    return out


def expected(
    defn: JourneyDefinition, anchors: dict[str, datetime], tz: ZoneInfo, enrolled: datetime
) -> tuple[set[Any], set[Any], int]:
    """Independently of the horizon: the steps due from enrollment on, their messages not
    in the past, and how many messages were already past."""
    steps, messages, past = set(), set(), 0
    for o in occurrences(defn, anchors, tz):
        if o.due_at < enrolled:
            continue
        key = (o.behaviour, o.nth, o.due_at)
        steps.add(key)
        b = defn.behaviour(o.behaviour)
        assert b is not None
        for p in plans_of(b):
            at = apply_offset(p.offset, o.due_at, tz)
            if at < enrolled:
                past += 1
            else:
                messages.add((key, p.position, at))
    return steps, messages, past


def run_rolling(
    defn: JourneyDefinition,
    anchors: dict[str, datetime],
    tz: ZoneInfo,
    enrolled: datetime,
    horizon: timedelta,
    ticks: list[timedelta],
) -> planning.Planned:
    """What enrolling and then the scheduler at the given tick intervals would write (the
    job's own planning functions, without the database)."""
    facts = planning.step_facts(defn)
    ids = (uuid4(), uuid4(), uuid4())
    ends_at = last_due(defn, anchors, tz)
    planned = planning.Planned()
    end = enrolled + horizon
    upcoming = planning.plan(
        planned, ids, defn, facts, (None, end), anchors, tz, False, enrolled, due_from=enrolled
    )
    mark = planning.horizon_after(end, upcoming, ends_at)
    now = enrolled
    tick = iter(ticks)
    while mark <= ends_at:
        now += next(tick, horizon / 2)
        if mark < now + horizon:
            target = now + jobs.REFILL_HORIZONS * horizon
            window = (mark, target)
            upcoming = planning.plan(planned, ids, defn, facts, window, anchors, tz, False, now)
            mark = planning.horizon_after(target, upcoming, ends_at)
    return planned


def written(planned: planning.Planned) -> tuple[list[Any], list[Any]]:
    keys = {s[0]: (s[4], s[5], s[6]) for s in planned.steps}
    step, position, due = (NUDGE_COLUMNS.index(c) for c in ("step", "position", "due_at"))
    return list(keys.values()), [(keys[n[step]], n[position], n[due]) for n in planned.nudges]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=schedules(),
    nudges=nudge_lists(),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)
    ),
    enrolled_before=st.integers(-24 * 20, 24 * 20),
    horizon_hours=st.integers(6, 24 * 4),
    ticks=st.lists(st.floats(0.05, 1.0), max_size=60),
)
def test_rolling_plan_writes_each_message_once_and_before_its_time(
    schedule: dict[str, object],
    nudges: list[dict[str, str]],
    zone: str,
    start: datetime,
    enrolled_before: int,
    horizon_hours: int,
    ticks: list[float],
) -> None:
    tz = ZoneInfo(zone)
    defn = journey(schedule, nudges)
    anchors = {"start": start, "appointment": start + timedelta(days=10)}
    enrolled = start - timedelta(hours=enrolled_before)
    horizon = timedelta(hours=horizon_hours)
    # The scheduler may tick at any interval up to the horizon less a margin for the hour
    # (two, in a zone with a 2-hour DST shift) that a local-day offset can differ by.
    margin = timedelta(hours=3)
    intervals = [(horizon - margin) * f for f in ticks]
    planned = run_rolling(defn, anchors, tz, enrolled, horizon, intervals)
    steps, messages = written(planned)
    want_steps, want_messages, past = expected(defn, anchors, tz, enrolled)
    assert len(steps) == len(set(steps)) and set(steps) == want_steps
    assert len(messages) == len(set(messages)) and set(messages) == want_messages
    # Only messages already past at enrollment are skipped: the scheduler is never late.
    assert planned.nudges_skipped == past


def test_lead_is_the_earliest_message_before_the_due_time() -> None:
    defn = journey(
        {"once": "appointment"},
        [
            {"at": "due - 1d", "channel": "sms", "template": "t"},
            {"at": "due - 30h", "channel": "email", "template": "t"},
            {"at": "due + 2h", "channel": "sms", "template": "t"},
        ],
    )
    # 30 h elapsed is less than a local day plus the DST hour.
    assert lead_of(defn.behaviours[0]) == timedelta(hours=25) + timedelta(hours=5)
    late_only = journey(
        {"once": "appointment"}, [{"at": "due+2h", "channel": "sms", "template": "t"}]
    )
    assert lead_of(late_only.behaviours[0]) == timedelta()


def test_kinds_and_holdout() -> None:
    defn = journey(
        {"every": "1d", "at": "08:00", "from": "start", "for": "3d"},
        [
            {"at": "due", "channel": "sms", "template": "t"},
            {"at": "due + 2h", "channel": "sms", "template": "t", "unless": "confirmed"},
        ],
    )
    assert [(p.kind, p.unless_confirmed) for p in plans_of(defn.behaviours[0])] == [
        ("reminder", False),
        ("follow_up", True),
    ]
    start = datetime(2026, 3, 7, 12, tzinfo=UTC)
    facts = planning.step_facts(defn)
    window = (None, start + timedelta(days=5))
    args = (defn, facts, window, {"start": start, "appointment": start}, NY)
    plain, holdout = planning.Planned(), planning.Planned()
    planning.plan(plain, (uuid4(), uuid4(), uuid4()), *args, False, start)
    planning.plan(holdout, (uuid4(), uuid4(), uuid4()), *args, True, start)
    assert len(plain.steps) == len(holdout.steps) == 3
    # A holdout's messages are planned alike but recorded as suppressed, never scheduled.
    status, reason, due = (NUDGE_COLUMNS.index(c) for c in ("status", "reason", "due_at"))
    assert len(plain.nudges) == len(holdout.nudges) == 6
    assert {(n[status], n[reason]) for n in plain.nudges} == {("scheduled", None)}
    assert {(n[status], n[reason]) for n in holdout.nudges} == {("suppressed", "holdout")}
    # 08:00 local on both sides of the spring-forward night, the follow-up 2 h later.
    local = [n[due].astimezone(NY).strftime("%d %H:%M") for n in plain.nudges]
    assert local == ["07 08:00", "07 10:00", "08 08:00", "08 10:00", "09 08:00", "09 10:00"]
