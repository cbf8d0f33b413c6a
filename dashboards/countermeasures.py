"""Countermeasures: prevention strategies against one error source, and whether the
source's rate changed after each started (equal periods before and after, the exact
conditional interval for the rate ratio; see docs/dashboards.md)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from core import clock
from core.db import run_sql, write_transaction
from core.errors import FieldError
from core.ids import as_uuid
from core.tenancy import Tenant
from dashboards import queries, stats
from dashboards.errors import CountermeasureNotFound, DashboardInvalid
from dashboards.measure_schemas import (
    CountermeasureEnd,
    CountermeasureIn,
    CountermeasureOut,
    Effect,
    Verdict,
)
from dashboards.owners import resolve
from dashboards.queries import EXPOSED_STATUSES, Filters, JourneyInfo, SourceKey, Window
from dashboards.tables import Countermeasure

MAX_AFTER = timedelta(days=366)  # the after-period is at most this long (as the dashboards)
NO_FILTERS = Filters()


def source_label(key: SourceKey, journeys: dict[Any, JourneyInfo]) -> str:
    """'Behaviour · failure mode (journey)' from the definitions' titles."""
    journey_id, behaviour, mode = key
    j = journeys.get(journey_id)
    info = j.behaviours.get(behaviour) if j else None
    title = info.title if info else behaviour
    mode_title = (info.modes.get(mode, (mode, ""))[0] if info else mode) if mode else None
    return title + (f" · {mode_title}" if mode_title else "") + f" ({j.title if j else '?'})"


async def _slips(tenant: Tenant, key: SourceKey, window: Window, filters: Filters) -> int:
    """Slips of the source in the window, narrowed to the filters' site and stage."""
    journey_id, behaviour, mode = key
    sql = (
        "SELECT count(*) AS n FROM slip s WHERE s.organization = {} AND s.voided_at IS NULL"
        " AND s.journey = {} AND s.behaviour = {} AND s.occurred_at >= {}"
        " AND s.occurred_at < {}"
    )
    args: list[Any] = [tenant.org_id, journey_id, behaviour, window.since, window.until]
    sql += " AND s.failure_mode IS NULL" if mode is None else " AND s.failure_mode = {}"
    args += [] if mode is None else [mode]
    for column, value in (("s.site", filters.site), ("s.stage", filters.stage)):
        if value is not None:
            sql += f" AND {column} = {{}}"
            args.append(value)
    rows = await run_sql(sql, *args)
    return int(rows[0]["n"])


async def _due_steps(tenant: Tenant, journey_id: UUID, behaviour: str, window: Window) -> int:
    statuses = ", ".join(f"'{s}'" for s in EXPOSED_STATUSES)
    rows = await run_sql(
        "SELECT count(*) AS n FROM step st JOIN enrollment e ON e.id = st.enrollment"
        " WHERE st.organization = {} AND e.organization = {} AND e.journey = {}"
        " AND st.behaviour = {} AND st.due_at >= {} AND st.due_at < {}"
        f" AND st.status IN ({statuses})",
        tenant.org_id,
        tenant.org_id,
        journey_id,
        behaviour,
        window.since,
        window.until,
    )
    return int(rows[0]["n"])


def verdict(ratio: stats.RateRatio) -> Verdict:
    """Plain words for the interval: below 1 throughout, above 1 throughout, or neither."""
    if ratio.lower is None and ratio.upper is None:
        return "not enough data"
    if ratio.upper is not None and ratio.upper < 1:
        return "fewer errors, significant"
    if ratio.lower is not None and ratio.lower > 1:
        return "more errors, significant"
    return "no clear change"


async def effect(
    tenant: Tenant,
    key: SourceKey,
    started_at: datetime,
    ended_at: datetime | None,
    filters: Filters = NO_FILTERS,
) -> Effect | None:
    """The source's rate in the after-period ``[start, end or now)`` (at most 366 days)
    and the equal period before it; None until the countermeasure has started. A site or
    stage filter narrows the slips; steps carry no site, so the exposure stays whole."""
    end = min(ended_at or clock.now(), clock.now(), started_at + MAX_AFTER)
    if end <= started_at:
        return None
    after = Window(started_at, end)
    before = Window(started_at - (end - started_at), started_at)
    k_after = await _slips(tenant, key, after, filters)
    k_before = await _slips(tenant, key, before, filters)
    e_after = await _due_steps(tenant, key[0], key[1], after)
    e_before = await _due_steps(tenant, key[0], key[1], before)
    unit: str | None = "steps"
    if not (e_after and e_before):  # steps in only one period would compare unlike things
        e_after = (await queries.active_enrollments(tenant, after)).get(key[0], 0)
        e_before = (await queries.active_enrollments(tenant, before)).get(key[0], 0)
        unit = "enrollments" if e_after and e_before else None
        if unit is None:
            e_after = e_before = 0
    ratio = stats.rate_ratio(k_after, e_after, k_before, e_before)
    return Effect(
        before_since=before.since,
        after_since=after.since,
        after_until=after.until,
        days=(end - started_at) / timedelta(days=1),
        before_count=k_before,
        after_count=k_after,
        before_exposure=e_before,
        after_exposure=e_after,
        exposure_unit=unit,  # type: ignore[arg-type]
        before_rate=100 * k_before / e_before if e_before else None,
        after_rate=100 * k_after / e_after if e_after else None,
        ratio=ratio.ratio,
        ratio_lower=ratio.lower,
        ratio_upper=ratio.upper,
        verdict=verdict(ratio),
    )


