"""Coaching tables (the nudge outbox arrives with the coaching issue)."""

from piccolo.columns import UUID, Timestamptz, Varchar
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class WorkerHeartbeat(Table):
    """Last time a worker process answered a ping; /readyz and operators read it."""

    id = UUID(primary_key=True)
    worker = Varchar(length=128, unique=True)
    token = Varchar(length=64, default="")
    seen_at = Timestamptz(default=TimestamptzNow())
