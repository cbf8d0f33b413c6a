"""Benchmark enrollment and rolling-horizon step materialisation against a raw baseline.

Usage::

    .venv/bin/python bench/enroll.py [--db sqlite|postgres|both] [--customers N]
                                     [--pg-server URL] [--concurrency K]

Each database gets a throw-away copy (a SQLite file in a temporary directory, or a fresh
PostgreSQL database ``slipguard_bench_<random>`` that is dropped at the end), migrated with
the real migrations. The script then measures, on N customers:

1. ``journeys.enrollments.enroll()`` for the 84-day library journey and a 7-day variant
   (enrollments/s, steps/s and the per-enrollment time ratio 84d/7d);
2. the scheduler job ``materialise_due()`` run day by day over the whole 84 days (it
   writes each step with its planned messages, the nudge outbox rows);
3. a raw baseline in the same run: the same step and message rows written by the database
   driver directly (PostgreSQL: asyncpg COPY and executemany INSERT; SQLite: sqlite3
   executemany) into scratch tables with the same columns, indexes and foreign keys.

Settings are read once per process and Piccolo binds its engine at import time, so each
database runs in its own child process (``--db both`` runs them one after the other).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import secrets
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

DEFAULT_PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_CUSTOMERS = 10_000
# SQLite serialises writers, enroll() costs ~10 ms there (Piccolo opens a new aiosqlite
# connection, i.e. a thread, per query) and the job writes ~2,800 steps/s with their
# messages, so 10,000 customers take ~5 minutes on the reference machine
# (docs/benchmarks.md).
SQLITE_DEFAULT_CUSTOMERS = 1_000
SQLITE_REASON = (
    f"SQLite default is {SQLITE_DEFAULT_CUSTOMERS:,} customers, not {DEFAULT_CUSTOMERS:,}: "
    "enroll() runs one at a time there at ~10 ms each and the job writes ~2,800 steps/s "
    "with their messages, so 10,000 take ~5 minutes; "
    "pass --customers 10000 to run it anyway"
)
LIBRARY_KEY = "hypertension-adherence"
SHORT_KEY = "bench-adherence-7d"
TIMEZONES = (
    "UTC",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Australia/Sydney",
)
# A fixed start makes step counts reproducible; it lies before the March DST changes, so
# the 84 days cross them in the northern and southern zones above.
T0 = datetime(2026, 2, 2, 6, 30, tzinfo=UTC)
MAX_DAYS = 120
CUSTOMER_BATCH = 1000
ENROLL_ROUNDS = 10
STEP_COLUMNS = (
    "id",
    "organization",
    "enrollment",
    "customer",
    "behaviour",
    "occurrence",
    "due_at",
    "grace_until",
    "confirmable",
    "status",
    "completed_at",
    "completed_via",
    "created_at",
)
NUDGE_COLUMNS = (
    "id", "organization", "enrollment", "customer", "step", "position", "dedupe_key", "kind",
    "channel", "purpose", "critical", "template", "unless_confirmed", "due_at", "send_after",
    "status", "reason", "attempts", "provider_id", "created_at", "updated_at", "sent_at",
)  # fmt: skip

# The library journey's dose behaviour, without the taper: daily for 7 days.
SHORT_JOURNEY = """\
key: bench-adherence-7d
title: Blood-pressure medication (7 days)
description: The library journey's daily dose reminder, for one week and without the taper.
anchors: [start]
locales: [en]
holdout: 0.1
behaviours:
  - key: take-dose
    title: Take your blood-pressure tablet
    stage: post_encounter
    importance: 9
    instructions: Take one tablet with breakfast, every day, even when you feel well.
    schedule: {every: 1d, for: 7d, at: "08:00", from: start}
    confirm: {reply: [DONE, TAKEN], grace: 4h}
    failure_modes:
      - {key: forgot, title: Forgot, deficit: forgetfulness, reply: [FORGOT],
         guidance: Keep the box next to your toothbrush so you see it every morning.}
      - {key: ran-out, title: Ran out, deficit: ability, reply: [OUT], escalate: true,
         guidance: A nurse will call you today to arrange a refill.}
    nudges:
      - {at: due, channel: sms, template: dose-due}
      - {at: due + 2h, unless: confirmed, channel: sms, template: dose-check}