def local_midnight(day: date, tz: ZoneInfo) -> datetime:
    """The start of ``day`` in ``tz``."""
    return datetime.combine(day, time(0), tz)


async def create(tenant: Tenant, data: CountermeasureIn, tz: ZoneInfo) -> CountermeasureOut:
    """Record a countermeasure; the source must exist in the organisation's journeys."""
    key = await resolve(tenant, data)
    started_at = local_midnight(data.start_date, tz)
    if not clock.in_range(started_at):
        raise DashboardInvalid(
            "invalid start", [FieldError("start_date", "must be a day from 1900 to 2199")]
        )
    row = tenant.new(
        Countermeasure,
        journey=key[0],
        behaviour=key[1],
        failure_mode=key[2] or "",
        strategy=data.strategy,
        owner=data.owner,
        start_date=data.start_date,
        started_at=started_at,
        note=data.note,
        created_at=clock.now(),
    )
    async with write_transaction():
        await row.save()
    return await one(tenant, as_uuid(row.id))


async def end(
    tenant: Tenant, cm_id: UUID, data: CountermeasureEnd, tz: ZoneInfo
) -> CountermeasureOut:
    """End a countermeasure at the start of ``end_date`` (default: now)."""
    row = await tenant.get(Countermeasure, cm_id, CountermeasureNotFound, "countermeasure")
    at = local_midnight(data.end_date, tz) if data.end_date else clock.now()
    if data.end_date is not None and (not clock.in_range(at) or at <= clock.as_utc(row.started_at)):
        raise DashboardInvalid(
            "invalid end", [FieldError("end_date", "must be a day after the start, before 2200")]
        )
    async with write_transaction():
        await tenant.update(Countermeasure, {Countermeasure.ended_at: at}).where(
            Countermeasure.id == cm_id
        )
    return await one(tenant, cm_id)


async def delete(tenant: Tenant, cm_id: UUID) -> None:
    """Delete a countermeasure recorded by mistake."""
    await tenant.get(Countermeasure, cm_id, CountermeasureNotFound, "countermeasure")
    async with write_transaction():
        await tenant.delete(Countermeasure).where(Countermeasure.id == cm_id)


def _key(row: dict[str, Any]) -> SourceKey:
    return (as_uuid(row["journey"]), row["behaviour"], row["failure_mode"] or None)


async def _out(
    tenant: Tenant,
    row: dict[str, Any],
    journeys: dict[Any, JourneyInfo],
    filters: Filters = NO_FILTERS,
) -> CountermeasureOut:
    key = _key(row)
    started = clock.as_utc(row["started_at"])
    ended = clock.as_utc(row["ended_at"]) if row["ended_at"] else None
    j = journeys.get(key[0])
    return CountermeasureOut(
        id=as_uuid(row["id"]),
        journey=j.key if j else "?",
        behaviour=key[1],
        failure_mode=key[2],
        label=source_label(key, journeys),
        strategy=row["strategy"],
        owner=row["owner"],
        start_date=_as_date(row["start_date"]),
        started_at=started,
        ended_at=ended,
        note=row["note"],
        created_at=clock.as_utc(row["created_at"]),
        effect=await effect(tenant, key, started, ended, filters),
    )


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def one(tenant: Tenant, cm_id: UUID) -> CountermeasureOut:
    """One countermeasure with its comparison."""
    row = await tenant.select(Countermeasure).where(Countermeasure.id == cm_id).first()
    if row is None:
        raise CountermeasureNotFound(f"countermeasure {cm_id} not found")
    return await _out(tenant, row, await queries.journeys(tenant))


def _shown(
    row: dict[str, Any],
    journeys: dict[Any, JourneyInfo],
    filters: Filters,
    period: Window | None,
) -> bool:
    """Whether a countermeasure passes a page's filters: it targets the journey, a
    behaviour of the stage, and was in force at some time in the period."""
    journey_id, behaviour, _ = _key(row)
    j = journeys.get(journey_id)
    if filters.journey is not None and (j is None or j.key != filters.journey):
        return False
    if filters.stage is not None:
        info = j.behaviours.get(behaviour) if j else None
        if info is None or info.stage != filters.stage:
            return False
    if period is not None:
        ended = clock.as_utc(row["ended_at"]) if row["ended_at"] else None
        if clock.as_utc(row["started_at"]) >= period.until or (
            ended is not None and ended <= period.since
        ):
            return False
    return True


async def list_all(
    tenant: Tenant, filters: Filters = NO_FILTERS, period: Window | None = None
) -> list[CountermeasureOut]:
    """The organisation's countermeasures, newest start first, each with its comparison;
    ``filters`` and ``period`` choose which (see :func:`_shown`) and narrow the slips
    compared to a site and stage."""
    rows = await tenant.select(Countermeasure).order_by(Countermeasure.started_at, ascending=False)
    journeys = await queries.journeys(tenant)
    return [
        await _out(tenant, r, journeys, filters)
        for r in rows
        if _shown(r, journeys, filters, period)
    ]


async def starts_in(tenant: Tenant, window: Window) -> list[tuple[SourceKey, str, datetime, date]]:
    """Countermeasures starting in the window: (source, strategy, start, start date)."""
    rows = await tenant.select(Countermeasure).where(
        (Countermeasure.started_at >= window.since) & (Countermeasure.started_at < window.until)
    )
    return [
        (
            (as_uuid(r["journey"]), r["behaviour"], r["failure_mode"] or None),
            r["strategy"],
            clock.as_utc(r["started_at"]),
            _as_date(r["start_date"]),
        )
        for r in rows
    ]
