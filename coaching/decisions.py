"""What to do with a message at send time, decided from a snapshot of its world (pure).

Checks run in order, cheapest verdict first: a message whose reason to exist has gone is
cancelled; one the customer has not agreed to is suppressed; one outside the customer's
sending window or over their daily cap waits (it is never dropped for that).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from coaching.windows import next_opening

HELD_WINDOW = "held_send_window"
DEFERRED_CAP = "deferred_frequency_cap"
PAUSED = "paused_by_customer"


@dataclass(frozen=True)
class Snapshot:
    """The message and everything its send depends on, read in one query."""

    kind: str
    channel: str
    purpose: str
    critical: bool
    unless_confirmed: bool
    step_status: str | None
    enrollment_status: str | None
    erased: bool
    address: str | None
    consent: bool
    timezone: str
    window: tuple[str, str]
    sent_last_day: list[datetime]  # when this customer's messages went out in the last 24 h
    paused: bool = False  # the customer paused their reminders (their page) until a date
    requested: bool = False  # asked for on the customer's page just now (a link, a code)


@dataclass(frozen=True)
class Stop:
    """End the message here: ``status`` cancelled or suppressed, with the reason."""

    status: str
    reason: str


@dataclass(frozen=True)
class Wait:
    """Put the message back until ``until``."""

    until: datetime
    reason: str


@dataclass(frozen=True)
class Go:
    """Render and send it now."""


Decision = Stop | Wait | Go


def decide(s: Snapshot, now: datetime, cap_per_day: int) -> Decision:
    """The verdict for one message at ``now``."""
    if s.enrollment_status == "cancelled":
        return Stop("cancelled", "enrollment_cancelled")
    if s.step_status in ("cancelled", "excused"):
        return Stop("cancelled", f"step_{s.step_status}")
    if s.erased:
        return Stop("cancelled", "customer_erased")
    if s.step_status == "done":
        if s.unless_confirmed:
            return Stop("suppressed", "confirmed")
        if s.kind == "reminder":
            return Stop("cancelled", "step_done")
    if not s.address:
        return Stop("suppressed", "no_address")
    if not s.consent:
        return Stop("suppressed", "no_consent")
    if s.paused and not s.critical:
        return Stop("suppressed", PAUSED)
    if s.requested:
        return Go()  # the customer is waiting for it on their page, at this hour
    opening = next_opening(now, ZoneInfo(s.timezone), *s.window)
    if opening is not None:
        return Wait(opening, HELD_WINDOW)
    if not s.critical:
        recent = sorted(t for t in s.sent_last_day if t > now - timedelta(days=1))
        if len(recent) >= cap_per_day:
            # The earliest of the last `cap` sends leaves the 24-hour window first.
            return Wait(recent[-cap_per_day] + timedelta(days=1), DEFERRED_CAP)
    return Go()
