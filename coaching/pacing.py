"""Per-sender pacing shared by every worker process: a slot reservation in the database.

Each send reserves its sender's next free slot: the row is locked (PostgreSQL ``FOR
UPDATE``; SQLite's single writer), read, and moved one interval on. The caller waits for
its slot or, when the line of reserved slots is longer than it may wait, hands the message
back to the outbox for later. The same on any number of processes and machines.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from piccolo.engine.postgres import PostgresEngine

from coaching.tables import SenderPace
from core.db import engine, run_sql, write_transaction
from core.ids import new_id

# Slots are spaced for 97% of the sender's limit: requests leave on their slot but reach
# the provider a few milliseconds apart from it, and at exactly the limit the provider's
# one-second window would see an occasional extra request (measured: 12 of 60 refused).
HEADROOM = 0.97


async def reserve(
    sender: str, now: datetime, rate_per_second: float, max_wait: float
) -> tuple[datetime, bool]:
    """Reserve the sender's next slot if it starts within ``max_wait`` seconds; returns
    (when the next slot starts, whether it is now this caller's). A slot too far off is
    left free: the message goes back to the outbox until then instead of holding it."""
    interval = timedelta(seconds=1.0 / (rate_per_second * HEADROOM))
    lock = " FOR UPDATE" if isinstance(engine(), PostgresEngine) else ""
    query = "SELECT next_at FROM sender_pace WHERE sender = {}" + lock
    async with write_transaction():
        rows = await run_sql(query, sender)
        if not rows:
            await SenderPace.insert(
                SenderPace(id=new_id(), sender=sender, next_at=now)
            ).on_conflict(action="DO NOTHING")
            rows = await run_sql(query, sender)
        slot = max(_utc(rows[0]["next_at"]), now)
        if (slot - now).total_seconds() > max_wait:
            return slot, False
        await run_sql(
            "UPDATE sender_pace SET next_at = {} WHERE sender = {}", slot + interval, sender
        )
    return slot, True


def _utc(value: object) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
