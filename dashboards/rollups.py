"""Day rollups for the ranking: slips and due steps counted per UTC day, kept off the
write path.

Slip intake stays one insert: nothing here runs when a slip or step is written. A
scheduler job (:func:`fold_changes`) finds the days whose rows changed since the
organisation's watermark and recounts each of those (organisation, day) pairs whole from
raw rows, so a rollup row is always exactly the raw aggregate of its day when it was
written, however often or concurrently the job runs.

What "changed" means, per table:

* slips: inserted (``created_at``), or corrected or voided (``slip_change``, written by
  ``slips.corrections`` with the day the slip left as well as the day it joined);
* steps: inserted (``created_at``), or cancelled with their enrollment
  (``enrollment.cancelled_at``) or their customer's erasure (``customer.erased_at``); the
  other status changes do not change the exposure (every status but cancelled counts).

Each fold transaction that rewrites days also rewrites the block rollups of the blocks of
:data:`BLOCK_DAYS` days holding them, from the day rollups, so a block always equals the
sum of its days.

Reads (:func:`ranking_facts`) take rollups only for whole UTC days inside the window that
have no change since the watermark (less :data:`LAG`), and raw rows for the rest: the
window's partial first and last days and every day changed since. Of the whole days,
whole blocks come from the block rollups and the days around them from day rollups. So
every read equals the raw aggregate, whether or not the job has caught up. ``LAG``
covers writes whose transaction commits after the moment they were stamped with.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from coaching.scheduler import register
from core import clock
from core.db import run_sql, write_transaction
from core.isolation import Quarantine
from core.tables import Organization
from core.tenancy import Tenant
from dashboards.queries import (
    EXPOSED_STATUSES,
    BehaviourKey,
    Facts,
    Filters,
    SourceKey,
    SourceTotals,
    Window,
    active_enrollments,
    is_postgres,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
DAY = timedelta(days=1)
# A write stamped this long before it commits is still folded (and read raw until then).
LAG = timedelta(minutes=10)
# The scheduler ticks every second or so; folding once a minute is plenty, since reads
# never depend on it for exactness.
FOLD_EVERY = 60.0
# Days recounted per transaction: bounds how long a fold holds SQLite's write lock.
CHUNK_DAYS = 31
ANALYZE_AFTER = 100  # days recounted in one fold after which the rollups are analysed
NEVER = clock.EARLIEST  # the watermark of an organisation never folded
# Distinct customers are counted in this many statements side by side (by source): a year
# of slips is the one long read of a ranking, and a database uses a core per statement.
CUSTOMER_SHARES = 2
STATUSES = ", ".join(f"'{s}'" for s in EXPOSED_STATUSES)
# Whole blocks of this many days inside a window are read from the block rollups (day
# rollups summed per block): a read then takes about (days / BLOCK_DAYS + BLOCK_DAYS) rows
# per source, stage and site instead of one per day, fewest near the square root of a
# year. The blocks are stored: a new value needs a migration that refills them.
BLOCK_DAYS = 16

BAD_ORGANIZATIONS: Quarantine[UUID] = Quarantine("fold day rollups", "organisation")
_last_fold = [0.0]

Range = tuple[int, int]  # half-open [first day, last day + 1)


def day_of(moment: datetime) -> int:
    """The UTC day (days since 1970-01-01) that ``moment`` falls on."""
    return (moment - EPOCH) // DAY


def start_of(day: int) -> datetime:
    """Midnight UTC at the start of ``day``."""
    return EPOCH + day * DAY


def day_sql(column: str) -> str:
    """SQL for the UTC day of ``column``, exact on both databases. SQLite stores instants
    as UTC text (``YYYY-MM-DD HH:MM:SS.ffffff+00:00``) and its time functions round to
    milliseconds (23:59:59.9999 would land on the next day), so the day is read from the
    date part of the text, as the range comparisons read it."""
    if is_postgres():
        return f"floor(extract(epoch from {column}) / 86400)::int"
    return f"CAST(julianday(substr({column}, 1, 10)) - 2440587.5 AS INTEGER)"


def ranges(days: Iterable[int]) -> list[Range]:
    """Sorted days as runs of consecutive days."""
    out: list[Range] = []
    for d in sorted(set(days)):
        if out and out[-1][1] == d:
            out[-1] = (out[-1][0], d + 1)
        else:
            out.append((d, d + 1))
    return out


def block_of(day: int) -> int:
    """The first day of the block ``day`` falls in."""
    return day - day % BLOCK_DAYS


def block_sql(column: str) -> str:
    """SQL for the first day of the block of the day in ``column`` (both databases take
    ``%`` towards zero, hence the second remainder for days before 1970)."""
    return f"({column} - (({column} % {BLOCK_DAYS}) + {BLOCK_DAYS}) % {BLOCK_DAYS})"


def blocks(runs: list[Range]) -> tuple[list[Range], list[Range]]:
    """Runs of days as the whole blocks they hold (runs of block-aligned days) and the
    days left over at their ends."""
    whole: list[Range] = []
    rest: list[Range] = []
    for a, b in runs:
        first, last = block_of(a + BLOCK_DAYS - 1), block_of(b)
        if first >= last:
            rest.append((a, b))
            continue
        whole.append((first, last))
        rest += [r for r in ((a, first), (last, b)) if r[0] < r[1]]
    return whole, rest


def _touched_blocks(runs: list[Range]) -> list[Range]:
    """Every block holding a day of ``runs``, as runs of block-aligned days."""
    starts = {b for a, e in runs for b in range(block_of(a), e, BLOCK_DAYS)}
    return ranges(d for b in starts for d in range(b, b + BLOCK_DAYS))


def _chunks(runs: list[Range], size: int) -> list[list[Range]]:
    """Runs cut so that each chunk spans at most ``size`` days."""
    pieces = [(a, min(a + size, b)) for first, b in runs for a in range(first, b, size)]
    chunks: list[list[Range]] = []
    span = size
    for piece in pieces:
        if span + piece[1] - piece[0] > size:
            chunks.append([])
            span = 0
        chunks[-1].append(piece)
        span += piece[1] - piece[0]
    return chunks


# --- the watermark and what changed since -------------------------------------------------


async def watermark(org_id: UUID) -> datetime:
    """When the last complete fold of the organisation started (:data:`NEVER` if none)."""
    rows = await run_sql("SELECT folded_at FROM rollup_watermark WHERE organization = {}", org_id)
    return clock.as_utc(rows[0]["folded_at"]) if rows else NEVER


async def changed_days(org_id: UUID, since: datetime) -> tuple[set[int], set[int]]:
    """Days whose slip counts and whose due-step counts changed after ``since``."""
    slip = await run_sql(
        f"SELECT DISTINCT {day_sql('s.occurred_at')} AS day FROM slip s"
        " WHERE s.created_at > {} AND s.organization = {}"
        f" UNION SELECT {day_sql('c.occurred_before')} AS day FROM slip_change c"
        " WHERE c.organization = {} AND c.changed_at > {}"
        f" UNION SELECT {day_sql('c.occurred_after')} AS day FROM slip_change c"
        " WHERE c.organization = {} AND c.changed_at > {}",
        since, org_id, org_id, since, org_id, since,
    )  # fmt: skip
    step = await run_sql(
        f"SELECT DISTINCT {day_sql('st.due_at')} AS day FROM step st"
        " WHERE st.created_at > {} AND st.organization = {}"
        f" UNION SELECT {day_sql('st.due_at')} AS day FROM step st WHERE st.enrollment IN"
        " (SELECT id FROM enrollment WHERE organization = {} AND cancelled_at > {})"
        f" UNION SELECT {day_sql('st.due_at')} AS day FROM step st WHERE st.customer IN"
        " (SELECT id FROM customer WHERE organization = {} AND erased_at > {})",
        since, org_id, org_id, since, org_id, since,
    )  # fmt: skip
    return {int(r["day"]) for r in slip}, {int(r["day"]) for r in step}


# --- the fold ----------------------------------------------------------------------------------


async def _lock(org_id: UUID) -> datetime:
    """Inside a write transaction: hold the organisation's watermark row until commit, so
    folds of one organisation take turns (SQLite's write lock already serialises them);
    returns the watermark."""
    await run_sql(
        "INSERT INTO rollup_watermark (organization, folded_at) VALUES ({}, {})"
        " ON CONFLICT (organization) DO NOTHING",
        org_id,
        NEVER,
    )
    lock = " FOR UPDATE" if is_postgres() else ""
    rows = await run_sql(
        f"SELECT folded_at FROM rollup_watermark WHERE organization = {{}}{lock}", org_id
    )
    return clock.as_utc(rows[0]["folded_at"])


def _day_ranges(runs: list[Range], column: str, table: str) -> tuple[str, list[Any]]:
    """``(table.day in runs)`` or ``(column in the runs' time ranges)``, with arguments."""
    parts: list[str] = []
    args: list[Any] = []
    for a, b in runs:
        if column:
            parts.append(f"({column} >= {{}} AND {column} < {{}})")
            args += [start_of(a), start_of(b)]
        else:
            parts.append(f"({table}.day >= {{}} AND {table}.day < {{}})")
            args += [a, b]
    return "(" + " OR ".join(parts) + ")", args


async def _recount_slips(org_id: UUID, runs: list[Range]) -> None:
    days, day_args = _day_ranges(runs, "", "slip_day_rollup")
    await run_sql(
        f"DELETE FROM slip_day_rollup WHERE organization = {{}} AND {days}", org_id, *day_args
    )
    times, time_args = _day_ranges(runs, "s.occurred_at", "")
    await run_sql(
        "INSERT INTO slip_day_rollup (organization, day, journey, behaviour, failure_mode,"
        " stage, site, slips, severity_sum, detected)"
        f" SELECT s.organization, {day_sql('s.occurred_at')}, s.journey, s.behaviour,"
        " s.failure_mode, s.stage, s.site, count(*), sum(s.severity),"
        " sum(CASE WHEN s.source = 'system' THEN 1 ELSE 0 END)"
        f" FROM slip s WHERE s.organization = {{}} AND s.voided_at IS NULL AND {times}"
        " GROUP BY 1, 2, 3, 4, 5, 6, 7",
        org_id,
        *time_args,
    )


# What the block rollups of each kind group by and sum.
_BLOCK_COLUMNS = {
    "slip": (
        ("journey", "behaviour", "failure_mode", "stage", "site"),
        ("slips", "severity_sum", "detected"),
    ),
    "step": (("journey", "behaviour"), ("steps",)),
}


async def _recount_blocks(org_id: UUID, runs: list[Range], kind: str) -> None:
    """Rewrite the ``kind`` block rollups of every block holding a day of ``runs`` from
    the day rollups, in the transaction that just rewrote those days."""
    keys, sums = _BLOCK_COLUMNS[kind]
    touched = _touched_blocks(runs)
    days, day_args = _day_ranges(touched, "", f"{kind}_block_rollup")
    await run_sql(
        f"DELETE FROM {kind}_block_rollup WHERE organization = {{}} AND {days}",
        org_id,
        *day_args,
    )
    days, day_args = _day_ranges(touched, "", "d")
    group = ", ".join(str(i) for i in range(1, len(keys) + 3))  # organisation, block, keys
    await run_sql(
        f"INSERT INTO {kind}_block_rollup (organization, day, {', '.join(keys)},"
        f" {', '.join(sums)}) SELECT d.organization, {block_sql('d.day')},"
        f" {', '.join(f'd.{c}' for c in keys)}, {', '.join(f'sum(d.{c})' for c in sums)}"
        f" FROM {kind}_day_rollup d WHERE d.organization = {{}} AND {days} GROUP BY {group}",
        org_id,
        *day_args,
    )


async def _recount_steps(org_id: UUID, runs: list[Range]) -> None:
    days, day_args = _day_ranges(runs, "", "step_day_rollup")
    await run_sql(
        f"DELETE FROM step_day_rollup WHERE organization = {{}} AND {days}", org_id, *day_args
    )
    times, time_args = _day_ranges(runs, "st.due_at", "")
    await run_sql(
        "INSERT INTO step_day_rollup (organization, day, journey, behaviour, steps)"
        f" SELECT st.organization, {day_sql('st.due_at')}, e.journey, st.behaviour, count(*)"
        " FROM step st JOIN enrollment e ON e.id = st.enrollment"
        f" WHERE st.organization = {{}} AND e.organization = {{}} AND st.status IN ({STATUSES})"
        f" AND {times} GROUP BY 1, 2, 3, 4",
        org_id,
        org_id,
        *time_args,
    )


async def fold_organization(org_id: UUID) -> int:
    """Recount every day of the organisation changed since its watermark, then move the
    watermark to when this fold started; returns how many days were recounted.

    Each chunk of days is recounted in its own transaction under the organisation's lock,
    and reads never take a day changed since the watermark from the rollups, so a fold cut
    short (or racing another) leaves every read exact; the watermark only moves forward.
    """
    since = await watermark(org_id)  # a rival fold may move it on: then more is recounted
    started = clock.now()
    slip_days, step_days = await changed_days(org_id, since - LAG)
    if not slip_days and not step_days:  # an idle organisation takes no write lock
        return 0
    slip_runs, step_runs = ranges(slip_days), ranges(step_days)
    for chunk in _chunks(slip_runs, CHUNK_DAYS):
        async with write_transaction():
            await _lock(org_id)
            await _recount_slips(org_id, chunk)
            await _recount_blocks(org_id, chunk, "slip")
    for chunk in _chunks(step_runs, CHUNK_DAYS):
        async with write_transaction():
            await _lock(org_id)
            await _recount_steps(org_id, chunk)
            await _recount_blocks(org_id, chunk, "step")
    if len(slip_days) + len(step_days) >= ANALYZE_AFTER:
        # A first fold over years of history: the planner should know the rollups grew
        # before the next ranking is read (autovacuum would, but only later).
        for kind in ("slip_day", "step_day", "slip_block", "step_block"):
            await run_sql(f"ANALYZE {kind}_rollup")
    async with write_transaction():
        await _lock(org_id)
        await run_sql(
            "UPDATE rollup_watermark SET folded_at = {} WHERE organization = {} AND folded_at < {}",
            started,
            org_id,
            started,
        )
    return len(slip_days) + len(step_days)


async def fold_changes() -> int:
    """Fold every organisation's changes; one organisation's failure is set aside
    (:data:`BAD_ORGANIZATIONS`) and does not stop the others'."""
    set_aside = set(BAD_ORGANIZATIONS.active())
    folded = 0
    for row in await Organization.select(Organization.id):
        org_id = row["id"] if isinstance(row["id"], UUID) else UUID(str(row["id"]))
        if org_id in set_aside:
            continue
        try:
            folded += await fold_organization(org_id)
        except Exception as exc:
            BAD_ORGANIZATIONS.add(org_id, exc)
    return folded


@register
async def fold_day_rollups() -> int:
    """Scheduler job: :func:`fold_changes`, at most every :data:`FOLD_EVERY` seconds."""
    if time.monotonic() - _last_fold[0] < FOLD_EVERY:
        return 0
    _last_fold[0] = time.monotonic()
    return await fold_changes()


# --- the read ---------------------------------------------------------------------------------


def _journey_filter(column: str, filters: Filters, org_id: UUID) -> tuple[str, list[Any]]:
    if filters.journey is None:
        return "", []
    return (
        f" AND {column} IN (SELECT id FROM journey WHERE organization = {{}} AND key = {{}})",
        [org_id, filters.journey],
    )


def _slip_filters(alias: str, filters: Filters, org_id: UUID) -> tuple[str, list[Any]]:
    sql, args = _journey_filter(f"{alias}.journey", filters, org_id)
    for column, value in (("site", filters.site), ("stage", filters.stage)):
        if value is not None:
            sql += f" AND {alias}.{column} = {{}}"
            args.append(value)
    return sql, args


def _time_ranges(column: str, spans: list[tuple[datetime, datetime]]) -> tuple[str, list[Any]]:
    parts = [f"({column} >= {{}} AND {column} < {{}})" for _ in spans]
    return "(" + " OR ".join(parts) + ")", [t for span in spans for t in span]


def split(window: Window, changed: set[int]) -> tuple[list[Range], list[tuple[datetime, datetime]]]:
    """The window as whole UTC days to read from rollups and time spans to read raw (the
    partial edge days and the ``changed`` days)."""
    first = -(-(window.since - EPOCH) // DAY)  # the first midnight at or after since
    last = day_of(window.until)  # the midnight at or before until
    if first >= last:
        return [], [(window.since, window.until)]
    folded = ranges(d for d in range(first, last) if d not in changed)
    raw: list[tuple[datetime, datetime]] = []
    cursor = window.since
    for a, b in folded:
        if start_of(a) > cursor:
            raw.append((cursor, start_of(a)))
        cursor = start_of(b)
    if cursor < window.until:
        raw.append((cursor, window.until))
    return folded, raw


async def _slip_totals(
    org_id: UUID, folded: list[Range], raw: list[tuple[datetime, datetime]], filters: Filters
) -> dict[SourceKey, SourceTotals]:
    parts: list[str] = []
    args: list[Any] = []
    for table, runs in zip(("slip_block_rollup", "slip_day_rollup"), blocks(folded), strict=True):
        if not runs:
            continue
        days, day_args = _day_ranges(runs, "", "r")
        extra, extra_args = _slip_filters("r", filters, org_id)
        parts.append(
            "SELECT r.journey AS journey_id, r.behaviour AS behaviour, r.failure_mode AS mode,"
            " r.slips AS n, r.severity_sum AS severity_sum, r.detected AS detected"
            f" FROM {table} r WHERE r.organization = {{}} AND {days}{extra}"
        )
        args += [org_id, *day_args, *extra_args]
    if raw:
        times, time_args = _time_ranges("s.occurred_at", raw)
        extra, extra_args = _slip_filters("s", filters, org_id)
        parts.append(
            "SELECT s.journey AS journey_id, s.behaviour AS behaviour, s.failure_mode AS mode,"
            " count(*) AS n, sum(s.severity) AS severity_sum,"
            " sum(CASE WHEN s.source = 'system' THEN 1 ELSE 0 END) AS detected"
            " FROM slip s WHERE s.organization = {} AND s.voided_at IS NULL"
            f" AND {times}{extra} GROUP BY 1, 2, 3"
        )
        args += [org_id, *time_args, *extra_args]
    rows = await run_sql(
        "SELECT journey_id, behaviour, mode, sum(n) AS n, sum(severity_sum) AS severity_sum,"
        f" sum(detected) AS detected FROM ({' UNION ALL '.join(parts)}) u GROUP BY 1, 2, 3",
        *args,
    )
    return {
        (_uuid(r["journey_id"]), r["behaviour"], r["mode"]): SourceTotals(
            int(r["n"]), 0, int(r["severity_sum"]), int(r["detected"])
        )
        for r in rows
        if int(r["n"])
    }


def _source_rows(keys: list[SourceKey]) -> tuple[str, list[Any]]:
    """The sources as a ``FROM`` item named ``src`` with columns ``journey_id``,
    ``behaviour`` and ``mode``, with its arguments (PostgreSQL is told the journey is a
    UUID; SQLite names a ``VALUES`` list's columns ``column1``...)."""
    args = [v for key in keys for v in key]
    if is_postgres():
        rows = ", ".join("(CAST({} AS uuid), {}, {})" for _ in keys)
        return f"(VALUES {rows}) AS src (journey_id, behaviour, mode)", args
    rows = ", ".join("({}, {}, {})" for _ in keys)
    return (
        "(SELECT column1 AS journey_id, column2 AS behaviour, column3 AS mode"
        f" FROM (VALUES {rows})) src",
        args,
    )


def _shares(totals: dict[SourceKey, SourceTotals]) -> list[list[SourceKey]]:
    """The sources in :data:`CUSTOMER_SHARES` lists of about equal slips (largest first,
    each to the lightest list), counted side by side on their own connections."""
    shares: list[list[SourceKey]] = [[] for _ in range(CUSTOMER_SHARES)]
    load = [0] * CUSTOMER_SHARES
    for key, t in sorted(totals.items(), key=lambda kt: -kt[1].count):
        lightest = load.index(min(load))
        shares[lightest].append(key)
        load[lightest] += t.count
    return [share for share in shares if share]


async def _customers(
    org_id: UUID, window: Window, filters: Filters, keys: list[SourceKey]
) -> dict[SourceKey, int]:
    """Distinct identified customers of each of ``keys`` (sources with slips in the
    window): from raw rows, since they do not add up across days. Counted source by
    source, each a range of the partial index ``slip_source_time`` (organisation, journey,
    behaviour, failure mode, time, customer), so only the window's slips of that source
    are read, from the index alone, and each source's customers are de-duplicated on
    their own (a few thousand at a time) rather than every (source, customer) pair of the
    window in one hash or sort."""
    # the journey is pinned by each source already; site and stage still narrow
    extra, extra_args = _slip_filters("s", replace(filters, journey=None), org_id)
    parts: list[str] = []
    args: list[Any] = []
    for with_mode in (True, False):  # an index range needs "= mode" or "IS NULL"
        chosen = [k for k in keys if (k[2] is not None) == with_mode]
        if not chosen:
            continue
        sources, source_args = _source_rows(chosen)
        mode = "s.failure_mode = src.mode" if with_mode else "s.failure_mode IS NULL"
        parts.append(
            "SELECT src.journey_id AS journey_id, src.behaviour AS behaviour, src.mode AS mode,"
            " (SELECT count(*) FROM (SELECT DISTINCT s.customer FROM slip s"
            " WHERE s.organization = {} AND s.journey = src.journey_id"
            f" AND s.behaviour = src.behaviour AND {mode}"
            " AND s.voided_at IS NULL AND s.customer IS NOT NULL"
            f" AND s.occurred_at >= {{}} AND s.occurred_at < {{}}{extra}) d) AS n"
            f" FROM {sources}"
        )
        # placeholders in the order they are written: the subquery's, then the sources'
        args += [org_id, window.since, window.until, *extra_args, *source_args]
    if not parts:
        return {}
    rows = await run_sql(" UNION ALL ".join(parts), *args)
    return {(_uuid(r["journey_id"]), r["behaviour"], r["mode"]): int(r["n"]) for r in rows}


async def _step_totals(
    org_id: UUID, folded: list[Range], raw: list[tuple[datetime, datetime]], filters: Filters
) -> dict[BehaviourKey, int]:
    parts: list[str] = []
    args: list[Any] = []
    for table, runs in zip(("step_block_rollup", "step_day_rollup"), blocks(folded), strict=True):
        if not runs:
            continue
        days, day_args = _day_ranges(runs, "", "r")
        extra, extra_args = _journey_filter("r.journey", filters, org_id)
        parts.append(
            "SELECT r.journey AS journey_id, r.behaviour AS behaviour, r.steps AS n"
            f" FROM {table} r WHERE r.organization = {{}} AND {days}{extra}"
        )
        args += [org_id, *day_args, *extra_args]
    if raw:
        times, time_args = _time_ranges("st.due_at", raw)
        extra, extra_args = _journey_filter("e.journey", filters, org_id)
        parts.append(
            "SELECT e.journey AS journey_id, st.behaviour AS behaviour, count(*) AS n"
            " FROM step st JOIN enrollment e ON e.id = st.enrollment"
            " WHERE st.organization = {} AND e.organization = {}"
            f" AND st.status IN ({STATUSES}) AND {times}{extra} GROUP BY 1, 2"
        )
        args += [org_id, org_id, *time_args, *extra_args]
    rows = await run_sql(
        "SELECT journey_id, behaviour, sum(n) AS n"
        f" FROM ({' UNION ALL '.join(parts)}) u GROUP BY 1, 2",
        *args,
    )
    return {(_uuid(r["journey_id"]), r["behaviour"]): int(r["n"]) for r in rows if int(r["n"])}


def _uuid(value: Any) -> UUID:
    return value if isinstance(value, UUID) else UUID(str(value))


@dataclass(frozen=True)
class Unfolded:
    """The UTC days a read must take raw (changed since the watermark, less :data:`LAG`);
    ``everything`` for an organisation never folded."""

    slips: frozenset[int] = frozenset()
    steps: frozenset[int] = frozenset()
    everything: bool = False


async def unfolded(org_id: UUID) -> Unfolded:
    """What is not in the day rollups yet, read once per request (both periods use it)."""
    mark = await watermark(org_id)
    if mark <= NEVER:
        return Unfolded(everything=True)
    slips, steps = await changed_days(org_id, mark - LAG)
    return Unfolded(frozenset(slips), frozenset(steps))


async def ranking_facts(
    tenant: Tenant,
    window: Window,
    filters: Filters,
    customers: bool = True,
    pending: Unfolded | None = None,
) -> Facts:
    """The counts a ranking needs for one window (per-source totals, due steps per
    behaviour, active enrollments), equal to the raw aggregate: rollups for whole days
    unchanged since the watermark, raw rows for the rest (``pending``, read here when not
    given). ``daily`` is left empty (the ranking does not draw days); distinct customers
    only when ``customers``. The statements are independent and run side by side (each
    on its own connection)."""
    org_id = tenant.org_id
    if pending is None:
        pending = await unfolded(org_id)
    if pending.everything:
        every = set(range(day_of(window.since), day_of(window.until) + 1))
        slip_changed, step_changed = every, every
    else:
        slip_changed, step_changed = set(pending.slips), set(pending.steps)
    slip_folded, slip_raw = split(window, slip_changed)
    step_folded, step_raw = split(window, step_changed)

    async def slips() -> dict[SourceKey, SourceTotals]:
        totals = await _slip_totals(org_id, slip_folded, slip_raw, filters)
        if customers and totals:
            parts = await asyncio.gather(
                *(_customers(org_id, window, filters, keys) for keys in _shares(totals))
            )
            for part in parts:
                for key, n in part.items():
                    totals[key].customers = n
        return totals

    totals, step_totals, active = await asyncio.gather(
        slips(),
        _step_totals(org_id, step_folded, step_raw, filters),
        active_enrollments(tenant, window),
    )
    steps: dict[BehaviourKey, dict[int, int]] = defaultdict(dict)
    for behaviour, n in step_totals.items():
        steps[behaviour][0] = n
    return Facts(window, totals, {}, dict(steps), active)
