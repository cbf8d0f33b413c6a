"""The small languages of journey files: durations (``14d``), offsets (``appointment - 3d``,
``due+2h``) and local times (``08:00``)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time, timedelta
from functools import cached_property, lru_cache

UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_OFFSET = re.compile(r"^\s*([a-z_][a-z0-9_]*)\s*(?:([+-])\s*(\d+\s*[mhdw]))?\s*$")
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


class SyntaxProblem(ValueError):
    """A value does not follow the journey file's small syntax; the message says how to write it."""


@dataclass(frozen=True)
class Duration:
    """An amount of one unit. Days and weeks are calendar days in the customer's zone."""

    amount: int
    unit: str

    @property
    def calendar_days(self) -> int | None:
        """Whole calendar days (for d/w), else None."""
        if self.unit == "d":
            return self.amount
        if self.unit == "w":
            return self.amount * 7
        return None

    @cached_property  # read for every step and message planned
    def exact(self) -> timedelta:
        """The duration as elapsed time (a day counted as 24 h)."""
        return timedelta(**{UNITS[self.unit]: self.amount})

    def __str__(self) -> str:
        return f"{self.amount}{self.unit}"


@dataclass(frozen=True)
class Offset:
    """``anchor ± duration``; ``duration`` is None for the anchor itself."""

    anchor: str
    sign: int
    duration: Duration | None

    def __str__(self) -> str:
        if self.duration is None:
            return self.anchor
        return f"{self.anchor} {'+' if self.sign > 0 else '-'} {self.duration}"


@lru_cache(maxsize=4096)  # pure and called per occurrence: parse each text once
def parse_duration(text: str, *, allow_zero: bool = False) -> Duration:
    """Parse ``30m``, ``2h``, ``14d``, ``1w``."""
    match = _DURATION.match(str(text))
    if not match:
        raise SyntaxProblem(
            f"{text!r} is not a duration; write a number and a unit: 30m, 2h, 14d or 1w"
        )
    amount = int(match.group(1))
    if amount == 0 and not allow_zero:
        raise SyntaxProblem(f"{text!r} must be longer than zero")
    return Duration(amount, match.group(2))


@lru_cache(maxsize=4096)  # pure and called per occurrence: parse each text once
def parse_offset(text: str) -> Offset:
    """Parse ``appointment``, ``appointment - 3d``, ``due+2h`` (spaces optional)."""
    match = _OFFSET.match(str(text))
    if not match:
        raise SyntaxProblem(
            f"{text!r} is not an offset; write NAME, NAME - 3d or NAME + 2h (units m, h, d, w)"
        )
    anchor, sign, amount = match.groups()
    if sign is None:
        return Offset(anchor, 1, None)
    duration = parse_duration(amount.replace(" ", ""), allow_zero=True)
    return Offset(anchor, 1 if sign == "+" else -1, duration)


@lru_cache(maxsize=4096)  # pure and called per occurrence: parse each text once
def parse_time(text: str) -> time:
    """Parse a 24-hour local time ``HH:MM``."""
    match = _TIME.match(str(text))
    if not match:
        raise SyntaxProblem(f'{text!r} is not a time; write HH:MM in 24-hour form, e.g. "08:00"')
    return time(int(match.group(1)), int(match.group(2)))
