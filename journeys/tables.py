"""Journey tables: definitions and their versions, customers and consent, enrollments, steps."""

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


class Journey(Table):
    """A customer role (e.g. 'take your blood-pressure tablet'); its content lives in versions."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=64)
    title = Varchar(length=200)
    current_version = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class JourneyVersion(Table):
    """An immutable, canonical definition; enrollments pin one, so edits never rewrite plans."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    version = Integer()
    digest = Varchar(length=64)
    definition = Text()  # canonical JSON (sorted keys) of the validated definition
    source = Text()  # the author's YAML as uploaded
    created_at = Timestamptz(default=TimestamptzNow())
    created_by_user = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    created_by_key = ForeignKey(references=ApiKey, null=True, on_delete=OnDelete.set_null)


class Customer(Table):
    """A person who co-produces the service; contact data is personal and erasable."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    external_ref = Varchar(length=128, null=True, default=None)
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    phone = Varchar(length=20, null=True, default=None)  # E.164
    email = Varchar(length=254, null=True, default=None)
    locale = Varchar(length=35, default="en")
    timezone = Varchar(length=64, default="UTC")
    # The window in which messages may go out, local HH:MM in the customer's own timezone.
    send_window_start = Varchar(length=5, default="08:00")
    send_window_end = Varchar(length=5, default="21:00")
    pseudonym = Varchar(length=32)  # stable, non-identifying id for statistics
    # The customer paused their reminders (on their page) until this moment.
    paused_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())
    erased_at = Timestamptz(null=True, default=None)


class CustomerChange(Table):
    """One change a customer made to their own preferences or details (their page), kept
    as a history. Contact details are recorded by field name only: the values are personal
    and the customer's row holds the current ones."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.cascade, index=True)
    field = Varchar(length=32)
    old_value = Varchar(length=64, default="")
    new_value = Varchar(length=64, default="")
    source = Varchar(length=16, default="customer")
    recorded_at = Timestamptz(default=TimestamptzNow())


class ConsentRecord(Table):
    """Append-only consent evidence; current consent = latest record per channel and purpose."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.cascade, index=True)
    channel = Varchar(length=8)  # sms | email
    purpose = Varchar(length=16)  # informational | marketing
    status = Varchar(length=8)  # granted | revoked
    source = Varchar(length=32)  # staff | web | sms_keyword | import | api
    text_shown = Text(default="")
    evidence = Text(default="")
    recorded_at = Timestamptz(default=TimestamptzNow())


class Enrollment(Table):
    """A customer on a journey version, with the anchors that time their steps."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.cascade, index=True)
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    journey_version = ForeignKey(references=JourneyVersion, null=False, on_delete=OnDelete.restrict)
    anchors = Text()  # JSON {name: ISO-8601 instant}
    timezone = Varchar(length=64)  # the customer's zone when enrolled; schedules use it
    holdout = Boolean(default=False)
    backfill = Boolean(default=False)
    status = Varchar(length=12, default="active")  # active | completed | cancelled
    # Indexed by a partial index of the enrollments still to refill (see the migrations).
    materialised_until = Timestamptz(null=True, default=None)
    ends_at = Timestamptz(null=True, default=None)  # after the last step; None = open-ended
    created_at = Timestamptz(default=TimestamptzNow())
    cancelled_at = Timestamptz(null=True, default=None)


class Step(Table):
    """One occurrence of a behaviour for one enrollment, with its due time.

    ``organization`` and ``customer`` are copies of the enrollment's; on PostgreSQL they
    have no foreign-key constraints (a migration drops them: the enrollment's cascade
    already covers both, and the checks were a third of writing a step).
    """

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    enrollment = ForeignKey(references=Enrollment, null=False, on_delete=OnDelete.cascade)
    customer = ForeignKey(references=Customer, null=False, on_delete=OnDelete.cascade, index=True)
    behaviour = Varchar(length=64)
    occurrence = Integer()  # 0-based index within the behaviour's schedule
    due_at = Timestamptz()  # indexed with the organisation: step_org_due
    grace_until = Timestamptz()
    confirmable = Boolean(default=True)
    status = Varchar(length=12, default="pending")  # pending|done|missed|excused|cancelled
    completed_at = Timestamptz(null=True, default=None)
    completed_via = Varchar(length=32, null=True, default=None)
    created_at = Timestamptz(default=TimestamptzNow())
