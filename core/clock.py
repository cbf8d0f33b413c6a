"""The one source of "now" for services and jobs (UTC, timezone-aware)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


# Instants the product accepts anywhere (cursors, filters, anchors): wide enough for any
# real record, narrow enough that no time-zone shift or offset overflows a datetime.
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)
# How far from now an anchor (an appointment, a start date) may lie.
ANCHOR_WINDOW = timedelta(days=20 * 366)


def in_range(moment: datetime) -> bool:
    """Whether ``moment`` (timezone-aware) lies between EARLIEST and LATEST."""
    try:
        return EARLIEST <= moment.astimezone(UTC) < LATEST
    except (OverflowError, ValueError):  # year 1 at +14:00 has no UTC instant
        return False


def as_utc(moment: datetime | str) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite may hand back text or naive UTC)."""
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
