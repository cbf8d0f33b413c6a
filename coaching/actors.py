"""Dramatiq actors: thin, idempotent, take ids/tokens, call services."""

from __future__ import annotations

from uuid import UUID

import dramatiq

import coaching.broker  # noqa: F401 - installs the configured broker before actors bind to it
from coaching import delivery, services
from coaching import outbox as _outbox  # noqa: F401 - installs the step companion


@dramatiq.actor(queue_name="default", max_retries=3, max_age=60_000)
async def ping(token: str = "") -> None:
    """Prove a worker is alive and can reach the database: record a heartbeat."""
    await services.record_heartbeat(services.worker_name(), token)


# No broker retries: a failure leaves the row claimed, and the scheduler publishes it
# again once the claim is stale (the outbox row, not the broker, is the retry queue).
@dramatiq.actor(queue_name="nudges", max_retries=0, time_limit=120_000)
async def send_nudge(nudge_id: str) -> None:
    """Carry out one queued message."""
    await delivery.deliver(UUID(nudge_id))


def publish(nudge_id: UUID) -> None:
    """Hand one claimed message to the workers."""
    send_nudge.send(str(nudge_id))
