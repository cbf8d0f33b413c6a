"""Coaching tables: the nudge outbox and worker bookkeeping."""

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from journeys.tables import Step


class Nudge(Table):
    """One message to a customer, written before anything is sent (the outbox).

    Rows are created in the same transaction as their cause (a step planned on the rolling
    horizon); workers only carry them out. ``position`` is the nudge's place in its
    behaviour's list, so (step, position) names a planned message exactly once.

    A message belongs to its step (deleting the step, its enrollment or its organisation
    deletes it); ``organization`` and ``enrollment`` are copies of the step's, written with
    the row, for tenant filtering and reading without a join. They carry no foreign keys
    of their own: each key check costs as much as the rest of the row's write (measured in
    docs/benchmarks.md), and the step's already guarantees both.
    """

    id = UUID(primary_key=True)
    organization = UUID(default=None)  # always set from the step; no default to forget it with
    enrollment = UUID(null=True, default=None)
    step = ForeignKey(references=Step, null=True, on_delete=OnDelete.cascade)
    position = Integer(default=0)
    kind = Varchar(length=16)  # reminder | follow_up | escalation | recovery | advisory
    channel = Varchar(length=8)  # sms | email
    template = Varchar(length=64)
    unless_confirmed = Boolean(default=False)
    due_at = Timestamptz()
    # scheduled|queued|sending|sent|delivered|failed|suppressed|cancelled
    status = Varchar(length=12, default="scheduled")
    reason = Varchar(length=64, null=True, default=None)  # why suppressed, cancelled or failed
    attempts = Integer(default=0)
    provider_id = Varchar(length=64, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class WorkerHeartbeat(Table):
    """Last time a worker process answered a ping; /readyz and operators read it."""

    id = UUID(primary_key=True)
    worker = Varchar(length=128, unique=True)
    token = Varchar(length=64, default="")
    seen_at = Timestamptz(default=TimestamptzNow())
