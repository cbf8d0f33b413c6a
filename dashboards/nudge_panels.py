"""The nudge panels from the outbox rows: effectiveness against the holdout, operations
and service standards. Formulas in docs/dashboards.md."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from core import clock
from core.tables import Organization
from core.tenancy import Tenant
from dashboards import outbox_queries as oq
from dashboards import queries, stats
from dashboards.nudge_schemas import (
    Effectiveness,
    EffectivenessRow,
    FailureCount,
    FatigueBucket,
    GroupOutcome,
    NudgePanels,
    Operations,
    StandardRow,
    Standards,
    StatusCount,
)
from dashboards.queries import DAY, Window
from dashboards.services import weeks

FATIGUE_THRESHOLD = 10  # messages a year: above it, opt-outs rise (Kaiser Permanente cohort)
FATIGUE_BUCKETS = ((1, 4), (5, 9), (10, 19), (20, None))
DayCounts = dict[int, tuple[int, int]]  # day of the window → (met, total)


@dataclass(frozen=True)
class Standard:
    """A service standard: ``target`` percent of what ``measure`` counts must be met.

    ``measure`` returns (met, total) per day of the window. Two are built in
    (:data:`STANDARDS`); standards on other rows join through :func:`register`.
    """

    key: str
    title: str
    target: float
    measure: Callable[[Tenant, Window], Awaitable[DayCounts]]
    # The organisation's own title and target, where it sets them (None: the ones above).
    own: Callable[[Tenant], Awaitable[tuple[str, float]]] | None = None

    async def for_tenant(self, tenant: Tenant) -> Standard:
        if self.own is None:
            return self
        title, target = await self.own(tenant)
        return dataclasses.replace(self, title=title, target=target)


async def _task_standard(tenant: Tenant) -> tuple[str, float]:
    """The organisation's service standard for staff tasks (an admin sets it)."""
    org = await Organization.objects().where(Organization.id == tenant.org_id).first()
    assert org is not None  # the tenant's own organisation
    target = float(org.task_target_percent)
    return f"{target:g}% of staff tasks handled within {org.task_due_hours:g} h", target


STANDARDS: list[Standard] = [
    Standard("nudges_delivered", "95% of nudges delivered", 95.0, oq.delivery_days),
    Standard(
        "tasks_in_time",
        "90% of staff tasks handled within 24 h",
        90.0,
        oq.task_days,
        _task_standard,
    ),
]


def register(standard: Standard) -> None:
    """Add a service standard to every organisation's panel (once per key)."""
    if all(s.key != standard.key for s in STANDARDS):
        STANDARDS.append(standard)


def _share(k: int, n: int) -> tuple[float | None, float | None, float | None]:
    interval = stats.wilson(k, n)
    if interval is None:
        return None, None, None
    return k / n, interval[0], interval[1]


def group_outcome(group: str, done: tuple[int, int], slipped: tuple[int, int]) -> GroupOutcome:
    """One group's completion and slip shares with Wilson intervals."""
    c, c_low, c_high = _share(*done)
    s, s_low, s_high = _share(*slipped)
    return GroupOutcome(
        group=group,  # type: ignore[arg-type]
        completed=done[0],
        settled=done[1],
        completion_rate=c,
        completion_low=c_low,
        completion_high=c_high,
        slipped=slipped[0],
        enrollments=slipped[1],
        slip_rate=s,
        slip_low=s_low,
        slip_high=s_high,
    )


def _difference(a: tuple[int, int], b: tuple[int, int]) -> tuple[Any, Any, Any]:
    interval = stats.newcombe(a[0], a[1], b[0], b[1])
    if interval is None:
        return None, None, None
    return a[0] / a[1] - b[0] / b[1], interval[0], interval[1]


def effectiveness(
    completion: dict[tuple[UUID, bool], tuple[int, int]],
    slipped: dict[tuple[UUID, bool], tuple[int, int]],
    confirm: dict[UUID, list[float]],
    journeys: dict[Any, queries.JourneyInfo],
) -> Effectiveness:
    """Nudged against holdout per journey with a holdout, ordered by journey key."""
    ids = {j for j, _ in completion} | {j for j, _ in slipped}
    rows = []
    for jid in sorted(ids, key=lambda j: journeys[j].key if j in journeys else "?"):
        done = {g: completion.get((jid, g), (0, 0)) for g in (False, True)}
        slips = {g: slipped.get((jid, g), (0, 0)) for g in (False, True)}
        cd, cd_low, cd_high = _difference(done[False], done[True])
        sd, sd_low, sd_high = _difference(slips[False], slips[True])
        minutes = confirm.get(jid, [])
        info = journeys.get(jid)
        rows.append(
            EffectivenessRow(
                journey=info.key if info else "?",
                journey_title=info.title if info else "?",
                nudged=group_outcome("nudged", done[False], slips[False]),
                holdout=group_outcome("holdout", done[True], slips[True]),
                completion_difference=cd,
                completion_difference_low=cd_low,
                completion_difference_high=cd_high,
                slip_difference=sd,
                slip_difference_low=sd_low,
                slip_difference_high=sd_high,
                confirmations_after_nudge=len(minutes),
                median_minutes_to_confirm=statistics.median(minutes) if minutes else None,
            )
        )
    return Effectiveness(rows=rows)


