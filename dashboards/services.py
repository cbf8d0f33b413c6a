"""Dashboard panels from the counted rows: ranking, Pareto, matrix, Hierarchy of Horrors,
trends and breakdowns. The formulas are written down in docs/dashboards.md."""

from __future__ import annotations

import asyncio
import csv
import io
import statistics
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import msgspec

from core import clock
from core.db import write_transaction
from core.errors import FieldError
from core.identity import organization_by_id
from core.tenancy import Tenant
from dashboards import countermeasures, queries, rollups
from dashboards import priority as ap
from dashboards.errors import DashboardInvalid
from dashboards.owners import owners_by_source
from dashboards.queries import DAY, Facts, Filters, JourneyInfo, SourceKey, Window
from dashboards.schemas import (
    BreakdownRow,
    Breakdowns,
    Dashboard,
    HorrorRow,
    Horrors,
    Matrix,
    MatrixPoint,
    Measure,
    Pareto,
    ParetoBar,
    RankBy,
    Ranking,
    RankingRow,
    Trend,
    TrendMark,
    Trends,
)
from dashboards.tables import ActionPriorityTable

DEFAULT_DAYS = 30
MAX_DAYS = 366
TOP_MIN, TOP_MAX = 5, 8  # the Hierarchy of Horrors lists five to eight sources
VITAL_SHARE = 80.0  # percent: the "vital few" are the bars up to this cumulative share
RISING_FACTOR = 1.5  # a rate up more than 50% …
RISING_MIN_EVENTS = 5  # … with at least this many slips in the last week
NOT_RECORDED = "(not recorded)"


# --- windows -------------------------------------------------------------------------------


def window_of(since: datetime | None, until: datetime | None) -> Window:
    """The window asked for: default the last 30 days up to now; at most 366 days."""
    errors = [
        FieldError(name, "must be a time with an offset between 1900 and 2200")
        for name, value in (("since", since), ("until", until))
        if value is not None and (value.tzinfo is None or not clock.in_range(value))
    ]
    if errors:
        raise DashboardInvalid("invalid period", errors)
    end = until or clock.now()
    start = since or end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise DashboardInvalid("invalid period", [FieldError("since", "must be before until")])
    if end - start > timedelta(days=MAX_DAYS):
        raise DashboardInvalid(
            "invalid period", [FieldError("since", f"the period may span at most {MAX_DAYS} days")]
        )
    return Window(start, end)


# --- ranking -------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Source:
    key: SourceKey
    journey: str
    journey_title: str
    behaviour_title: str
    mode_title: str | None
    stage: str
    guidance: str
    importance: float
    importance_source: Literal["definition", "severity"]


def _describe(
    key: SourceKey, journeys: dict[Any, JourneyInfo], severity_sum: int, count: int
) -> _Source:
    journey_id, behaviour, mode = key
    j = journeys.get(journey_id)
    info = j.behaviours.get(behaviour) if j else None
    title, guidance = info.modes.get(mode, (mode, "")) if info and mode else (mode, "")
    if info is not None:
        importance, basis = float(info.importance), "definition"
    else:  # no readable version defines the behaviour: what was recorded stands in
        importance, basis = severity_sum / count if count else 0.0, "severity"
    return _Source(
        key,
        j.key if j else "?",
        j.title if j else "?",
        info.title if info else behaviour,
        title,
        info.stage if info else "unknown",
        guidance,
        importance,
        basis,  # type: ignore[arg-type]
    )


def _rate(count: int, exposure: int) -> float | None:
    return 100.0 * count / exposure if exposure else None


def _change(
    count: int, rate: float | None, previous_count: int, previous_rate: float | None
) -> float | None:
    """Relative change of the rate (of the count when a rate is missing) on the period
    before; None when the previous value was zero."""
    if rate is not None and previous_rate is not None:
        return (rate - previous_rate) / previous_rate if previous_rate else None
    return (count - previous_count) / previous_count if previous_count else None


def _sort_key(row: RankingRow, by: RankBy) -> tuple[Any, ...]:
    value = _primary(row, by)
    return (*value, -row.count, row.label)


