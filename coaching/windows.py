"""The customer's sending window: when, in their own timezone, a message may go out.

The window is read in the customer's *current* timezone at send time, not the copy an
enrollment took: a step's due time belongs to the appointment or routine it was planned
for, but "not at 3 in the morning" belongs to wherever the person now is.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def _hhmm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def inside(local: time, start: time, end: time) -> bool:
    """Whether a local time of day is in [start, end); a window may cross midnight."""
    if start < end:
        return start <= local < end
    return local >= start or local < end


def _at(day: date, moment: time, tz: ZoneInfo) -> datetime:
    """A local wall time as an instant. A time skipped by a DST jump (02:30 on a spring
    night) resolves forward, as clocks do; a repeated one takes its first occurrence."""
    local = datetime.combine(day, moment, tzinfo=tz)
    instant = local.astimezone(UTC)
    if instant.astimezone(tz).time() != moment:  # skipped: the wall time does not exist
        instant = datetime.combine(day, moment, tzinfo=tz).replace(fold=1).astimezone(UTC)
    return instant


def next_opening(now: datetime, tz: ZoneInfo, start: str, end: str) -> datetime | None:
    """None when a message may go out at ``now``; else the instant the window next opens."""
    opens, closes = _hhmm(start), _hhmm(end)
    local = now.astimezone(tz)
    if inside(local.time(), opens, closes):
        return None
    for days in range(3):
        candidate = _at(local.date() + timedelta(days=days), opens, tz)
        if candidate > now:
            return candidate
    raise AssertionError("a daily window always opens within two days")  # pragma: no cover
