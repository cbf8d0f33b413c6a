"""Delivery figures for operators, read from the outbox itself.

The database is the one place every process's work meets (API, worker processes,
schedulers), so gauges computed from it are right however many processes there are,
with no multi-process metrics plumbing. Figures cover the last 24 hours of activity.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from core import clock
from core.db import run_sql

WINDOW = timedelta(days=1)
LATE_SAMPLE = 2000  # the most recent sends the lateness quantiles are computed over


@dataclass(frozen=True)
class DeliveryFigures:
    """A snapshot of the outbox."""

    by_status: dict[tuple[str, str], int] = field(default_factory=dict)  # (status, channel)
    due_waiting: int = 0  # scheduled and due: waiting for a scheduler tick
    in_flight: int = 0  # queued or sending
    lateness: dict[float, float] = field(default_factory=dict)  # quantile → seconds
    send_time: dict[float, float] = field(default_factory=dict)  # quantile → seconds


def quantile(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (0 for no values)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


async def delivery_figures(now: datetime | None = None) -> DeliveryFigures:
    """Counts by status and channel, queue depth, lateness and send time quantiles."""
    now = now or clock.now()
    since = now - WINDOW
    counts = await run_sql(
        "SELECT status, channel, COUNT(*) AS n FROM nudge WHERE updated_at > {} "
        "GROUP BY status, channel",
        since,
    )
    waiting = await run_sql(
        "SELECT COUNT(*) AS n FROM nudge WHERE status = 'scheduled' AND send_after <= {}", now
    )
    flight = await run_sql("SELECT COUNT(*) AS n FROM nudge WHERE status IN ('queued', 'sending')")
    sent = await run_sql(
        "SELECT due_at, sent_at, claimed_at FROM nudge WHERE sent_at > {} "
        f"ORDER BY sent_at DESC LIMIT {LATE_SAMPLE}",
        since,
    )
    late = [
        max(0.0, (clock.as_utc(r["sent_at"]) - clock.as_utc(r["due_at"])).total_seconds())
        for r in sent
    ]
    took = [
        (clock.as_utc(r["sent_at"]) - clock.as_utc(r["claimed_at"])).total_seconds()
        for r in sent
        if r["claimed_at"] is not None
    ]
    return DeliveryFigures(
        by_status={(r["status"], r["channel"]): int(r["n"]) for r in counts},
        due_waiting=int(waiting[0]["n"]),
        in_flight=int(flight[0]["n"]),
        lateness={q: quantile(late, q) for q in (0.5, 0.99)},
        send_time={q: quantile(took, q) for q in (0.5, 0.99)},
    )
