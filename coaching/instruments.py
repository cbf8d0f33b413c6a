"""Prometheus instruments observed where messages are sent.

Unlike the gauges read from the outbox (``coaching.metrics``), these are counted by the
process that does the work: the API process in the embedded shape (its ``/metrics``
shows them), each worker process in the scale shape (``slipguard worker --metrics-port``
adds them up across its children).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SETTLED = Counter(
    "slipguard_deliveries",
    "Send attempts settled by a worker, by channel and outcome (sent, retrying, failed)",
    ["channel", "outcome"],
)
# From a second to a day: a message held for its customer's sending window is late by
# hours, and that is the figure to watch, not an error.
LATENESS = Histogram(
    "slipguard_delivery_lateness_seconds",
    "Sent minus due, per message sent",
    ["channel"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 4 * 3600, 12 * 3600, 86400),
)
SEND_TIME = Histogram(
    "slipguard_delivery_send_seconds",
    "From the claim to the provider's answer, per send attempt",
    ["channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
