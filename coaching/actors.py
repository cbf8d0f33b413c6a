"""Dramatiq actors: thin, idempotent, take ids/tokens, call services."""

from __future__ import annotations

import dramatiq

import coaching.broker  # noqa: F401 - installs the configured broker before actors bind to it
from coaching import outbox as _outbox  # noqa: F401 - installs the step companion
from coaching import services


@dramatiq.actor(queue_name="default", max_retries=3, max_age=60_000)
async def ping(token: str = "") -> None:
    """Prove a worker is alive and can reach the database: record a heartbeat."""
    await services.record_heartbeat(services.worker_name(), token)