def _primary(row: RankingRow, by: RankBy) -> tuple[Any, ...]:
    """The value a ranking orders by; rows sharing it are ties."""
    weight = -round(row.priority, 9) if row.priority is not None else float("inf")
    if by == "count":
        return (-row.count,)
    if by == "ap":
        return (ap.AP_ORDER[row.action_priority], weight)
    return (weight,)


def _labels(sources: list[_Source]) -> dict[SourceKey, str]:
    plain = {
        s.key: s.behaviour_title + (f" · {s.mode_title}" if s.mode_title else "") for s in sources
    }
    seen: dict[str, int] = {}
    for label in plain.values():
        seen[label] = seen.get(label, 0) + 1
    # The same title twice: say which journey, and which behaviour and failure mode if
    # that is not enough, so every label names one source.
    out = {
        k: v if seen[v] == 1 else f"{v} ({s.journey})"
        for (k, v), s in zip(plain.items(), sources, strict=True)
    }
    counted = Counter(out.values())
    return {
        k: v if counted[v] == 1 else f"{v} [{k[1]}{'/' + k[2] if k[2] else ''}]"
        for k, v in out.items()
    }


def rank(
    current: Facts,
    previous: Facts,
    journeys: dict[Any, JourneyInfo],
    config: ap.ActionPriorityConfig,
    by: RankBy = "priority",
    owners: dict[SourceKey, str] | None = None,
) -> list[RankingRow]:
    """One row per error source with slips in the window, ranked ``by`` priority, count or
    Action Priority (then priority); ties in the ranked value are flagged."""
    owners = owners or {}
    total = sum(t.count for t in current.totals.values())
    sources = [_describe(k, journeys, t.severity_sum, t.count) for k, t in current.totals.items()]
    labels = _labels(sources)
    rows: list[RankingRow] = []
    for s in sources:
        t = current.totals[s.key]
        journey_id, behaviour, mode = s.key
        exposure, unit = current.exposure(journey_id, behaviour)
        rate = _rate(t.count, exposure)
        before = previous.totals.get(s.key)
        previous_count = before.count if before else 0
        previous_rate = _rate(previous_count, previous.exposure(journey_id, behaviour)[0])
        sev = ap.severity(s.importance)
        occ = ap.occurrence(rate, config)
        det = ap.detection(t.detected / t.count, config)
        rows.append(
            RankingRow(
                rank=0,
                label=labels[s.key],
                journey=s.journey,
                journey_title=s.journey_title,
                behaviour=behaviour,
                behaviour_title=s.behaviour_title,
                failure_mode=mode,
                failure_mode_title=s.mode_title,
                stage=s.stage,
                guidance=s.guidance,
                count=t.count,
                customers=t.customers,
                exposure=exposure,
                exposure_unit=unit,  # type: ignore[arg-type]
                rate=rate,
                importance=s.importance,
                importance_source=s.importance_source,
                priority=s.importance * rate if rate is not None else None,
                share=t.count / total,
                cumulative_share=0.0,
                previous_count=previous_count,
                previous_rate=previous_rate,
                change=_change(t.count, rate, previous_count, previous_rate),
                severity=sev,
                occurrence=occ,
                detection=det,
                action_priority=ap.action_priority(sev, occ, det, config),  # type: ignore[arg-type]
                rpn=sev * occ * det,
                tied=False,
                owner=owners.get(s.key),
            )
        )
    rows.sort(key=lambda r: _sort_key(r, by))
    counts: dict[tuple[Any, ...], int] = {}
    for r in rows:
        counts[_primary(r, by)] = counts.get(_primary(r, by), 0) + 1
    running = 0
    for i, r in enumerate(rows, 1):
        running += r.count
        r.rank = i
        r.cumulative_share = running / total
        r.tied = counts[_primary(r, by)] > 1
    return rows


# --- panels ----------------------------------------------------------------------------------