templates:
  dose-due:
    en: "Hi {{ first_name }}, time for your blood-pressure tablet. Reply DONE when taken."
  dose-check:
    en: "{{ first_name }}, did you take today's tablet? Reply DONE, or FORGOT or OUT if not."
"""


# --- reporting ------------------------------------------------------------------------------


@dataclass
class Row:
    """One line of the result table."""

    what: str
    rows: int
    seconds: float
    raw: bool = False  # a raw-driver baseline line
    compare: bool = True  # show a ratio to the best raw baseline

    @property
    def rate(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


@dataclass
class Report:
    """Everything one database run prints."""

    title: str
    header: list[str] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """A markdown table with the ratio of each line to the fastest raw baseline."""
        raws = [r.rate for r in self.rows if r.raw]
        best = max(raws) if raws else None
        lines = [f"### {self.title}", ""]
        lines += [f"- {h}" for h in self.header]
        lines += [
            "",
            "| what | rows | seconds | rows/s | ratio to raw |",
            "|---|---:|---:|---:|---:|",
        ]
        for r in self.rows:
            ratio = f"{r.rate / best:.3f}" if best and r.compare else "-"
            lines.append(f"| {r.what} | {r.rows:,} | {r.seconds:.2f} | {r.rate:,.0f} | {ratio} |")
        lines.append("")
        if best:
            lines.append("ratio to raw = rows/s of the line / rows/s of the fastest raw baseline.")
        lines += self.notes
        return "\n".join(lines)


class Progress:
    """A one-line progress indicator on stderr, redrawn at most ~10 times a second."""

    def __init__(self, label: str, total: int | None = None) -> None:
        self.label = label
        self.total = total
        self.last = 0.0
        self.interactive = sys.stderr.isatty()
        self.count = 0

    def update(self, done: int, extra: str = "", force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last < (0.1 if self.interactive else 5.0):
            return
        self.last = now
        of = f"/{self.total:,}" if self.total else ""
        text = f"  {self.label}: {done:,}{of} {extra}".rstrip()
        sys.stderr.write(f"\r{text}\x1b[K" if self.interactive else f"{text}\n")
        sys.stderr.flush()

    def done(self, done: int, extra: str = "") -> None:
        self.update(done, extra, force=True)
        if self.interactive:
            sys.stderr.write("\n")
            sys.stderr.flush()


def log(message: str) -> None:
    """A status line on stderr (stdout carries only the result tables)."""
    print(message, file=sys.stderr, flush=True)


# --- throw-away databases -------------------------------------------------------------------


def _with_database(server: str, name: str) -> str:
    parts = urlsplit(server)
    return urlunsplit(parts._replace(path=f"/{name}"))


async def _pg_admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def create_pg_database(server: str) -> tuple[str, str]:
    """Create ``slipguard_bench_<random>`` on the server; returns (name, url)."""
    name = f"slipguard_bench_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(server, f'CREATE DATABASE "{name}"'))
    return name, _with_database(server, name)


def drop_pg_database(server: str, name: str) -> None:
    """Drop a bench database, disconnecting anything still attached."""
    asyncio.run(_pg_admin(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the measured work ----------------------------------------------------------------------


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[Any, float]:
    """Run ``work`` and return its result with the elapsed wall-clock seconds."""
    start = time.perf_counter()
    result = await work()
    return result, time.perf_counter() - start


async def create_customers(org_id: uuid.UUID, count: int) -> list[uuid.UUID]:
    """Insert ``count`` customers directly (zones spread, random pseudonyms)."""
    from journeys.tables import Customer

    ids: list[uuid.UUID] = []
    progress = Progress("customers", count)
    for first in range(0, count, CUSTOMER_BATCH):
        batch = []
        for i in range(first, min(first + CUSTOMER_BATCH, count)):
            cid = uuid.uuid4()
            ids.append(cid)
            batch.append(
                Customer(
                    id=cid,
                    organization=org_id,
                    first_name=f"Bench{i}",
                    timezone=TIMEZONES[i % len(TIMEZONES)],
                    pseudonym=secrets.token_hex(16),
                )
            )
        await Customer.insert(*batch)
        progress.update(len(ids))
    progress.done(len(ids))
    return ids


async def enroll_all(
    tenant: Any,
    customers: Sequence[uuid.UUID],
    journey_key: str,
    concurrency: int,
    progress: Progress,
) -> tuple[int, float]:
    """Enroll every customer, at most ``concurrency`` at a time; returns (steps, seconds)."""
    from journeys.enrollments.services import enroll

    pending = iter(customers)
    steps = 0

    async def worker() -> None:
        nonlocal steps
        for customer_id in pending:
            result = await enroll(tenant, customer_id, journey_key, {}, now=T0)
            steps += result.steps_created
            progress.count += 1
            progress.update(progress.count)

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return steps, time.perf_counter() - start


async def measure_enroll(
    tenant: Any, customers: Sequence[uuid.UUID], concurrency: int
) -> dict[str, tuple[int, float]]:
    """Enroll everyone on both journeys, interleaved in rounds with alternating order.

    Interleaving spreads drift (pool warm-up, growing tables, autovacuum) evenly over the
    two journeys, so the 84d/7d time ratio compares like with like.
    """
    totals = {SHORT_KEY: (0, 0.0), LIBRARY_KEY: (0, 0.0)}
    progress = Progress("enroll() 7-day + 84-day", 2 * len(customers))
    size = -(-len(customers) // ENROLL_ROUNDS)
    for round_no, first in enumerate(range(0, len(customers), size)):
        chunk = customers[first : first + size]
        order = [SHORT_KEY, LIBRARY_KEY] if round_no % 2 == 0 else [LIBRARY_KEY, SHORT_KEY]
        for key in order:
            steps, seconds = await enroll_all(tenant, chunk, key, concurrency, progress)
            done_steps, done_seconds = totals[key]
            totals[key] = (done_steps + steps, done_seconds + seconds)
    progress.done(progress.count)
    return totals


@dataclass
class JobRun:
    """What the rolling-horizon job did over the simulated days."""

    steps: int = 0
    seconds: float = 0.0
    calls: int = 0
    days: int = 0


async def run_job() -> JobRun:
    """Call ``materialise_due`` day by day until every enrollment is materialised to its end.

    Within a day the job is called until nothing is due any more (a call may write zero
    steps while still advancing a batch of enrollments, e.g. in the weekly phase). Only the
    ``materialise_due`` calls are timed; the bench's own "anything left?" counts are not.
    """
    from journeys.enrollments.jobs import materialise_due
    from journeys.enrollments.planning import horizon
    from journeys.tables import Enrollment

    run = JobRun()
    unfinished = (Enrollment.status == "active") & (
        Enrollment.ends_at.is_null() | (Enrollment.materialised_until <= Enrollment.ends_at)
    )
    progress = Progress("materialise_due", None)
    for day in range(1, MAX_DAYS + 1):
        now = T0 + timedelta(days=day)
        due = unfinished & (Enrollment.materialised_until < now + horizon() / 2)
        while True:
            start = time.perf_counter()
            written = await materialise_due(now=now)
            run.seconds += time.perf_counter() - start
            run.calls += 1
            run.steps += written
            progress.update(run.steps, f"steps, day {day}, {run.calls:,} calls")
            if written == 0 and await Enrollment.count().where(due) == 0:
                break
        run.days = day
        if await Enrollment.count().where(unfinished) == 0:
            break
    progress.done(run.steps, f"steps, {run.days} days, {run.calls:,} calls")
    return run


# --- raw baselines --------------------------------------------------------------------------


def _fresh_ids(rows: Iterable[Sequence[Any]], as_text: bool) -> list[tuple[Any, ...]]:
    out = []
    for row in rows:
        new = uuid.uuid4()
        out.append((str(new) if as_text else new, *row[1:]))
    return out


async def raw_postgres(url: str, count: int, messages: int) -> list[Row]:
    """COPY and executemany INSERT of ``count`` real step rows and ``messages`` real message
    rows into copies of the step and nudge tables."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows: list[Row] = []
        data = {}
        for table, columns, limit, order in (
            ("step", STEP_COLUMNS, count, "enrollment, occurrence"),
            ("nudge", NUDGE_COLUMNS, messages, "step, position"),
        ):
            cols = ", ".join(columns)
            source = await conn.fetch(
                f"SELECT {cols} FROM {table} ORDER BY {order} LIMIT $1", limit
            )
            data[table] = _fresh_ids(source, as_text=False)
            foreign = await conn.fetch(
                "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
                f"WHERE conrelid = '{table}'::regclass AND contype = 'f'"
            )
            for way in ("copy", "insert"):
                scratch = f"bench_raw_{way}_{table}"
                await conn.execute(f"CREATE TABLE {scratch} (LIKE {table} INCLUDING ALL)")
                for fk in foreign:
                    await conn.execute(f"ALTER TABLE {scratch} ADD {fk['def']}")
        await conn.execute("CHECKPOINT")
        total = sum(len(v) for v in data.values())

        log(f"  raw COPY of {len(data['step']):,} steps and {len(data['nudge']):,} messages")
        start = time.perf_counter()
        async with conn.transaction():
            for table, columns in (("step", STEP_COLUMNS), ("nudge", NUDGE_COLUMNS)):
                await conn.copy_records_to_table(
                    f"bench_raw_copy_{table}", records=data[table], columns=list(columns)
                )
        seconds = time.perf_counter() - start
        rows.append(Row("raw asyncpg COPY: steps + messages", total, seconds, raw=True))

        log("  raw executemany INSERT of the same rows")
        start = time.perf_counter()
        async with conn.transaction():
            for table, columns in (("step", STEP_COLUMNS), ("nudge", NUDGE_COLUMNS)):
                params = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
                await conn.executemany(
                    f"INSERT INTO bench_raw_insert_{table} ({', '.join(columns)}) "
                    f"VALUES ({params})",
                    data[table],
                )
        seconds = time.perf_counter() - start
        rows.append(
            Row("raw asyncpg executemany INSERT: steps + messages", total, seconds, raw=True)
        )
        return rows
    finally:
        await conn.close()


