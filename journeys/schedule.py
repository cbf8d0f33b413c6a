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
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo

from journeys.definition import Behaviour, JourneyDefinition, Schedule
from journeys.durations import Duration, Offset, parse_duration, parse_offset, parse_time

DEFAULT_UNCONFIRMED_GRACE = Duration(24, "h")


class Occurrence(NamedTuple):
    """One due time of one behaviour (``nth`` counts from 0 within the behaviour).

    ``plan_at`` is the due time less the behaviour's lead (how long before its due time
    its earliest message goes out): windows and the order of merged streams use it, so a
    step is planned, with its messages, in time for the first of them. Without leads it
    equals ``due_at``. A named tuple: merged streams compare it in C (a dataclass's
    generated comparisons were a tenth of a refill).
    """

    plan_at: datetime
    due_at: datetime
    behaviour: str
    nth: int


@lru_cache(maxsize=65536)  # many customers share a zone and a time of day: resolve once
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
    b: Behaviour, anchors: Mapping[str, datetime], tz: ZoneInfo, after: datetime | None = None
) -> Iterator[tuple[int, datetime]]:
    """(index, due time) of one behaviour, strictly increasing, lazily.

    ``after`` is a hint: occurrences well before it are skipped by arithmetic instead of
    being resolved one by one (a refill late in a long journey stays cheap), while the
    indexes stay those of the whole schedule. A caller still filters on ``after`` itself.
    """
    s = b.schedule
    at = parse_time(s.at) if s.at else None
    if s.once is not None:
        offset = parse_offset(s.once)
        instant = apply_offset(offset, anchors[offset.anchor], tz)
        if at is not None:
            instant = resolve_local(instant.astimezone(tz).date(), at, tz)
        yield 0, instant
        return
    assert s.from_ is not None  # guaranteed by validation
    start = anchors[s.from_]
    index = 0
    if at is not None:
        # The first local day whose 'at' is not before the anchor.
        day = start.astimezone(tz).date()
        if resolve_local(day, at, tz) < start:
            day += timedelta(days=1)
        # One day of margin: a skipped-to day's local time can shift across midnight in UTC.
        skip_to = after.astimezone(tz).date() - timedelta(days=1) if after else None
        for every, span in _phases(s):
            step_days, span_days = every.calendar_days, span.calendar_days
            assert step_days is not None  # validation: intervals with 'at' are whole days
            if span_days is None:
                span_days = -(-int(span.exact.total_seconds()) // 86400)
            count = -(-span_days // step_days)
            first = 0
            if skip_to is not None and skip_to > day:
                first = min(count, -(-(skip_to - day).days // step_days))
            index += first
            for j in range(first, count):
                yield index, resolve_local(day + timedelta(days=j * step_days), at, tz)
                index += 1
            day += timedelta(days=span_days)
        return
    base = start
    for every, span in _phases(s):
        end = shift(base, 1, span, tz)
        k = 0
        if after is not None and every.calendar_days is None and after > base:
            # Elapsed-time steps: jump close to ``after`` (one step early, for safety).
            k = max(0, (after - base) // every.exact - 1)
            index += min(k, _count_exact(base, end, every))
        while True:
            due = shift(base, 1, Duration(every.amount * k, every.unit), tz)
            if due >= end:
                break
            yield index, due
            index += 1
            k += 1
        base = end


def _count_exact(base: datetime, end: datetime, every: Duration) -> int:
    """How many elapsed-time steps fall in [base, end)."""
    if end <= base:
        return 0
    whole, rest = divmod(end - base, every.exact)
    return whole + (1 if rest else 0)


def occurrences(
    definition: JourneyDefinition,
    anchors: Mapping[str, datetime],
    tz: ZoneInfo,
    start: datetime | None = None,
    end: datetime | None = None,
    leads: Mapping[str, timedelta] | None = None,
) -> Iterator[Occurrence]:
    """All behaviours' occurrences with ``start <= plan_at < end``, in ``plan_at`` order.

    ``leads`` maps a behaviour to how long before its due time it must be planned (none:
    ``plan_at`` is the due time). Only the window is computed past ``end``'s first element
    per behaviour, which keeps the cost of a rolling-horizon pass independent of the
    journey's length.
    """

    def one(b: Behaviour) -> Iterator[Occurrence]:
        lead = leads.get(b.key, _NO_LEAD) if leads else _NO_LEAD
        after = None if start is None else start + lead
        for index, due in behaviour_times(b, anchors, tz, after=after):
            plan_at = due - lead
            if end is not None and plan_at >= end:
                return
            if start is None or plan_at >= start:
                yield Occurrence(plan_at, due, b.key, index)

    return heapq.merge(*(one(b) for b in definition.behaviours))


_NO_LEAD = timedelta()


def last_due(
    definition: JourneyDefinition, anchors: Mapping[str, datetime], tz: ZoneInfo
) -> datetime:
    """When the last step of the journey is due."""
    return max(
        max(
            (due for _, due in behaviour_times(b, anchors, tz)),
            default=anchors[definition.anchors[0]],
        )
        for b in definition.behaviours
    )


def grace_of(b: Behaviour) -> Duration:
    """How long after its due time an unconfirmed step of ``b`` counts as missed."""
    if b.confirm:
        return parse_duration(b.confirm.grace, allow_zero=True)
    return DEFAULT_UNCONFIRMED_GRACE


def grace_until(b: Behaviour, due: datetime, tz: ZoneInfo) -> datetime:
    """When an unconfirmed step counts as missed."""
    return shift(due, 1, grace_of(b), tz)


_DST_SLACK = timedelta(hours=1)


def lead_of(b: Behaviour) -> timedelta:
    """How long before its due time ``b``'s earliest message goes out (zero if none is
    earlier than the due time). Local-day offsets get an hour more: across a DST change
    ``due - 3d`` is 71 or 73 hours before the due time."""
    lead = _NO_LEAD
    for nudge in b.nudges:
        offset = parse_offset(nudge.at)
        if offset.sign > 0 or offset.duration is None:
            continue
        slack = _DST_SLACK if offset.duration.calendar_days is not None else _NO_LEAD
        lead = max(lead, offset.duration.exact + slack)
    return lead
