"""The dashboards' rows: exactly what each panel plots, for JSON, CSV and the figures."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

import msgspec

RankBy = Literal["priority", "count", "ap"]
# What a Pareto bar measures: slips, or slips weighted by their behaviour's importance.
Measure = Literal["count", "weighted"]


class RankingRow(msgspec.Struct, kw_only=True):
    """One error source (journey x behaviour x failure mode) in the window."""

    rank: int
    label: str
    journey: str
    journey_title: str
    behaviour: str
    behaviour_title: str
    failure_mode: str | None
    failure_mode_title: str | None
    stage: str
    guidance: str
    count: int
    customers: int
    exposure: int
    exposure_unit: Literal["steps", "enrollments"] | None
    rate: float | None  # slips per 100 exposures; None without exposure
    importance: float
    importance_source: Literal["definition", "severity"]
    priority: float | None  # importance x rate
    share: float  # of all slips in the window (0-1)
    cumulative_share: float  # down the ranking (0-1)
    previous_count: int
    previous_rate: float | None
    change: float | None  # relative change against the previous equal period
    severity: int
    occurrence: int
    detection: int
    action_priority: Literal["H", "M", "L"]
    rpn: int
    tied: bool
    owner: str | None = None  # who answers for the source, set by a manager


class Ranking(msgspec.Struct, kw_only=True):
    """Error sources ranked; ``total`` is every counted slip in the window."""

    since: datetime
    until: datetime
    by: RankBy
    total: int
    items: list[RankingRow]


class ParetoBar(msgspec.Struct, kw_only=True):
    """One bar of the Pareto chart, largest first."""

    label: str
    value: float
    cumulative_percent: float
    vital: bool


class Pareto(msgspec.Struct, kw_only=True):
    """Bars by ``measure`` (slips, or importance x slips) with their cumulative share."""

    measure: Measure
    bars: list[ParetoBar]


class MatrixPoint(msgspec.Struct, kw_only=True):
    """One source placed by rate (x) and importance (y); size = customers affected."""

    label: str
    rate: float
    importance: float
    customers: int
    count: int
    stage: str
    guidance: str
    owner: str | None = None  # who answers for the source (the ranking's owner)


class Matrix(msgspec.Struct, kw_only=True):
    """The importance x frequency matrix and its quadrant guides; sources without
    exposure have no rate and are listed in ``unplaced``."""

    points: list[MatrixPoint]
    rate_guide: float
    importance_guide: float
    unplaced: list[str]


class HorrorRow(msgspec.Struct, kw_only=True):
    """One of the worst sources with its tick marks per day."""

    rank: int
    label: str
    total: int
    daily: list[int]


class Horrors(msgspec.Struct, kw_only=True):
    """Hierarchy of Horrors: the top sources per day, and the daily quality index
    (Σ importance x slips per 1,000 due steps; None on a day without due steps)."""

    days: list[str]
    rows: list[HorrorRow]
    weighted: list[float]
    exposures: list[int]
    index: list[float | None]


class Trend(msgspec.Struct, kw_only=True):
    """A top source week by week; ``rising`` when its last week rose >50% on the one
    before with at least the threshold's number of slips."""

    label: str
    weeks: list[str]
    counts: list[int]
    exposures: list[int]
    rates: list[float | None]
    rising: bool


class TrendMark(msgspec.Struct, kw_only=True):
    """A countermeasure's start on the trend chart: ``position`` is in weeks on the
    chart's axis (0 = the middle of the first week)."""

    label: str  # the source it targets
    strategy: str
    start_date: str
    position: float


class Trends(msgspec.Struct, kw_only=True):
    """Weekly trends of the top sources."""

    rows: list[Trend]
    marks: list[TrendMark] = msgspec.field(default_factory=list)


class BreakdownRow(msgspec.Struct, kw_only=True):
    """Slips with one value of one dimension."""

    dimension: str
    value: str
    count: int
    share: float


class Breakdowns(msgspec.Struct, kw_only=True):
    """Slips by root cause, deficit, stage, site, channel and source."""

    rows: list[BreakdownRow]


class Dashboard(msgspec.Struct, kw_only=True):
    """Every panel of the slips-and-steps dashboard for one window."""

    since: datetime
    until: datetime
    timezone: str
    total: int
    ranking: Ranking
    pareto: Pareto
    matrix: Matrix
    horrors: Horrors
    trends: Trends
    breakdowns: Breakdowns