def _scratch_ddl(sql: str, table: str) -> str:
    """A table's (or one of its indexes') DDL, for its scratch copy."""

    def rename(m: re.Match[str]) -> str:
        index = f"bench_raw_{m[2]} ON " if m[2] else ""
        return f"CREATE {m[1]} {index}bench_raw_{table}"

    pattern = rf'^CREATE (TABLE|UNIQUE INDEX|INDEX) (?:"?(\w+)"? ON )?"?{table}"?'
    return re.sub(pattern, rename, sql)


def raw_sqlite(path: Path, count: int, messages: int) -> list[Row]:
    """sqlite3 executemany of ``count`` real step rows and ``messages`` real message rows
    into copies of the step and nudge tables."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = 1")
        data = {}
        for table, columns, limit, order in (
            ("step", STEP_COLUMNS, count, "enrollment, occurrence"),
            ("nudge", NUDGE_COLUMNS, messages, "step, position"),
        ):
            cols = ", ".join(columns)
            source = conn.execute(
                f"SELECT {cols} FROM {table} ORDER BY {order} LIMIT ?", (limit,)
            ).fetchall()
            data[table] = _fresh_ids(source, as_text=bool(source) and isinstance(source[0][0], str))
            schema = conn.execute(
                "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL", (table,)
            ).fetchall()
            for (sql,) in sorted(schema, key=lambda row: "INDEX" in row[0]):
                # Same columns, constraints, foreign keys and indexes, under the scratch name.
                conn.execute(_scratch_ddl(sql, table))
        if not data["step"]:
            return []

        log(
            f"  raw executemany INSERT of {len(data['step']):,} steps, "
            f"{len(data['nudge']):,} messages"
        )
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for table, columns in (("step", STEP_COLUMNS), ("nudge", NUDGE_COLUMNS)):
            params = ", ".join("?" for _ in columns)
            conn.executemany(
                f"INSERT INTO bench_raw_{table} ({', '.join(columns)}) VALUES ({params})",
                data[table],
            )
        conn.execute("COMMIT")
        return [
            Row(
                "raw sqlite3 executemany INSERT: steps + messages (one transaction)",
                sum(len(v) for v in data.values()),
                time.perf_counter() - start,
                raw=True,
            )
        ]
    finally:
        conn.close()


# --- one database -----------------------------------------------------------------------------


async def bench(kind: str, url: str, customers: int, concurrency: int) -> Report:
    """Set up, measure and return the report for the database the settings point at."""
    import coaching.outbox  # noqa: F401 - plans the messages written with each step
    from api.cli import _migrate
    from coaching.tables import Nudge
    from core import db
    from core.identity import create_organization
    from core.tenancy import Tenant
    from journeys.enrollments.jobs import BATCH
    from journeys.enrollments.planning import horizon
    from journeys.services import load_journey
    from journeys.tables import Enrollment, Journey, Step
    from settings import get_settings

    settings = get_settings()
    log(f"[{kind}] migrating")
    await _migrate()
    await db.start_pool(settings.database)
    try:
        if kind == "postgres":
            version = (await db.engine().run_ddl("SHOW server_version"))[0]["server_version"]
            server = f"PostgreSQL {version}"
        else:
            server = f"SQLite {sqlite3.sqlite_version}"
        org = await create_organization(f"bench-{secrets.token_hex(4)}", "Bench clinic")
        tenant = Tenant(org.id)
        source = (ROOT / "journeys" / "library" / f"{LIBRARY_KEY}.yaml").read_text("utf-8")
        await load_journey(tenant, source, f"{LIBRARY_KEY}.yaml")
        await load_journey(tenant, SHORT_JOURNEY, "bench-7d.yaml")

        report = Report(f"{server}: {customers:,} customers")
        report.header += [
            f"database: {server} (throw-away, migrated with the real migrations)",
            f"customers: {customers:,} in {len(TIMEZONES)} zones; enroll() concurrency: "
            f"{concurrency}; journeys start {T0:%Y-%m-%d %H:%M} UTC",
            f"step horizon: {horizon()}; materialise_due batch: {BATCH} enrollments",
        ]

        log(f"[{kind}] creating {customers:,} customers")
        ids, seconds = await timed(lambda: create_customers(org.id, customers))
        report.rows.append(
            Row("setup: customers (Piccolo batch insert)", len(ids), seconds, compare=False)
        )

        log(f"[{kind}] enroll() on the 7-day and the 84-day journey, interleaved")
        enrolled = await measure_enroll(tenant, ids, concurrency)
        per_enrollment: dict[str, float] = {}
        for key, label in ((SHORT_KEY, "7-day"), (LIBRARY_KEY, "84-day")):
            steps, seconds = enrolled[key]
            per_enrollment[label] = seconds / len(ids)
            report.rows.append(
                Row(f"enroll() {label}: enrollments", len(ids), seconds, compare=False)
            )
            report.rows.append(Row(f"enroll() {label}: steps written", steps, seconds))

        # The job below measures the 84-day journey alone.
        short = await Journey.select(Journey.id).where(Journey.key == SHORT_KEY).first()
        assert short is not None
        await Enrollment.update({Enrollment.status: "cancelled"}).where(
            Enrollment.journey == short["id"]
        )

        log(f"[{kind}] materialise_due() day by day over the 84-day journey")
        before = await Nudge.count()
        job = await run_job()
        messages = await Nudge.count() - before
        report.rows.append(
            Row(
                f"materialise_due(): steps ({job.calls:,} calls over {job.days} days)",
                job.steps,
                job.seconds,
                compare=False,
            )
        )
        report.rows.append(
            Row(
                f"materialise_due(): steps + {messages:,} planned messages",
                job.steps + messages,
                job.seconds,
            )
        )
        library = await Journey.select(Journey.id).where(Journey.key == LIBRARY_KEY).first()
        assert library is not None
        stored = await Step.count().where(Step.enrollment.journey == library["id"])
    finally:
        await db.close_pool()

    log(f"[{kind}] raw baseline")
    if kind == "postgres":
        report.rows += await raw_postgres(url, job.steps, messages)
    else:
        report.rows += raw_sqlite(settings.database.sqlite_path, job.steps, messages)

    ratio = per_enrollment["84-day"] / per_enrollment["7-day"]
    report.notes += [
        "",
        f"time per enrollment: 84-day {per_enrollment['84-day'] * 1000:.2f} ms, "
        f"7-day {per_enrollment['7-day'] * 1000:.2f} ms (wall clock / customers); "
        f"ratio 84d/7d = {ratio:.2f}",
        f"84-day journey: {stored:,} steps stored in total "
        f"({stored / customers:.1f} per enrollment), "
        f"{job.steps / customers:.1f} per enrollment written by materialise_due()",
    ]
    return report


def run_one(kind: str, customers: int | None, concurrency: int | None, pg_server: str) -> int:
    """Benchmark one database in this process (settings are set before any project import)."""
    notes = []
    if customers is None:
        customers = DEFAULT_CUSTOMERS
        if kind == "sqlite":
            customers = SQLITE_DEFAULT_CUSTOMERS
            notes.append(SQLITE_REASON)
            log(f"[sqlite] {SQLITE_REASON}")
    tmp = Path(tempfile.mkdtemp(prefix="slipguard-bench-"))
    pg_name: str | None = None
    try:
        if kind == "postgres":
            pg_name, url = create_pg_database(pg_server)
            log(f"[postgres] created database {pg_name}")
        else:
            url = f"sqlite:///{tmp / 'bench.sqlite3'}"
        os.environ.update(
            {
                "SLIPGUARD_DATABASE_URL": url,
                "SLIPGUARD_DATA_DIR": str(tmp),
                "SLIPGUARD_ENV_FILE": "",
                "SLIPGUARD_LOG_LEVEL": "WARNING",
            }
        )
        k = concurrency if concurrency is not None else (8 if kind == "postgres" else 1)
        start = time.perf_counter()
        report = asyncio.run(bench(kind, url, customers, k))
        report.header += notes
        report.notes.append(f"whole run (setup included): {time.perf_counter() - start:.0f} s")
        print(report.render(), flush=True)
        print(flush=True)
        return 0
    finally:
        if pg_name is not None:
            drop_pg_database(pg_server, pg_name)
            log(f"[postgres] dropped database {pg_name}")
        shutil.rmtree(tmp, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments; run one database here, or each in its own child process."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument(
        "--customers",
        type=int,
        default=None,
        help=f"default {DEFAULT_CUSTOMERS:,}; {SQLITE_DEFAULT_CUSTOMERS:,} on SQLite (too slow)",
    )
    parser.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="enroll() calls in flight (default 8 on PostgreSQL, 1 on SQLite)",
    )
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("SLIPGUARD_BENCH_PG_SERVER", DEFAULT_PG_SERVER),
        help="PostgreSQL server URL with a database to connect to for CREATE/DROP DATABASE",
    )
    args = parser.parse_args(argv)
    if args.customers is not None and args.customers < 1:
        parser.error("--customers must be at least 1")
    if args.db != "both":
        return run_one(args.db, args.customers, args.concurrency, args.pg_server)
    failed = 0
    for kind in ("sqlite", "postgres"):
        command = [sys.executable, str(Path(__file__).resolve()), "--db", kind]
        command += ["--pg-server", args.pg_server]
        if args.customers is not None:
            command += ["--customers", str(args.customers)]
        if args.concurrency is not None:
            command += ["--concurrency", str(args.concurrency)]
        code = subprocess.run(command, check=False).returncode
        if code:
            log(f"[{kind}] failed with exit code {code}")
            failed = code
    return failed


if __name__ == "__main__":
    sys.exit(main())
