"""Slip tables: the customer errors logged, reported, detected or imported."""

from piccolo.columns import UUID, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import ApiKey, Organization, StaffUser
from journeys.tables import Customer, Enrollment, Journey, JourneyVersion, Step


class Slip(Table):
    """A customer error: one tick mark on the manager's sheet (logged, reported or detected)."""

    # Indexes beside the columns' (slips.piccolo_migrations): (organization, occurred_at) for
    # every windowed read, which also serves the organisation alone, and the partial
    # (organization, journey, behaviour, failure_mode, occurred_at, customer) from which
    # the ranking counts each error source's distinct customers in a window.
    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    journey_version = ForeignKey(references=JourneyVersion, null=False, on_delete=OnDelete.restrict)
    behaviour = Varchar(length=64)
    failure_mode = Varchar(length=64, null=True, default=None)
    root_cause = Varchar(length=32, null=True, default=None)
    deficit = Varchar(length=32, null=True, default=None)
    stage = Varchar(length=32)
    severity = Integer()
    source = Varchar(length=8)  # staff | system | customer | import
    # error | complaint: a complaint gets the five-step service recovery (coaching.policy).
    kind = Varchar(length=12, default="error")
    customer = ForeignKey(references=Customer, null=True, on_delete=OnDelete.set_null)
    enrollment = ForeignKey(references=Enrollment, null=True, on_delete=OnDelete.set_null)
    step = ForeignKey(references=Step, null=True, on_delete=OnDelete.set_null)
    reporter_user = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    reporter_key = ForeignKey(references=ApiKey, null=True, on_delete=OnDelete.set_null)
    site = Varchar(length=100, null=True, default=None)
    channel = Varchar(length=32, null=True, default=None)
    note = Text(default="")
    occurred_at = Timestamptz()
    # Indexed: the follow-up job reads the last days' slips on every scheduler tick.
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
    updated_at = Timestamptz(default=TimestamptzNow())
    idempotency_key = Varchar(length=200, null=True, default=None)
    voided_at = Timestamptz(null=True, default=None)
    void_reason = Varchar(length=200, null=True, default=None)


class SlipChange(Table):
    """Where a slip stood before and after a correction or a void: the days whose counts
    it left and joined. Appended in the changing transaction (never by intake), so jobs
    that keep per-day aggregates (``dashboards.rollups``) know which days to recount,
    including the day a slip was moved away from."""

    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    slip = ForeignKey(references=Slip, null=False, on_delete=OnDelete.cascade)
    occurred_before = Timestamptz()
    occurred_after = Timestamptz()
    changed_at = Timestamptz()
