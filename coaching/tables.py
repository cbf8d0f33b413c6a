"""Coaching tables: the nudge outbox and worker bookkeeping."""

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import ApiKey, Organization, StaffUser
from journeys.tables import Customer, Step
from slips.tables import Slip


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
    customer = UUID(null=True, default=None)
    step = ForeignKey(references=Step, null=True, on_delete=OnDelete.cascade)
    position = Integer(default=0)
    # Unique: names the message's cause, e.g. ``step:<id>:<position>``, so a retried or
    # rival writer can never plan it twice (rows without a step use their own cause).
    dedupe_key = Varchar(length=120, null=True, default=None)
    kind = Varchar(length=16)  # reminder | follow_up | escalation | recovery | advisory
    channel = Varchar(length=8)  # sms | email
    purpose = Varchar(length=16, default="informational")  # the consent it needs
    critical = Boolean(default=False)  # bypasses the frequency cap (never consent or hours)
    template = Varchar(length=64)
    unless_confirmed = Boolean(default=False)
    due_at = Timestamptz()  # when it was planned for (lateness is measured from here)
    send_after = Timestamptz()  # when it may next be claimed: due, held or backed off
    # scheduled|queued|sending|sent|delivered|failed|suppressed|cancelled
    status = Varchar(length=12, default="scheduled")
    reason = Varchar(length=64, null=True, default=None)  # why suppressed, cancelled or failed
    attempts = Integer(default=0)
    claimed_at = Timestamptz(null=True, default=None)  # last move to queued or sending
    provider = Varchar(length=16, null=True, default=None)  # twilio | smtp | outbox
    provider_id = Varchar(length=64, null=True, default=None)
    error_code = Varchar(length=16, null=True, default=None)
    locale = Varchar(length=35, null=True, default=None)  # the locale it was rendered in
    recipient = Varchar(length=254, null=True, default=None)  # address it went to
    body = Text(null=True, default=None)  # what was sent (blanked by erasure)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class DeliveryEvent(Table):
    """A provider's report on a message (a Twilio status callback), kept as received."""

    id = UUID(primary_key=True)
    organization = UUID()
    nudge = ForeignKey(references=Nudge, null=False, on_delete=OnDelete.cascade, index=True)
    provider_id = Varchar(length=64)
    status = Varchar(length=16)  # the provider's word: sent, delivered, undelivered, failed
    error_code = Varchar(length=16, null=True, default=None)
    applied = Boolean(default=False)  # whether it moved the message's status forward
    received_at = Timestamptz(default=TimestamptzNow())


class SenderPace(Table):
    """The next free sending slot per sender, shared by every worker process."""

    id = UUID(primary_key=True)
    sender = Varchar(length=120, unique=True)
    next_at = Timestamptz()


class WorkerHeartbeat(Table):
    """Last time a worker process answered a ping; /readyz and operators read it."""

    id = UUID(primary_key=True)
    worker = Varchar(length=128, unique=True)
    token = Varchar(length=64, default="")
    seen_at = Timestamptz(default=TimestamptzNow())


class InboundMessage(Table):
    """A text a customer (or anyone) sent to an organisation's number, and what it was
    taken for. Those no rule could act on are the staff inbox (``needs_staff``) until
    someone closes them. ``provider_id`` is unique: a callback Twilio repeats is one
    message."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    customer = UUID(null=True, default=None)  # the sender, when a customer has that number
    provider_id = Varchar(length=64, unique=True)
    sender = Varchar(length=64, null=True, default=None)  # blanked by erasure
    recipient = Varchar(length=64, default="")  # the organisation's number it was sent to
    body = Text(null=True, default=None)  # blanked by erasure
    # stop | start | help | confirmed | answer | unmatched | unknown_sender
    outcome = Varchar(length=16)
    step = UUID(null=True, default=None)  # the step a confirmation completed
    question = UUID(null=True, default=None)  # the "why did you miss?" message answered
    slip = UUID(null=True, default=None)  # the slip an answer recorded
    needs_staff = Boolean(default=False)
    closed_at = Timestamptz(null=True, default=None)
    closed_by = UUID(null=True, default=None)  # the staff user who closed it
    received_at = Timestamptz(default=TimestamptzNow())
    created_at = Timestamptz(default=TimestamptzNow())


class FollowUp(Table):
    """The marker that a slip has been followed up (coaching.policy decided, the outbox
    and tasks were written): one per slip, so a second scheduler finds nothing to do."""

    id = UUID(primary_key=True)
    organization = UUID()
    slip = ForeignKey(references=Slip, null=False, unique=True, on_delete=OnDelete.cascade)
    action = Varchar(length=32)  # what the policy chose (see coaching.policy.Action)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffTask(Table):
    """Work for a person: an escalation the policy made (ability, money, repeated misses,
    a complaint), due within the organisation's service standard."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    customer = ForeignKey(references=Customer, null=True, on_delete=OnDelete.set_null)
    slip = ForeignKey(references=Slip, null=True, on_delete=OnDelete.set_null)
    enrollment = UUID(null=True, default=None)
    step = UUID(null=True, default=None)
    behaviour = Varchar(length=64, default="")
    reason = Varchar(length=32)  # ability | financial | escalate | repeated_misses | complaint
    title = Varchar(length=200)
    detail = Text(default="")
    # Unique: names the task's cause (``slip:<id>``, ``misses:<first missed step>``), so
    # rival schedulers can never open it twice.
    dedupe_key = Varchar(length=120, unique=True)
    status = Varchar(length=8, default="open")  # open | closed
    assigned_to = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    due_at = Timestamptz(index=True)
    outcome = Text(null=True, default=None)
    closed_at = Timestamptz(null=True, default=None)
    closed_by_user = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    closed_by_key = ForeignKey(references=ApiKey, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class Advisory(Table):
    """A one-off message to every customer a journey (or one of its behaviours) affects:
    proactive service ("the clinic opens late tomorrow"). Its messages are ordinary outbox
    rows with ``dedupe_key`` ``advisory:<id>:<customer>``, so each customer gets it once and
    consent, sending window and cap apply when it is sent."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    journey = UUID()
    journey_key = Varchar(length=64)
    behaviour = Varchar(length=64, default="")  # "" = everyone on the journey
    channel = Varchar(length=8)
    purpose = Varchar(length=16, default="informational")
    template = Text()
    send_at = Timestamptz()
    recipients = Integer(default=0)
    created_by_user = UUID(null=True, default=None)
    created_by_key = UUID(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())


class PhoneCheck(Table):
    """A code texted to a phone number a customer wants to use instead of the one on file
    (their page): the number changes only when they type the code back. Only the code's
    keyed hash is kept; the row is deleted when used, and by an erasure."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.cascade, index=True)
    phone = Varchar(length=20)  # E.164
    code_hash = Varchar(length=64)
    attempts = Integer(default=0)
    expires_at = Timestamptz()
    created_at = Timestamptz(default=TimestamptzNow())
