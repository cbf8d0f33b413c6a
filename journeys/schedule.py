"""Time-zone maths: schedules → step due times, in the customer's own zone, across DST.

Rules (documented for authors in docs/journeys.md):

* ``at: "08:00"`` is local wall-clock time in the customer's zone, every day it applies;
* day and week offsets (``appointment - 3d``, ``due - 1d``) move by calendar days and keep
  the wall-clock time; minute and hour offsets (``due + 2h``) are elapsed time;
* a local time that does not exist (the spring-forward gap, e.g. 02:30 when clocks jump
  from 02:00 to 03:00) moves forward by the length of the gap (→ 03:30);
* a local time that happens twice (fall-back) means the first of the two.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from journeys.definition import Behaviour, JourneyDefinition, Schedule
from journeys.durations import Duration, Offset, parse_duration, parse_offset, parse_time

DEFAULT_UNCONFIRMED_GRACE = Duration(24, "h")


@dataclass(frozen=True, order=True)
class Occurrence:
    """One due time of one behaviour (``index`` counts from 0 within the behaviour)."""

    due_at: datetime
    behaviour: str
    index: int


def resolve_local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time (gap: forward by the gap; overlap: first)."""
    # fold=0 makes zoneinfo use the offset from before a transition: for a time in the
    # gap that lands after the gap by exactly its length; for a repeated time, the first.
    return datetime.combine(day, at.replace(tzinfo=None), tzinfo=tz).replace(fold=0).astimezone(UTC)


def shift(instant: datetime, sign: int, duration: Duration | None, tz: ZoneInfo) -> datetime:
    """Move an instant by a duration: calendar days keep the local wall-clock time."""
    if duration is None:
        return instant
    days = duration.calendar_days
    if days is None:
        return instant + sign * duration.exact
    local = instant.astimezone(tz)
    return resolve_local(local.date() + timedelta(days=sign * days), local.time(), tz)


def apply_offset(offset: Offset, base: datetime, tz: ZoneInfo) -> datetime:
    """``base`` moved by an offset's duration."""
    return shift(base, offset.sign, offset.duration, tz)


def _phases(s: Schedule) -> list[tuple[Duration, Duration]]:
    if s.every is not None and s.for_ is not None:
        return [(parse_duration(s.every), parse_duration(s.for_))]
    return [(parse_duration(p.every), parse_duration(p.for_)) for p in s.taper or []]


def behaviour_times(
    b: Behaviour, anchors: Mapping[str, datetime], tz: ZoneInfo
) -> Iterator[datetime]:
    """Every due time of one behaviour, strictly increasing, lazily (stop reading when done)."""
    s = b.schedule
    at = parse_time(s.at) if s.at else None
    if s.once is not None:
        offset = parse_offset(s.once)
        instant = apply_offset(offset, anchors[offset.anchor], tz)
        if at is not None:
            instant = resolve_local(instant.astimezone(tz).date(), at, tz)
        yield instant
        return
    assert s.from_ is not None  # guaranteed by validation
    start = anchors[s.from_]
    if at is not None:
        # The first local day whose 'at' is not before the anchor.
        day = start.astimezone(tz).date()
        if resolve_local(day, at, tz) < start:
            day += timedelta(days=1)
        for every, span in _phases(s):
            step_days, span_days = every.calendar_days, span.calendar_days
            assert step_days is not None  # validation: intervals with 'at' are whole days
            if span_days is None:
                span_days = -(-int(span.exact.total_seconds()) // 86400)
            for k in range(0, span_days, step_days):
                yield resolve_local(day + timedelta(days=k), at, tz)
            day += timedelta(days=span_days)
        return
    base = start
    for every, span in _phases(s):
        end = shift(base, 1, span, tz)
        k = 0
        while True:
            due = shift(base, 1, Duration(every.amount * k, every.unit), tz)
            if due >= end:
                break
            yield due
            k += 1
        base = end


def occurrences(
    definition: JourneyDefinition,
    anchors: Mapping[str, datetime],
    tz: ZoneInfo,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Iterator[Occurrence]:
    """All behaviours' occurrences with ``start <= due_at < end``, in due order.

    Only the window is computed past ``end``'s first element per behaviour, which keeps the
    cost of a rolling-horizon pass independent of the journey's length.
    """

    def one(b: Behaviour) -> Iterator[Occurrence]:
        for index, due in enumerate(behaviour_times(b, anchors, tz)):
            if end is not None and due >= end:
                return
            if start is None or due >= start:
                yield Occurrence(due, b.key, index)

    return heapq.merge(*(one(b) for b in definition.behaviours))


def last_due(
    definition: JourneyDefinition, anchors: Mapping[str, datetime], tz: ZoneInfo
) -> datetime:
    """When the last step of the journey is due."""
    return max(
        max(behaviour_times(b, anchors, tz), default=anchors[definition.anchors[0]])
        for b in definition.behaviours
    )


def grace_until(b: Behaviour, due: datetime, tz: ZoneInfo) -> datetime:
    """When an unconfirmed step counts as missed."""
    grace = (
        parse_duration(b.confirm.grace, allow_zero=True) if b.confirm else DEFAULT_UNCONFIRMED_GRACE
    )
    return shift(due, 1, grace, tz)
