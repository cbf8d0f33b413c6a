"""Delivery gauges for ``/metrics``, read from the outbox.

They are refreshed from the database at most every few seconds, however often the
(public) endpoint is scraped.
"""

from __future__ import annotations

import time

from prometheus_client import Gauge

from coaching.metrics import delivery_figures

REFRESH_SECONDS = 10.0
_state = {"at": 0.0}

NUDGES = Gauge(
    "slipguard_nudges", "Messages by status and channel, changed in the last 24 h",
    ["status", "channel"],
)  # fmt: skip
DUE = Gauge("slipguard_nudges_due_waiting", "Messages due and not yet claimed")
IN_FLIGHT = Gauge("slipguard_nudges_in_flight", "Messages claimed (queued or sending)")
LATENESS = Gauge("slipguard_nudge_lateness_seconds", "Sent minus due, recent sends", ["quantile"])
SEND_TIME = Gauge(
    "slipguard_nudge_send_seconds", "Claim to provider acceptance, recent sends", ["quantile"]
)


async def refresh() -> None:
    """Read the outbox figures into the gauges (rate-limited)."""
    if time.monotonic() - _state["at"] < REFRESH_SECONDS:
        return
    _state["at"] = time.monotonic()
    figures = await delivery_figures()
    NUDGES.clear()
    for (status, channel), n in figures.by_status.items():
        NUDGES.labels(status=status, channel=channel).set(n)
    DUE.set(figures.due_waiting)
    IN_FLIGHT.set(figures.in_flight)
    for q, seconds in figures.lateness.items():
        LATENESS.labels(quantile=str(q)).set(seconds)
    for q, seconds in figures.send_time.items():
        SEND_TIME.labels(quantile=str(q)).set(seconds)