def pareto(rows: list[RankingRow], measure: Measure = "count") -> Pareto:
    """Bars largest first with their cumulative percentage; the vital few are the bars up
    to and including the one where the cumulative share reaches 80%."""
    values = [
        (r.label, float(r.count) if measure == "count" else r.importance * r.count) for r in rows
    ]
    values.sort(key=lambda lv: (-lv[1], lv[0]))
    whole = sum(v for _, v in values)
    bars: list[ParetoBar] = []
    running, reached = 0.0, False
    for label, value in values:
        running += value
        cumulative = 100.0 * running / whole if whole else 0.0
        bars.append(
            ParetoBar(label=label, value=value, cumulative_percent=cumulative, vital=not reached)
        )
        reached = reached or cumulative >= VITAL_SHARE
    return Pareto(measure=measure, bars=bars)


def matrix(rows: list[RankingRow]) -> Matrix:
    """Sources by rate and importance; the guides split at the median rate and at the
    middle of the 1-10 importance scale."""
    placed = [r for r in rows if r.rate is not None]
    points = [
        MatrixPoint(
            label=r.label,
            rate=r.rate or 0.0,
            importance=r.importance,
            customers=r.customers,
            count=r.count,
            stage=r.stage,
            guidance=r.guidance,
            owner=r.owner,
        )
        for r in placed
    ]
    guide = statistics.median(p.rate for p in points) if points else 0.0
    return Matrix(
        points=points,
        rate_guide=guide,
        importance_guide=5.5,
        unplaced=[r.label for r in rows if r.rate is None],
    )


def _stage_of(journeys: dict[Any, JourneyInfo], journey_id: Any, behaviour: str) -> str | None:
    j = journeys.get(journey_id)
    info = j.behaviours.get(behaviour) if j else None
    return info.stage if info else None


def _day_labels(window: Window, tz: ZoneInfo, count: int, step: int = 1) -> list[str]:
    return [
        (window.since + DAY * i).astimezone(tz).date().isoformat() for i in range(0, count, step)
    ]


def horrors(
    rows: list[RankingRow],
    current: Facts,
    journeys: dict[Any, JourneyInfo],
    filters: Filters,
    tz: ZoneInfo,
    top: int = TOP_MAX,
) -> Horrors:
    """The top ``top`` sources (five to eight) with their slips per day of the window, and
    the daily index Σ importance x slips per 1,000 due steps over every source."""
    days = current.window.days
    by_label = _keys_by_label(rows, current, journeys)
    chosen = rows[: max(TOP_MIN, min(TOP_MAX, top))]
    out_rows = []
    for r in chosen:
        daily = current.daily.get(by_label[r.label], {})
        out_rows.append(
            HorrorRow(
                rank=r.rank,
                label=r.label,
                total=r.count,
                daily=[daily.get(d, 0) for d in range(days)],
            )
        )
    weighted = [0.0] * days
    importance = {by_label[r.label]: r.importance for r in rows}
    for key, per_day in current.daily.items():
        for d, n in per_day.items():
            if 0 <= d < days:
                weighted[d] += importance.get(key, 0.0) * n
    exposures = [0] * days
    for (journey_id, behaviour), per_day in current.steps.items():
        if (
            filters.stage is not None
            and _stage_of(journeys, journey_id, behaviour) != filters.stage
        ):
            continue
        for d, n in per_day.items():
            if 0 <= d < days:
                exposures[d] += n
    index = [1000.0 * w / e if e else None for w, e in zip(weighted, exposures, strict=True)]
    return Horrors(
        days=_day_labels(current.window, tz, days),
        rows=out_rows,
        weighted=weighted,
        exposures=exposures,
        index=index,
    )


def _keys_by_label(
    rows: list[RankingRow], current: Facts, journeys: dict[Any, JourneyInfo]
) -> dict[str, SourceKey]:
    """Each ranking row's source key (labels name one source each, see :func:`_labels`)."""
    keys_of = {
        (journeys[k[0]].key if k[0] in journeys else "?", k[1], k[2]): k for k in current.totals
    }
    found = {r.label: keys_of[(r.journey, r.behaviour, r.failure_mode)] for r in rows}
    assert len(found) == len(rows), "labels must be unique"
    return found


def weeks(days: int) -> list[tuple[int, int]]:
    """Week spans ``[first day, last day + 1)`` counted back from the window's end; the
    oldest may be shorter."""
    spans = []
    end = days
    while end > 0:
        spans.append((max(0, end - 7), end))
        end -= 7
    return spans[::-1]


