"""Schedules in the customer's timezone: DST, gaps, overlaps, and the rolling horizon."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from journeys.definition import JourneyDefinition
from journeys.schedule import occurrences, resolve_local
from tests.factories import ZONES, journey, schedules

NY = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")


def local_times(defn: JourneyDefinition, start: datetime, tz: ZoneInfo) -> list[datetime]:
    return [
        o.due_at.astimezone(tz)
        for o in occurrences(defn, {"start": start, "appointment": start}, tz)
    ]


def test_daily_0800_stays_0800_local_across_spring_forward_and_fall_back() -> None:
    daily = journey({"every": "1d", "at": "08:00", "from": "start", "for": "300d"})
    for tz in (NY, LONDON):
        start = datetime(2026, 3, 1, 0, 0, tzinfo=UTC)
        times = local_times(daily, start, tz)
        assert len(times) == 300
        assert {(t.hour, t.minute) for t in times} == {(8, 0)}
        offsets = {t.utcoffset() for t in times}
        assert len(offsets) == 2, "the run crosses both spring-forward and fall-back"
        # one local day apart every time, even though two gaps are 23 h and 25 h
        days = [t.date() for t in times]
        assert all((b - a).days == 1 for a, b in itertools.pairwise(days))
        utc = [t.astimezone(UTC) for t in times]
        gaps = {(b - a) for a, b in itertools.pairwise(utc)}
        assert gaps == {timedelta(hours=24), timedelta(hours=23), timedelta(hours=25)}


def test_nonexistent_local_time_moves_forward_by_the_gap() -> None:
    # 2026-03-08: New York clocks jump from 02:00 to 03:00.
    due = resolve_local(datetime(2026, 3, 8).date(), datetime(2026, 1, 1, 2, 30).time(), NY)
    assert due.astimezone(NY).strftime("%H:%M %Z") == "03:30 EDT"
    schedule = journey({"every": "1d", "at": "02:30", "from": "start", "for": "3d"})
    times = local_times(schedule, datetime(2026, 3, 7, 0, 0, tzinfo=NY), NY)
    assert [t.strftime("%d %H:%M") for t in times] == ["07 02:30", "08 03:30", "09 02:30"]


def test_repeated_local_time_means_the_first_one() -> None:
    # 2026-11-01: New York clocks fall back from 02:00 to 01:00, so 01:30 happens twice.
    due = resolve_local(datetime(2026, 11, 1).date(), datetime(2026, 1, 1, 1, 30).time(), NY)
    assert due == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST


def test_day_offsets_keep_wall_clock_time_hour_offsets_are_elapsed() -> None:
    appointment = datetime(2026, 3, 9, 14, 0, tzinfo=UTC)  # 10:00 EDT, the day after the change
    before = journey({"once": "appointment - 3d"})
    (three_days,) = occurrences(before, {"start": appointment, "appointment": appointment}, NY)
    assert three_days.due_at.astimezone(NY).strftime("%d %H:%M %Z") == "06 10:00 EST"
    hours = journey({"once": "appointment - 72h"})
    (seventy_two,) = occurrences(hours, {"start": appointment, "appointment": appointment}, NY)
    assert seventy_two.due_at.astimezone(NY).strftime("%d %H:%M %Z") == "06 09:00 EST"
    at = journey({"once": "appointment - 1d", "at": "18:00"})
    (evening,) = occurrences(at, {"start": appointment, "appointment": appointment}, NY)
    assert evening.due_at.astimezone(NY).strftime("%d %H:%M") == "08 18:00"


def test_taper_daily_then_every_other_day_then_weekly() -> None:
    taper = journey(
        {
            "taper": [
                {"every": "1d", "for": "14d"},
                {"every": "2d", "for": "14d"},
                {"every": "1w", "for": "56d"},
            ],
            "at": "08:00",
            "from": "start",
        }
    )
    times = local_times(taper, datetime(2026, 1, 5, 7, 0, tzinfo=LONDON), LONDON)
    days = [(t.date() - times[0].date()).days for t in times]
    assert days == list(range(14)) + list(range(14, 28, 2)) + list(range(28, 84, 7))


def test_first_occurrence_is_the_first_at_time_not_before_the_anchor() -> None:
    daily = journey({"every": "1d", "at": "08:00", "from": "start", "for": "2d"})
    early = local_times(daily, datetime(2026, 6, 1, 7, 59, tzinfo=LONDON), LONDON)
    late = local_times(daily, datetime(2026, 6, 1, 8, 1, tzinfo=LONDON), LONDON)
    assert early[0].day == 1 and late[0].day == 2


# --- properties ----------------------------------------------------------------------------


def span(schedule: dict[str, object]) -> timedelta:
    """The declared length of a recurring schedule (an independent reading of the YAML)."""
    sizes = {
        "m": timedelta(minutes=1),
        "h": timedelta(hours=1),
        "d": timedelta(days=1),
        "w": timedelta(weeks=1),
    }
    phases = schedule.get("taper") or [{"for": schedule["for"]}]
    assert isinstance(phases, list)
    return sum((int(p["for"][:-1]) * sizes[p["for"][-1]] for p in phases), timedelta())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    schedule=schedules(),
    zone=st.sampled_from(ZONES),
    start=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2037, 1, 1), timezones=st.just(UTC)
    ),
    horizon_hours=st.integers(1, 24 * 9),
)
def test_rolling_horizon_equals_whole_schedule(
    schedule: dict[str, object], zone: str, start: datetime, horizon_hours: int
) -> None:
    tz = ZoneInfo(zone)
    defn = journey(schedule)
    anchors = {"start": start, "appointment": start + timedelta(days=10)}
    whole = list(occurrences(defn, anchors, tz))
    due = [o.due_at for o in whole]
    # strictly increasing, indexed 0..n-1, and never before the anchor they run from
    assert all(a < b for a, b in itertools.pairwise(due))
    assert [o.nth for o in whole] == list(range(len(whole)))
    if "once" not in schedule:
        assert not due or due[0] >= start
        assert not due or due[-1] < start + span(schedule) + timedelta(days=2)
    # materialising window by window gives exactly the same steps
    step = timedelta(hours=horizon_hours)
    pieces = []
    window_start: datetime | None = None
    window_end = start + step
    last = due[-1] if due else start
    while window_start is None or window_start <= last:
        pieces += list(occurrences(defn, anchors, tz, start=window_start, end=window_end))
        window_start, window_end = window_end, window_end + step
    assert pieces == whole