def fatigue(per_customer: list[int]) -> list[FatigueBucket]:
    """Customers per band of messages a year; bands from the threshold up are flagged."""
    out = []
    for low, high in FATIGUE_BUCKETS:
        n = sum(1 for m in per_customer if m >= low and (high is None or m <= high))
        label = f"{low}-{high}" if high is not None else f"{low}+"
        out.append(
            FatigueBucket(messages=label, customers=n, over_threshold=low >= FATIGUE_THRESHOLD)
        )
    return out


def standard_row(
    standard: Standard, counts: DayCounts, window: Window, tz: ZoneInfo
) -> StandardRow:
    """A standard's overall and weekly percentages (weeks counted back from the end)."""
    met = sum(m for m, _ in counts.values())
    total = sum(n for _, n in counts.values())
    spans = weeks(window.days)
    weekly_met = [sum(counts.get(d, (0, 0))[0] for d in range(a, b)) for a, b in spans]
    weekly_total = [sum(counts.get(d, (0, 0))[1] for d in range(a, b)) for a, b in spans]
    measured = 100 * met / total if total else None
    return StandardRow(
        key=standard.key,
        title=standard.title,
        target=standard.target,
        met=met,
        total=total,
        measured=measured,
        meets_target=None if measured is None else measured >= standard.target,
        weeks=[(window.since + DAY * a).astimezone(tz).date().isoformat() for a, _ in spans],
        weekly=[100 * m / n if n else None for m, n in zip(weekly_met, weekly_total, strict=True)],
        weekly_total=weekly_total,
    )


async def operations(tenant: Tenant, window: Window) -> Operations:
    """Statuses, failures, opt-outs, fatigue, lateness and queue depth."""
    revoked, messaged = await oq.opt_outs(tenant, window)
    rate, low, high = _share(revoked, messaged)
    per_customer = await oq.messages_per_customer(tenant, window.until)
    late = await oq.lateness_seconds(tenant, window)
    statuses = sorted(await oq.status_counts(tenant, window), key=lambda r: (-r[2], r[0], r[1]))
    failures = sorted(await oq.failure_counts(tenant, window), key=lambda r: (-r[2], r[0], r[1]))
    return Operations(
        statuses=[StatusCount(status=s, channel=c, count=n) for s, c, n in statuses],
        failures=[FailureCount(code=s, channel=c, count=n) for s, c, n in failures],
        messaged_customers=messaged,
        opted_out=revoked,
        opt_out_rate=rate,
        opt_out_low=low,
        opt_out_high=high,
        fatigue=fatigue(per_customer),
        fatigue_threshold=FATIGUE_THRESHOLD,
        customers_over_threshold=sum(1 for m in per_customer if m >= FATIGUE_THRESHOLD),
        messages_sent=len(late),
        lateness_p50_seconds=stats.percentile(late, 50),
        lateness_p99_seconds=stats.percentile(late, 99),
        queue_depth=await oq.queue_depth(tenant, clock.now()),
    )


async def panels(tenant: Tenant, window: Window, journey: str | None, tz: ZoneInfo) -> NudgePanels:
    """Every nudge panel for one window (``journey`` narrows the effectiveness panel)."""
    journeys = await queries.journeys(tenant)
    eff = effectiveness(
        await oq.completion_by_group(tenant, window, journey),
        await oq.slipped_by_group(tenant, window, journey),
        await oq.minutes_to_confirm(tenant, window, journey),
        journeys,
    )
    standards = [
        standard_row(await s.for_tenant(tenant), await s.measure(tenant, window), window, tz)
        for s in STANDARDS
    ]
    return NudgePanels(
        since=window.since,
        until=window.until,
        timezone=str(tz),
        effectiveness=eff,
        operations=await operations(tenant, window),
        standards=Standards(rows=standards),
    )