def _rising(counts: list[int], rates: list[float | None]) -> bool:
    if len(counts) < 2 or counts[-1] < RISING_MIN_EVENTS:
        return False
    last, before = rates[-1], rates[-2]
    if last is None or before is None:  # no exposure to divide by: compare slips
        last, before = float(counts[-1]), float(counts[-2])
    return before == 0 or last > RISING_FACTOR * before


def trends(
    rows: list[RankingRow],
    current: Facts,
    journeys: dict[Any, JourneyInfo],
    tz: ZoneInfo,
    top: int = TOP_MAX,
) -> Trends:
    """Weekly slips, due steps and rate per 100 of the top sources; rising ones flagged."""
    spans = weeks(current.window.days)
    by_label = _keys_by_label(rows, current, journeys)
    out = []
    for r in rows[: max(TOP_MIN, min(TOP_MAX, top))]:
        key = by_label[r.label]
        daily = current.daily.get(key, {})
        steps = current.steps.get((key[0], key[1]), {})
        counts = [sum(daily.get(d, 0) for d in range(a, b)) for a, b in spans]
        exposures = [sum(steps.get(d, 0) for d in range(a, b)) for a, b in spans]
        rates = [_rate(c, e) for c, e in zip(counts, exposures, strict=True)]
        out.append(
            Trend(
                label=r.label,
                weeks=[
                    (current.window.since + DAY * a).astimezone(tz).date().isoformat()
                    for a, _ in spans
                ],
                counts=counts,
                exposures=exposures,
                rates=rates,
                rising=_rising(counts, rates),
            )
        )
    return Trends(rows=out)


def trend_marks(
    starts: list[tuple[SourceKey, str, datetime, date]],
    window: Window,
    labels: dict[SourceKey, str],
) -> list[TrendMark]:
    """Countermeasure starts placed on the weekly axis of the trend chart: week ``i``
    spans ``[i - 0.5, i + 0.5)``."""
    spans = weeks(window.days)
    out = []
    for key, strategy, at, day in sorted(starts, key=lambda s: s[2]):
        x = (at - window.since) / DAY
        for i, (a, b) in enumerate(spans):
            if a <= x < b:
                out.append(
                    TrendMark(
                        label=labels[key],
                        strategy=strategy,
                        start_date=day.isoformat(),
                        position=i - 0.5 + (x - a) / (b - a),
                    )
                )
    return out


def breakdowns(counted: list[dict[str, Any]]) -> Breakdowns:
    """Slips per value of each dimension, largest first; a missing value is '(not
    recorded)'."""
    total = sum(r["n"] for r in counted)
    rows: list[BreakdownRow] = []
    for dimension in queries.BREAKDOWN_COLUMNS:
        sums: dict[str, int] = {}
        for r in counted:
            value = r[dimension] if r[dimension] not in (None, "") else NOT_RECORDED
            sums[value] = sums.get(value, 0) + r["n"]
        for value, n in sorted(sums.items(), key=lambda vn: (-vn[1], vn[0])):
            rows.append(BreakdownRow(dimension=dimension, value=value, count=n, share=n / total))
    return Breakdowns(rows=rows)


# --- services -----------------------------------------------------------------------------------


async def _timezone(tenant: Tenant) -> ZoneInfo:
    org = await organization_by_id(tenant.org_id)
    try:
        return ZoneInfo(org.timezone)
    except Exception:
        return ZoneInfo("UTC")


async def ranking(
    tenant: Tenant, window: Window, filters: Filters, by: RankBy = "priority"
) -> Ranking:
    """The ranking alone (``GET /api/v1/rankings``), from day rollups and raw rows
    (``dashboards.rollups``): the same numbers as the raw aggregate, read fast."""
    pending = await rollups.unfolded(tenant.org_id)
    current, previous, journeys, config, owners = await asyncio.gather(
        rollups.ranking_facts(tenant, window, filters, pending=pending),
        rollups.ranking_facts(tenant, window.previous(), filters, False, pending),
        queries.journeys(tenant),
        queries.action_priority_config(tenant),
        owners_by_source(tenant),
    )
    rows = rank(current, previous, journeys, config, by, owners)
    total = sum(t.count for t in current.totals.values())
    return Ranking(since=window.since, until=window.until, by=by, total=total, items=rows)


