"""The sending window and the send-time decision, over many zones and instants."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from coaching.decisions import DEFERRED_CAP, HELD_WINDOW, Go, Snapshot, Stop, Wait, decide
from coaching.windows import inside, next_opening
from tests.factories import ZONES

instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
hhmm = st.builds(lambda h, m: f"{h:02d}:{m:02d}", st.integers(0, 23), st.sampled_from([0, 30]))


@settings(max_examples=400, deadline=None)
@given(now=instants, zone=st.sampled_from(ZONES), start=hhmm, end=hhmm)
def test_a_held_message_opens_at_the_window_start_and_never_before(
    now: datetime, zone: str, start: str, end: str
) -> None:
    if start == end:
        return
    tz = ZoneInfo(zone)
    opening = next_opening(now, tz, start, end)
    s, e = (datetime.strptime(t, "%H:%M").time() for t in (start, end))
    if opening is None:
        assert inside(now.astimezone(tz).time(), s, e)
        return
    assert now < opening <= now + timedelta(days=2)
    local = opening.astimezone(tz)
    # At the start, or just after it when a DST jump skipped that wall time.
    assert local.time() >= s or local.time() < e
    assert next_opening(opening, tz, start, end) is None
    # Nothing in between is inside the window (checked at 10-minute steps).
    probe = now + timedelta(minutes=10)
    while probe < opening - timedelta(minutes=10):
        assert next_opening(probe, tz, start, end) is not None
        probe += timedelta(minutes=10)


def test_dst_nights_in_shanghai_and_los_angeles() -> None:
    # 03:00 local on the night the US clocks go forward, and an ordinary Shanghai night.
    la = ZoneInfo("America/Los_Angeles")
    night = datetime(2027, 3, 14, 3, 0, tzinfo=la)
    assert next_opening(night.astimezone(UTC), la, "08:00", "21:00") == datetime(
        2027, 3, 14, 8, 0, tzinfo=la
    ).astimezone(UTC)
    fall = datetime(2027, 11, 7, 1, 30, tzinfo=la)  # the repeated hour
    opened = next_opening(fall.astimezone(UTC), la, "08:00", "21:00")
    assert opened is not None and opened.astimezone(la).hour == 8
    sh = ZoneInfo("Asia/Shanghai")
    opened = next_opening(datetime(2027, 6, 1, 19, 0, tzinfo=UTC), sh, "08:00", "21:00")
    assert opened == datetime(2027, 6, 2, 8, 0, tzinfo=sh).astimezone(UTC)


def _snap(**over: object) -> Snapshot:
    base: dict[str, object] = dict(
        kind="reminder", channel="sms", purpose="informational", critical=False,
        unless_confirmed=False, step_status="pending", enrollment_status="active",
        erased=False, address="+14155550100", consent=True, timezone="UTC",
        window=("00:00", "23:59"), sent_last_day=[],
    )  # fmt: skip
    base.update(over)
    return Snapshot(**base)  # type: ignore[arg-type]


NOON = datetime(2030, 1, 1, 12, tzinfo=UTC)


def test_decisions_in_order() -> None:
    assert decide(_snap(), NOON, 3) == Go()
    assert decide(_snap(enrollment_status="cancelled"), NOON, 3) == Stop(
        "cancelled", "enrollment_cancelled"
    )
    assert decide(_snap(step_status="excused"), NOON, 3) == Stop("cancelled", "step_excused")
    assert decide(_snap(erased=True, consent=False), NOON, 3) == Stop(
        "cancelled", "customer_erased"
    )
    assert decide(_snap(step_status="done"), NOON, 3) == Stop("cancelled", "step_done")
    assert decide(_snap(step_status="done", unless_confirmed=True, kind="follow_up"), NOON, 3) == (
        Stop("suppressed", "confirmed")
    )
    # A plain follow-up of a done step ("how did it go?") still goes.
    assert decide(_snap(step_status="done", kind="follow_up"), NOON, 3) == Go()
    # A missed step's follow-up is exactly when it matters.
    assert decide(_snap(step_status="missed", kind="follow_up"), NOON, 3) == Go()
    assert decide(_snap(address=None), NOON, 3) == Stop("suppressed", "no_address")
    assert decide(_snap(consent=False), NOON, 3) == Stop("suppressed", "no_consent")
    held = decide(_snap(window=("13:00", "14:00")), NOON, 3)
    assert held == Wait(datetime(2030, 1, 1, 13, tzinfo=UTC), HELD_WINDOW)


@given(st.lists(st.integers(1, 24 * 60 - 1), min_size=0, max_size=8), st.integers(1, 5))
def test_the_cap_counts_the_last_24_hours_and_waits_for_the_oldest_to_expire(
    minutes_ago: list[int], cap: int
) -> None:
    sent = [NOON - timedelta(minutes=m) for m in minutes_ago]
    verdict = decide(_snap(sent_last_day=sent), NOON, cap)
    if len(sent) < cap:
        assert verdict == Go()
        return
    assert isinstance(verdict, Wait) and verdict.reason == DEFERRED_CAP
    # At that moment the count falls below the cap, and not a moment before.
    at = verdict.until
    assert sum(t > at - timedelta(days=1) for t in sent) < cap
    before = at - timedelta(seconds=1)
    assert sum(t > before - timedelta(days=1) for t in sent) >= cap
    assert decide(_snap(sent_last_day=sent, critical=True), NOON, cap) == Go()
