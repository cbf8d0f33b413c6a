"""The one source of "now" for services and jobs (UTC, timezone-aware)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The current time in UTC."""
    return datetime.now(UTC)


# Instants the product accepts anywhere (cursors, filters, anchors): written in the years
# 1900 to 2199, whatever their offset: wide enough for any real record, narrow enough that
# no time-zone shift or offset overflows a datetime, and a rule a schema can state.
EARLIEST_YEAR = 1900
LATEST_YEAR = 2200  # the first year refused
EARLIEST = datetime(EARLIEST_YEAR, 1, 1, tzinfo=UTC) - timedelta(days=1)
LATEST = datetime(LATEST_YEAR, 1, 1, tzinfo=UTC) + timedelta(days=1)
# How far from now an anchor (an appointment, a start date) may lie.
ANCHOR_WINDOW = timedelta(days=20 * 366)


def in_range(moment: datetime) -> bool:
    """Whether ``moment`` (timezone-aware) is written in a year from EARLIEST_YEAR to
    LATEST_YEAR - 1 (in UTC it lies within a day of those years: EARLIEST to LATEST)."""
    return EARLIEST_YEAR <= moment.year < LATEST_YEAR


def as_utc(moment: datetime | str) -> datetime:
    """A stored instant as an aware UTC datetime (SQLite may hand back text or naive UTC)."""
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