async def dashboard(
    tenant: Tenant,
    window: Window,
    filters: Filters,
    by: RankBy = "priority",
    top: int = TOP_MAX,
    measure: Measure = "count",
) -> Dashboard:
    """Every panel for one window."""
    tz = await _timezone(tenant)
    current = await queries.facts(tenant, window, filters)
    # the ranking reads only totals of the previous period
    previous = await rollups.ranking_facts(tenant, window.previous(), filters, customers=False)
    journeys = await queries.journeys(tenant)
    config = await queries.action_priority_config(tenant)
    rows = rank(current, previous, journeys, config, by, await owners_by_source(tenant))
    total = sum(t.count for t in current.totals.values())
    drawn_trends = trends(rows, current, journeys, tz, top)
    starts = await countermeasures.starts_in(tenant, window)
    labels = {k: countermeasures.source_label(k, journeys) for k, *_ in starts}
    labels.update({k: label for label, k in _keys_by_label(rows, current, journeys).items()})
    drawn_trends.marks = trend_marks(starts, window, labels)
    return Dashboard(
        since=window.since,
        until=window.until,
        timezone=str(tz),
        total=total,
        ranking=Ranking(since=window.since, until=window.until, by=by, total=total, items=rows),
        pareto=pareto(rows, measure),
        matrix=matrix(rows),
        horrors=horrors(rows, current, journeys, filters, tz, top),
        trends=drawn_trends,
        breakdowns=breakdowns(await queries.breakdown_counts(tenant, window, filters)),
    )


async def action_priority_table(tenant: Tenant) -> ap.ActionPriorityConfig:
    """The organisation's Action Priority table (the default until one is saved)."""
    return await queries.action_priority_config(tenant)


async def save_action_priority_table(
    tenant: Tenant, config: ap.ActionPriorityConfig
) -> ap.ActionPriorityConfig:
    """Check and store the organisation's Action Priority table."""
    ap.check(config)
    text = ap.encode(config)
    async with write_transaction():
        updated = await tenant.update(
            ActionPriorityTable,
            {ActionPriorityTable.definition: text, ActionPriorityTable.updated_at: clock.now()},
        ).returning(ActionPriorityTable.id)
        if not updated:
            await tenant.new(ActionPriorityTable, definition=text).save()
    return config


# --- CSV ---------------------------------------------------------------------------------------

PANELS = ("ranking", "pareto", "matrix", "horrors", "index", "trends", "breakdowns")


def _number(value: Any) -> Any:
    return "" if value is None else value


def panel_json(d: Dashboard, panel: str) -> bytes:
    """One panel's rows as JSON (``index`` is part of ``horrors``)."""
    if panel not in PANELS:
        table(d, panel)  # raises, naming the panels
    return to_json(getattr(d, "horrors" if panel == "index" else panel))


def table(d: Dashboard, panel: str) -> tuple[list[str], list[list[Any]]]:
    """A panel's plotted numbers as a header and rows (what its CSV holds)."""
    if panel == "ranking":
        fields = list(RankingRow.__struct_fields__)
        return fields, [[_number(getattr(r, f)) for f in fields] for r in d.ranking.items]
    if panel == "pareto":
        return ["label", d.pareto.measure, "cumulative_percent", "vital"], [
            [b.label, b.value, b.cumulative_percent, b.vital] for b in d.pareto.bars
        ]
    if panel == "matrix":
        fields = list(MatrixPoint.__struct_fields__)
        return fields, [[_number(getattr(p, f)) for f in fields] for p in d.matrix.points]
    if panel == "horrors":
        return ["rank", "label", "total", *d.horrors.days], [
            [r.rank, r.label, r.total, *r.daily] for r in d.horrors.rows
        ]
    if panel == "index":
        h = d.horrors
        return ["day", "weighted_slips", "due_steps", "index_per_1000"], [
            [day, w, e, _number(i)]
            for day, w, e, i in zip(h.days, h.weighted, h.exposures, h.index, strict=True)
        ]
    if panel == "trends":
        return ["label", "week", "slips", "due_steps", "rate_per_100", "rising"], [
            [t.label, w, c, e, _number(r), t.rising]
            for t in d.trends.rows
            for w, c, e, r in zip(t.weeks, t.counts, t.exposures, t.rates, strict=True)
        ]
    if panel == "breakdowns":
        return ["dimension", "value", "count", "share"], [
            [b.dimension, b.value, b.count, b.share] for b in d.breakdowns.rows
        ]
    raise DashboardInvalid(
        f"unknown panel {panel!r}", [FieldError("panel", f"one of {', '.join(PANELS)}")]
    )


