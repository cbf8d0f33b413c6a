"""The scheduler's half of delivery: claim due messages, publish their ids, and pick up
claims that went stale (a broker message lost, a worker killed mid-send).

Claims are conditional updates, so any number of schedulers may run: on PostgreSQL each
takes its batch with ``FOR UPDATE SKIP LOCKED``; SQLite has one writer at a time. The
broker only ever carries "send message X now"; the database holds every wait.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from uuid import UUID

from piccolo.engine.postgres import PostgresEngine

from coaching.delivery import OUTCOME_UNKNOWN
from core import clock
from core.db import engine, run_sql, write_transaction
from core.ids import as_uuid

log = logging.getLogger("slipguard.dispatch")

Publish = Callable[[UUID], None]


def _claim_sql(
    where: str, set_status: str, order: str, limit: int, organization: UUID | None
) -> str:
    scope = " AND organization = {}" if organization is not None else ""
    lock = " FOR UPDATE SKIP LOCKED" if isinstance(engine(), PostgresEngine) else ""
    return (
        f"UPDATE nudge SET {set_status} claimed_at = {{}}, updated_at = {{}} "
        f"WHERE id IN (SELECT id FROM nudge WHERE {where}{scope} "
        f"ORDER BY {order} "
        f"LIMIT {int(limit)}{lock}) RETURNING id"
    )


async def _claim(sql: str, args: list[object]) -> list[UUID]:
    async with write_transaction():
        rows = await run_sql(sql, *args)
    return [as_uuid(r["id"]) for r in rows]


async def claim_due(
    now: datetime | None = None, limit: int = 500, organization: UUID | None = None
) -> list[UUID]:
    """Move due ``scheduled`` messages to ``queued``; returns their ids to publish."""
    now = now or clock.now()
    sql = _claim_sql(
        "status = 'scheduled' AND send_after <= {}",
        "status = 'queued',",
        "send_after",
        limit,
        organization,
    )
    args: list[object] = [now, now, now]
    if organization is not None:
        args.append(organization)
    return await _claim(sql, args)


async def reclaim_stale(
    now: datetime | None = None,
    queued_after: timedelta = timedelta(seconds=60),
    sending_after: timedelta = timedelta(seconds=120),
    limit: int = 500,
    organization: UUID | None = None,
) -> list[UUID]:
    """Claims nobody finished: ``queued`` too long (the broker lost the message) are
    published again; ``sending`` too long (the worker died) go back to ``queued`` marked
    outcome-unknown, so the next try asks the provider before sending again."""
    now = now or clock.now()
    extra: list[object] = [organization] if organization is not None else []
    queued = await _claim(
        _claim_sql("status = 'queued' AND claimed_at < {}", "", "claimed_at", limit, organization),
        [now, now, now - queued_after, *extra],
    )
    sending = await _claim(
        _claim_sql(
            "status = 'sending' AND claimed_at < {}",
            f"status = 'queued', reason = '{OUTCOME_UNKNOWN}',",
            "claimed_at",
            limit,
            organization,
        ),
        [now, now, now - sending_after, *extra],
    )
    if sending:
        log.warning("sends that never finished will be checked", extra={"count": len(sending)})
    return queued + sending


def publish_all(ids: list[UUID], publish: Publish) -> int:
    """Publish each id; a broker failure stops the batch (those rows stay ``queued`` and
    are published again once their claim is stale). Returns how many went out."""
    sent = 0
    for nudge_id in ids:
        try:
            publish(nudge_id)
        except Exception:
            log.exception(
                "could not publish to the broker; will retry", extra={"left": len(ids) - sent}
            )
            break
        sent += 1
    return sent
