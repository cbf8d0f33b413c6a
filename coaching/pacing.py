"""Per-sender pacing shared by every worker process: a slot reservation in the database.

Each send reserves its sender's next free slot, moving it one interval on: on PostgreSQL
in one conditional update, on SQLite under its single writer lock. The caller waits for
its slot or, when the line of reserved slots is longer than it may wait, hands the message
back to the outbox for later. The same on any number of processes and machines.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from piccolo.engine.postgres import PostgresEngine

from coaching.tables import SenderPace
from core import clock
from core.db import LoopPoolPostgresEngine, engine, run_sql, write_transaction
from core.ids import new_id

# Slots are spaced for 99% of the sender's limit: requests leave on their slot but reach
# the provider a few milliseconds apart from it, and at exactly the limit a provider's
# one-second window would now and then count one request too many.
HEADROOM = 0.99


# PostgreSQL takes a slot in one statement (the row lock lasts only that statement); an
# empty answer means the row is missing or its next slot is further off than the caller
# may wait.
_TAKE_PG = (
    "UPDATE sender_pace SET next_at = GREATEST(next_at, $2::timestamptz) + $3::interval "
    "WHERE sender = $1 AND next_at <= $2::timestamptz + $4::interval "
    "RETURNING next_at - $3::interval AS slot"
)


async def reserve(
    sender: str, now: datetime, rate_per_second: float, max_wait: float
) -> tuple[datetime, bool]:
    """Reserve the sender's next slot if it starts within ``max_wait`` seconds; returns
    (when the next slot starts, whether it is now this caller's). A slot too far off is
    left free: the message goes back to the outbox until then instead of holding it."""
    interval = timedelta(seconds=1.0 / (rate_per_second * HEADROOM))
    eng = engine()
    if isinstance(eng, LoopPoolPostgresEngine):
        rows = await eng.fetch(_TAKE_PG, sender, now, interval, timedelta(seconds=max_wait))
        if rows:
            return clock.as_utc(rows[0]["slot"]), True
    return await _reserve_locked(sender, now, interval, max_wait)


async def _reserve_locked(
    sender: str, now: datetime, interval: timedelta, max_wait: float
) -> tuple[datetime, bool]:
    """Read, decide and move the slot inside a write transaction (SQLite; and PostgreSQL
    when the sender's row does not exist yet or its slot is too far off)."""
    lock = " FOR UPDATE" if isinstance(engine(), PostgresEngine) else ""
    query = "SELECT next_at FROM sender_pace WHERE sender = {}" + lock
    async with write_transaction():
        rows = await run_sql(query, sender)
        if not rows:
            await SenderPace.insert(
                SenderPace(id=new_id(), sender=sender, next_at=now)
            ).on_conflict(action="DO NOTHING")
            rows = await run_sql(query, sender)
        slot = max(clock.as_utc(rows[0]["next_at"]), now)
        if (slot - now).total_seconds() > max_wait:
            return slot, False
        await run_sql(
            "UPDATE sender_pace SET next_at = {} WHERE sender = {}", slot + interval, sender
        )
    return slot, True