def to_csv(header: list[str], rows: Iterable[list[Any]]) -> str:
    """CSV text; cells that a spreadsheet would run as a formula are quoted with a '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(
            [f"'{v}" if isinstance(v, str) and v[:1] in ("=", "+", "-", "@") else v for v in row]
        )
    return out.getvalue()


def to_json(value: msgspec.Struct) -> bytes:
    """A panel or dashboard as JSON."""
    return msgspec.json.encode(value)


# --- pages ---------------------------------------------------------------------------------------


def default_first_day(last: date) -> date:
    """The first day of the default period ending on ``last`` (30 days, both included)."""
    return last - timedelta(days=DEFAULT_DAYS - 1)


def optional_day(value: str | None, field: str) -> date | None:
    """A day from a page's query (YYYY-MM-DD); blank is none, because a form's empty date
    field still sends its name."""
    text = (value or "").strip()
    if not text:
        return None
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except ValueError:
        raise DashboardInvalid(
            f"invalid {field}", [FieldError(field, "not a day (YYYY-MM-DD)")]
        ) from None


def page_window(tz: ZoneInfo, since: date | None, until: date | None, now: datetime) -> Window:
    """A page's period: whole local days from ``since`` to ``until`` (both included; by
    default the last 30 days up to today), ending at ``now`` when that is earlier."""
    today = now.astimezone(tz).date()
    last = until or today
    first = since or default_first_day(last)
    if first > last:
        raise DashboardInvalid("invalid period", [FieldError("since", "must not be after until")])
    if (last - first).days >= MAX_DAYS:
        raise DashboardInvalid(
            "invalid period", [FieldError("since", f"the period may span at most {MAX_DAYS} days")]
        )
    start = datetime.combine(first, time(0), tz)
    end = min(datetime.combine(last + timedelta(days=1), time(0), tz), now)
    if end <= start:
        raise DashboardInvalid("invalid period", [FieldError("since", "must not be in the future")])
    return Window(start.astimezone(UTC), end.astimezone(UTC))


async def organization_timezone(tenant: Tenant) -> ZoneInfo:
    """The organisation's timezone (UTC when it names none that exists)."""
    return await _timezone(tenant)


async def filter_choices(tenant: Tenant) -> dict[str, list[tuple[str, str]]]:
    """Journeys (key, title) and stages for a page's filters."""
    found = await queries.journeys(tenant)
    stages = sorted({b.stage for j in found.values() for b in j.behaviours.values()})
    return {
        "journeys": sorted((j.key, j.title) for j in found.values()),
        "stages": [(s, s.replace("_", " ")) for s in stages],
    }


BREAKDOWN_FIGURES = tuple(f"breakdown_{c}" for c in queries.BREAKDOWN_COLUMNS)


def page_payload(d: Dashboard) -> bytes:
    """What a dashboard page fetches: the rows of every panel and the figures drawn from
    exactly those rows (Plotly's JSON)."""
    from dashboards import figures

    drawn = {
        "pareto": figures.pareto(d.pareto),
        "matrix": figures.matrix(d.matrix),
        "horrors": figures.horrors(d.horrors),
        "trends": figures.trends(d.trends),
        **{f"breakdown_{c}": figures.breakdown(d.breakdowns, c) for c in queries.BREAKDOWN_COLUMNS},
    }
    parts = ",".join(f'"{name}":{fig.to_json()}' for name, fig in drawn.items())
    return b'{"dashboard":' + to_json(d) + b',"figures":{' + parts.encode() + b"}}"
