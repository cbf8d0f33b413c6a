"""The nudge panels' rows: effectiveness against the holdout, operations and service
standards; exactly what each figure plots and each CSV holds."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec


class GroupOutcome(msgspec.Struct, kw_only=True):
    """One group's outcomes in the window, with Wilson 95% intervals."""

    group: Literal["nudged", "holdout"]
    completed: int  # steps done
    settled: int  # steps done or missed
    completion_rate: float | None
    completion_low: float | None
    completion_high: float | None
    slipped: int  # enrollments with a slip
    enrollments: int
    slip_rate: float | None
    slip_low: float | None
    slip_high: float | None


class EffectivenessRow(msgspec.Struct, kw_only=True):
    """A journey with a holdout: nudged against holdout customers. Differences are
    nudged minus holdout, with Newcombe's hybrid score 95% interval."""

    journey: str
    journey_title: str
    nudged: GroupOutcome
    holdout: GroupOutcome
    completion_difference: float | None
    completion_difference_low: float | None
    completion_difference_high: float | None
    slip_difference: float | None
    slip_difference_low: float | None
    slip_difference_high: float | None
    confirmations_after_nudge: int
    median_minutes_to_confirm: float | None


class Effectiveness(msgspec.Struct, kw_only=True):
    """Nudge effectiveness per journey with a holdout."""

    rows: list[EffectivenessRow]


class StatusCount(msgspec.Struct, kw_only=True):
    status: str
    channel: str
    count: int


class FailureCount(msgspec.Struct, kw_only=True):
    code: str
    channel: str
    count: int


class FatigueBucket(msgspec.Struct, kw_only=True):
    """Customers by messages received in the 365 days up to the period's end."""

    messages: str  # e.g. "1-4", "10-19"
    customers: int
    over_threshold: bool


class Operations(msgspec.Struct, kw_only=True):
    """The message pipeline's health in the window."""

    statuses: list[StatusCount]
    failures: list[FailureCount]
    messaged_customers: int
    opted_out: int
    opt_out_rate: float | None
    opt_out_low: float | None
    opt_out_high: float | None
    fatigue: list[FatigueBucket]
    fatigue_threshold: int
    customers_over_threshold: int
    messages_sent: int
    lateness_p50_seconds: float | None
    lateness_p99_seconds: float | None
    queue_depth: int


class StandardRow(msgspec.Struct, kw_only=True):
    """One service standard: measured share against its target, overall and weekly."""

    key: str
    title: str
    target: float  # percent
    met: int
    total: int
    measured: float | None  # percent; None when nothing was measured
    meets_target: bool | None
    weeks: list[str]
    weekly: list[float | None]  # percent per week
    weekly_total: list[int]


class Standards(msgspec.Struct, kw_only=True):
    rows: list[StandardRow]


class NudgePanels(msgspec.Struct, kw_only=True):
    """Every nudge panel for one window."""

    since: datetime
    until: datetime
    timezone: str
    effectiveness: Effectiveness
    operations: Operations
    standards: Standards
