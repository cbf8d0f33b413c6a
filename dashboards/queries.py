"""SQL aggregates for the dashboards: plain rows, one organisation at a time.

Every statement is written once for both databases (only the day-bucket expression
differs), filters on the organisation first and leaves voided slips out. The counts come
back per error source (journey x behaviour x failure mode) and per day of the window;
the panels (``dashboards.services``) are built from these rows in Python, so each number
plotted is a sum of rows that were counted once, by the database.

Behaviour importance is read from the journey versions' definitions (immutable, decoded
once per process by ``journeys.services``): a behaviour takes its importance from the
newest version of its journey that still defines it, so no copy can go stale.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from core.db import LoopPoolPostgresEngine, engine, run_sql
from core.tenancy import Tenant
from dashboards.priority import ActionPriorityConfig, decode
from dashboards.tables import ActionPriorityTable
from journeys.services import definitions_by_version
from journeys.tables import Journey, JourneyVersion

DAY = timedelta(days=1)
# Every step of a behaviour that fell due is exposure, whatever became of it (done,
# missed, pending, or excused because the behaviour asks for no confirmation); only a
# cancelled step was never asked of anyone.
EXPOSED_STATUSES = ("pending", "done", "missed", "excused")

# (journey id, behaviour key, failure mode key or None)
SourceKey = tuple[UUID, str, str | None]
BehaviourKey = tuple[UUID, str]


@dataclass(frozen=True)
class Window:
    """A half-open period ``[since, until)``, counted in days from ``since``."""

    since: datetime
    until: datetime

    @property
    def days(self) -> int:
        """How many (24-hour) days the window spans; a partial last day counts."""
        return max(1, math.ceil((self.until - self.since) / DAY))

    def previous(self) -> Window:
        """The equal period just before this one."""
        return Window(self.since - (self.until - self.since), self.since)


@dataclass(frozen=True)
class Filters:
    """Optional narrowing: one journey (key), one site, one stage."""

    journey: str | None = None
    site: str | None = None
    stage: str | None = None


@dataclass
class SourceTotals:
    """One error source's slips in the window."""

    count: int = 0
    customers: int = 0  # distinct identified customers (slips without one are not counted)
    severity_sum: int = 0
    detected: int = 0  # found by the system itself (missed steps)


@dataclass(frozen=True)
class BehaviourInfo:
    """What the definitions say about a behaviour."""

    title: str
    stage: str
    importance: int
    modes: dict[str, tuple[str, str]]  # failure mode key → (title, guidance)


@dataclass
class Facts:
    """Everything counted for one window."""

    window: Window
    totals: dict[SourceKey, SourceTotals] = field(default_factory=dict)
    daily: dict[SourceKey, dict[int, int]] = field(default_factory=dict)  # day → slips
    steps: dict[BehaviourKey, dict[int, int]] = field(default_factory=dict)  # day → due steps
    enrollments: dict[UUID, int] = field(default_factory=dict)  # journey → active enrollments

    def exposure(self, journey: UUID, behaviour: str) -> tuple[int, str | None]:
        """Due steps of the behaviour in the window, else the journey's enrollments."""
        steps = sum(self.steps.get((journey, behaviour), {}).values())
        if steps:
            return steps, "steps"
        enrolled = self.enrollments.get(journey, 0)
        return (enrolled, "enrollments") if enrolled else (0, None)


def is_postgres() -> bool:
    """Whether the engine is PostgreSQL (the time arithmetic differs)."""
    return isinstance(engine(), LoopPoolPostgresEngine)


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


def day_index(column: str, since: datetime) -> str:
    """SQL for the 0-based day of ``column`` counted in 24-hour days from ``since``.

    ``since`` is written into the text as a number (never user text), so both databases
    can group by the expression.
    """
    epoch = since.astimezone(UTC).timestamp()
    if is_postgres():
        return f"floor((extract(epoch from {column}) - {epoch:.6f}) / 86400)::int"
    return f"CAST((julianday({column}) - {epoch / 86400 + 2440587.5:.9f}) AS INTEGER)"


def _slip_scope(tenant: Tenant, window: Window, filters: Filters) -> tuple[str, list[Any]]:
    """FROM and WHERE of the slips counted: this organisation's, not voided, in the window."""
    sql = (
        " FROM slip s JOIN journey j ON j.id = s.journey"
        " WHERE s.organization = {} AND s.voided_at IS NULL"
        " AND s.occurred_at >= {} AND s.occurred_at < {}"
    )
    args: list[Any] = [tenant.org_id, window.since, window.until]
    for column, value in (("j.key", filters.journey), ("s.site", filters.site)):
        if value is not None:
            sql += f" AND {column} = {{}}"
            args.append(value)
    if filters.stage is not None:
        sql += " AND s.stage = {}"
        args.append(filters.stage)
    return sql, args


async def source_totals(
    tenant: Tenant, window: Window, filters: Filters
) -> dict[SourceKey, SourceTotals]:
    """Slips, distinct customers, summed severity and system-detected slips per source."""
    scope, args = _slip_scope(tenant, window, filters)
    rows = await run_sql(
        "SELECT s.journey AS journey_id, s.behaviour AS behaviour, s.failure_mode AS mode,"
        " count(*) AS n, count(DISTINCT s.customer) AS customers,"
        " sum(s.severity) AS severity_sum,"
        " sum(CASE WHEN s.source = 'system' THEN 1 ELSE 0 END) AS detected"
        f"{scope} GROUP BY s.journey, s.behaviour, s.failure_mode",
        *args,
    )
    return {
        (_uuid(r["journey_id"]), r["behaviour"], r["mode"]): SourceTotals(
            int(r["n"]), int(r["customers"]), int(r["severity_sum"]), int(r["detected"])
        )
        for r in rows
    }


