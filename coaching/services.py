"""Coaching services (worker bookkeeping for now; the nudge pipeline lands here)."""

from __future__ import annotations

import os
import socket

from coaching.tables import WorkerHeartbeat
from core import clock
from settings import get_settings


def worker_name() -> str:
    """This process's identity: host, pid and supervisor slot."""
    slot = get_settings().broker.worker_slot
    suffix = f"/{slot}" if slot else ""
    return f"{socket.gethostname()}:{os.getpid()}{suffix}"


async def record_heartbeat(worker: str, token: str) -> None:
    """Upsert the worker's heartbeat row (safe when two pings race)."""
    row = WorkerHeartbeat(worker=worker, token=token, seen_at=clock.now())
    await WorkerHeartbeat.insert(row).on_conflict(
        target=WorkerHeartbeat.worker,
        action="DO UPDATE",
        values=[WorkerHeartbeat.token, WorkerHeartbeat.seen_at],
    )


async def heartbeats(token: str | None = None) -> list[dict[str, object]]:
    """Recent heartbeats (optionally only those answering ``token``), newest first."""
    query = WorkerHeartbeat.select(
        WorkerHeartbeat.worker, WorkerHeartbeat.token, WorkerHeartbeat.seen_at
    )
    if token is not None:
        query = query.where(WorkerHeartbeat.token == token)
    return await query.order_by(WorkerHeartbeat.seen_at, ascending=False).limit(20)
