"""Dashboard tables: each organisation's ranking settings, source owners and
countermeasures, and the day rollups that keep rankings fast (``dashboards.rollups``)."""

from piccolo.columns import UUID, Date, ForeignKey, Integer, Text, Timestamptz, Varchar
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import Organization
from journeys.tables import Journey


class ActionPriorityTable(Table):
    """An organisation's FMEA Action Priority table and rating rules (JSON, see
    ``dashboards.priority.ActionPriorityConfig``); without a row the default applies."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, unique=True
    )
    definition = Text()
    updated_at = Timestamptz(default=TimestamptzNow())


class SourceOwner(Table):
    """Who answers for one error source (journey x behaviour x failure mode); a manager
    sets it, the ranking shows it. ``failure_mode`` is "" for slips logged without one."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    behaviour = Varchar(length=64)
    failure_mode = Varchar(length=64, default="")
    owner = Varchar(length=200)
    updated_at = Timestamptz(default=TimestamptzNow())


class Countermeasure(Table):
    """A prevention strategy put in place against one error source from a start date, so
    its rate before and after can be compared. ``failure_mode`` "" targets the slips
    logged without one; ``ended_at`` closes the after-period early."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    behaviour = Varchar(length=64)
    failure_mode = Varchar(length=64, default="")
    strategy = Varchar(length=32)
    owner = Varchar(length=200, default="")
    start_date = Date()
    started_at = Timestamptz()  # the start date's local midnight in the organisation's zone
    ended_at = Timestamptz(null=True, default=None)
    note = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())


class SlipDayRollup(Table):
    """Slips not voided per organisation, UTC day and error source, with the columns a
    ranking filters on (stage, site). Rewritten whole for an (organisation, day) by the
    fold job from raw slips, never by the slip writers. ``day`` counts UTC days since
    1970-01-01; ``failure_mode`` and ``site`` keep the slips' NULLs."""

    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    day = Integer()
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    behaviour = Varchar(length=64)
    failure_mode = Varchar(length=64, null=True, default=None)
    stage = Varchar(length=32)
    site = Varchar(length=100, null=True, default=None)
    slips = Integer()
    severity_sum = Integer()
    detected = Integer()  # slips with source "system"


class StepDayRollup(Table):
    """Steps due (not cancelled: the exposure) per organisation, UTC day, journey and
    behaviour; rewritten per (organisation, day) by the fold job."""

    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    day = Integer()
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    behaviour = Varchar(length=64)
    steps = Integer()


class SlipBlockRollup(Table):
    """:class:`SlipDayRollup` summed over blocks of ``dashboards.rollups.BLOCK_DAYS`` days
    (``day`` is the block's first day), so a long window sums a few rows per source per
    block instead of one per day. Rewritten by the fold job in the same transaction as any
    day rollup of the block, so it always equals the sum of its days."""

    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    day = Integer()
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    behaviour = Varchar(length=64)
    failure_mode = Varchar(length=64, null=True, default=None)
    stage = Varchar(length=32)
    site = Varchar(length=100, null=True, default=None)
    slips = Integer()
    severity_sum = Integer()
    detected = Integer()


class StepBlockRollup(Table):
    """:class:`StepDayRollup` summed over blocks of days, as :class:`SlipBlockRollup`."""

    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    day = Integer()
    journey = ForeignKey(references=Journey, null=False, on_delete=OnDelete.cascade)
    behaviour = Varchar(length=64)
    steps = Integer()


class RollupWatermark(Table):
    """When the fold job last started for an organisation: every change stamped earlier
    (less ``dashboards.rollups.LAG``) is in the day rollups."""

    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, unique=True
    )
    folded_at = Timestamptz()