async def source_days(
    tenant: Tenant, window: Window, filters: Filters
) -> dict[SourceKey, dict[int, int]]:
    """Slips per source and day of the window."""
    scope, args = _slip_scope(tenant, window, filters)
    day = day_index("s.occurred_at", window.since)
    rows = await run_sql(
        "SELECT s.journey AS journey_id, s.behaviour AS behaviour, s.failure_mode AS mode,"
        f" {day} AS day, count(*) AS n{scope} GROUP BY 1, 2, 3, 4",
        *args,
    )
    out: dict[SourceKey, dict[int, int]] = defaultdict(dict)
    for r in rows:
        out[(_uuid(r["journey_id"]), r["behaviour"], r["mode"])][int(r["day"])] = int(r["n"])
    return dict(out)


async def step_days(
    tenant: Tenant, window: Window, filters: Filters
) -> dict[BehaviourKey, dict[int, int]]:
    """Due steps (the exposure) per journey, behaviour and day of the window.

    Steps carry no site, so a site filter narrows the slips but not this denominator.
    """
    day = day_index("st.due_at", window.since)
    statuses = ", ".join(f"'{s}'" for s in EXPOSED_STATUSES)
    sql = (
        f"SELECT e.journey AS journey_id, st.behaviour AS behaviour, {day} AS day,"
        " count(*) AS n FROM step st JOIN enrollment e ON e.id = st.enrollment"
        " WHERE st.organization = {} AND e.organization = {}"
        f" AND st.due_at >= {{}} AND st.due_at < {{}} AND st.status IN ({statuses})"
    )
    args: list[Any] = [tenant.org_id, tenant.org_id, window.since, window.until]
    if filters.journey is not None:
        sql += " AND e.journey IN (SELECT id FROM journey WHERE organization = {} AND key = {})"
        args += [tenant.org_id, filters.journey]
    rows = await run_sql(sql + " GROUP BY 1, 2, 3", *args)
    out: dict[BehaviourKey, dict[int, int]] = defaultdict(dict)
    for r in rows:
        out[(_uuid(r["journey_id"]), r["behaviour"])][int(r["day"])] = int(r["n"])
    return dict(out)


async def active_enrollments(tenant: Tenant, window: Window) -> dict[UUID, int]:
    """Enrollments per journey that were active at some time in the window."""
    rows = await run_sql(
        "SELECT e.journey AS journey_id, count(*) AS n FROM enrollment e"
        " WHERE e.organization = {} AND e.created_at < {}"
        " AND (e.cancelled_at IS NULL OR e.cancelled_at >= {})"
        " AND (e.ends_at IS NULL OR e.ends_at >= {}) GROUP BY 1",
        tenant.org_id,
        window.until,
        window.since,
        window.since,
    )
    return {_uuid(r["journey_id"]): int(r["n"]) for r in rows}


async def facts(tenant: Tenant, window: Window, filters: Filters) -> Facts:
    """Every count the panels need for one window."""
    return Facts(
        window,
        await source_totals(tenant, window, filters),
        await source_days(tenant, window, filters),
        await step_days(tenant, window, filters),
        await active_enrollments(tenant, window),
    )


BREAKDOWN_COLUMNS = ("root_cause", "deficit", "stage", "site", "channel", "source")


async def breakdown_counts(
    tenant: Tenant, window: Window, filters: Filters
) -> list[dict[str, Any]]:
    """Slips per combination of root cause, deficit, stage, site, channel and source."""
    scope, args = _slip_scope(tenant, window, filters)
    columns = ", ".join(f"s.{c} AS {c}" for c in BREAKDOWN_COLUMNS)
    groups = ", ".join(str(i) for i in range(1, len(BREAKDOWN_COLUMNS) + 1))
    rows = await run_sql(f"SELECT {columns}, count(*) AS n{scope} GROUP BY {groups}", *args)
    return [{**{c: r[c] for c in BREAKDOWN_COLUMNS}, "n": int(r["n"])} for r in rows]


@dataclass(frozen=True)
class JourneyInfo:
    """A journey's key and title, and what its definitions say about its behaviours."""

    key: str
    title: str
    behaviours: dict[str, BehaviourInfo]


async def journeys(tenant: Tenant) -> dict[UUID, JourneyInfo]:
    """The organisation's journeys; each behaviour described by the newest version of its
    journey that defines it (importance, stage, titles, failure-mode guidance)."""
    found = await tenant.select(Journey, Journey.id, Journey.key, Journey.title)
    versions = await tenant.select(
        JourneyVersion, JourneyVersion.id, JourneyVersion.journey, JourneyVersion.version
    ).order_by(JourneyVersion.version, ascending=False)
    decoded, _broken = await definitions_by_version(_uuid(v["id"]) for v in versions)
    behaviours: dict[UUID, dict[str, BehaviourInfo]] = defaultdict(dict)
    for v in versions:
        definition = decoded.get(_uuid(v["id"]))
        if definition is None:  # a definition that no longer decodes: severity stands in
            continue
        known = behaviours[_uuid(v["journey"])]
        for b in definition.behaviours:
            if b.key not in known:
                modes = {m.key: (m.title or m.key, m.guidance) for m in b.failure_modes}
                known[b.key] = BehaviourInfo(b.title, b.stage, b.importance, modes)
    return {
        _uuid(j["id"]): JourneyInfo(j["key"], j["title"], behaviours.get(_uuid(j["id"]), {}))
        for j in found
    }


async def action_priority_config(tenant: Tenant) -> ActionPriorityConfig:
    """The organisation's Action Priority table, or the default."""
    row = await tenant.select(ActionPriorityTable, ActionPriorityTable.definition).first()
    return decode(row["definition"] if row else None)
