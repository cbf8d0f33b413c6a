"""What managers write and read about error sources: owners and countermeasures, with a
countermeasure's before/after comparison."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

# The prevention strategies of the research (docs/dashboards.md names what each means).
Strategy = Literal[
    "process_redesign",
    "redefine_role",
    "education",
    "training",
    "error_proofing",
    "reminder",
    "planning_prompt",
    "commitment",
    "feedback_incentive",
    "peer_support",
    "signage",
    "customer_mix",
    "staff_help",
]
STRATEGIES: tuple[str, ...] = Strategy.__args__  # type: ignore[attr-defined]
Key = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
OwnerName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Verdict = Literal[
    "fewer errors, significant", "more errors, significant", "no clear change", "not enough data"
]


class SourceRef(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """An error source: journey key, behaviour key, failure mode key (None: slips logged
    without one)."""

    journey: Key
    behaviour: Key
    failure_mode: Key | None = None


class OwnerIn(SourceRef, kw_only=True, forbid_unknown_fields=True):
    """Set (or, with ``owner`` null, clear) who answers for a source."""

    owner: OwnerName | None


class OwnerOut(msgspec.Struct, kw_only=True):
    """Who answers for a source."""

    journey: str
    behaviour: str
    failure_mode: str | None
    owner: str
    updated_at: datetime


class Owners(msgspec.Struct, kw_only=True):
    """Every owner set in the organisation."""

    items: list[OwnerOut]
    next_cursor: str | None = None


class CountermeasureIn(SourceRef, kw_only=True, forbid_unknown_fields=True):
    """A prevention strategy against one source, in place from ``start_date`` (a day in
    the organisation's timezone)."""

    strategy: Strategy
    start_date: date
    owner: Annotated[str, msgspec.Meta(max_length=200)] = ""
    note: Annotated[str, msgspec.Meta(max_length=2000)] = ""


class CountermeasureEnd(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """End a countermeasure: at the start of ``end_date`` (default: now)."""

    end_date: date | None = None


class Effect(msgspec.Struct, kw_only=True):
    """The target source's rate in equal periods before and after the start.

    Rates are slips per 100 exposures (due steps of the behaviour; enrollments of the
    journey where either period has no due steps). The interval is the exact conditional
    one (Clopper-Pearson on after/(after+before), mapped to the ratio); a null bound is
    unbounded.
    """

    before_since: datetime
    after_since: datetime
    after_until: datetime
    days: float
    before_count: int
    after_count: int
    before_exposure: int
    after_exposure: int
    exposure_unit: Literal["steps", "enrollments"] | None
    before_rate: float | None
    after_rate: float | None
    ratio: float | None
    ratio_lower: float | None
    ratio_upper: float | None
    verdict: Verdict


class CountermeasureOut(msgspec.Struct, kw_only=True):
    """A countermeasure and, once it has started, its before/after comparison."""

    id: UUID
    journey: str
    behaviour: str
    failure_mode: str | None
    label: str
    strategy: str
    owner: str
    start_date: date
    started_at: datetime
    ended_at: datetime | None
    note: str
    created_at: datetime
    effect: Effect | None


class Countermeasures(msgspec.Struct, kw_only=True):
    """The organisation's countermeasures, newest start first."""

    items: list[CountermeasureOut]
    next_cursor: str | None = None
