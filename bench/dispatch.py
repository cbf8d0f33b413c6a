"""Benchmark message dispatch: scheduler → Redis → one worker process → Twilio SDK → a
fake Twilio on loopback, against raw ``messages.create`` calls measured in the same run.

Usage::

    .venv/bin/python bench/dispatch.py [--messages 10000] [--spread 5000] [--future 100000]
                                       [--over 100]
                                       [--threads 8] [--pg-server URL] [--redis URL]

One run, all on 127.0.0.1:

1. creates a throw-away PostgreSQL database ``slipguard_bench_<random>`` (dropped at the
   end), migrates it and creates an organisation with a one-message journey;
2. writes ``--future`` messages due in 30 days (the backlog a real outbox carries), then
   enrolls ``--messages`` customers (SMS consent, daytime zones) whose message falls due at
   one instant, through the product's ``enroll``;
3. starts ``slipguard scheduler`` (1 s interval) and ``slipguard worker --processes 1
   --threads T`` with Twilio pointed at the fake, and times the burst until every message
   is ``sent`` (messages/s), sampling the worker's RSS every second;
4. enrolls ``--spread`` more customers whose messages fall due evenly over ``--over``
   seconds (keep it below the burst's capacity) and reports lateness (sent - due)
   p50/p99, the figure a customer notices;
5. the baseline: the same number of ``messages.create`` calls from a T-thread pool with
   the real SDK against the same fake.

Result tables go to stdout (markdown), progress to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JOURNEY = """\
key: bench-dispatch
title: Dispatch drill
anchors: [start]
behaviours:
  - key: act
    title: Be ready
    stage: encounter
    importance: 5
    schedule: {once: start}
    nudges:
      - {at: due, channel: sms, template: ready}
templates:
  ready: {en: "Hi {{ first_name }}, your parcel arrives within the hour."}
"""
FROM = "+15005550006"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _with_database(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


async def _pg_admin(server: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))] if values else 0.0


def daytime_zone() -> str:
    """A fixed-offset zone where it is about noon now (messages are not held for night)."""
    offset = (12 - datetime.now(UTC).hour + 12) % 24 - 12
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


async def make_customers(org_id: Any, count: int, first: int) -> list[Any]:
    """Customers with a phone and SMS consent, inserted in batches (fixtures, not measured)."""
    from journeys.tables import ConsentRecord, Customer

    zone = daytime_zone()
    ids = []
    for start in range(0, count, 1000):
        people, consents = [], []
        for i in range(start, min(count, start + 1000)):
            c = Customer(
                organization=org_id, first_name=f"B{first + i}", timezone=zone,
                phone=f"+1415555{(first + i) % 10000:04d}", pseudonym=secrets.token_hex(16),
            )  # fmt: skip
            people.append(c)
            consents.append(
                ConsentRecord(
                    organization=org_id,
                    customer=c.id,
                    channel="sms",
                    purpose="informational",
                    status="granted",
                    source="import",
                )
            )
            ids.append(c.id)
        await Customer.insert(*people)
        await ConsentRecord.insert(*consents)
    return ids


async def enroll(tenant: Any, customers: list[Any], due: list[datetime]) -> None:
    """Enroll each customer with their message due at ``due[i]``, 8 at a time."""
    from journeys.enrollments.services import enroll as product_enroll

    pending = iter(zip(customers, due, strict=True))
    done = 0

    async def worker() -> None:
        nonlocal done
        for customer, at in pending:
            await product_enroll(tenant, customer, "bench-dispatch", {"start": at.isoformat()})
            done += 1
            if done % 2000 == 0:
                log(f"  enrolled {done:,}/{len(customers):,}")

    await asyncio.gather(*(worker() for _ in range(8)))


async def future_backlog(org_id: Any, count: int) -> None:
    """``count`` scheduled messages due in 30 days, copied from one real row in SQL."""
    from core.db import run_sql

    await run_sql(
        "INSERT INTO nudge (id, organization, enrollment, customer, step, position, "
        "dedupe_key, kind, channel, purpose, critical, template, unless_confirmed, due_at, "
        "send_after, status, attempts, created_at, updated_at) "
        "SELECT gen_random_uuid(), n.organization, n.enrollment, n.customer, NULL, g, "
        "'bench-future:' || g, n.kind, n.channel, n.purpose, false, n.template, false, "
        "now() + interval '30 days', now() + interval '30 days', 'scheduled', 0, now(), now() "
        "FROM (SELECT * FROM nudge WHERE organization = {} LIMIT 1) n, "
        f"generate_series(1, {int(count)}) g",
        org_id,
    )


class RssSampler(threading.Thread):
    """The worker child's resident memory, sampled every second."""

    def __init__(self, supervisor: int) -> None:
        super().__init__(daemon=True)
        self.supervisor = supervisor
        self.samples: list[int] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(1.0):
            for entry in Path("/proc").iterdir():
                if not entry.name.isdigit():
                    continue
                try:
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) != self.supervisor:
                        continue
                    for line in (entry / "status").read_text().splitlines():
                        if line.startswith("VmRSS:"):
                            self.samples.append(int(line.split()[1]) // 1024)
                except (OSError, ValueError):
                    continue


async def wait_sent(org_id: Any, expected: int, timeout: float) -> float:
    """Seconds until ``expected`` messages of the organisation are sent."""
    from coaching.tables import Nudge

    start = time.perf_counter()
    while time.perf_counter() - start < timeout:
        sent = await Nudge.count().where((Nudge.organization == org_id) & (Nudge.status == "sent"))
        if sent >= expected:
            return time.perf_counter() - start
        await asyncio.sleep(0.25)
    raise SystemExit(f"only {sent:,} of {expected:,} sent after {timeout:.0f} s")


def raw_baseline(fake_url: str, count: int, threads: int) -> float:
    """messages.create from a thread pool, one SDK client per thread; returns msgs/s."""
    from twilio.rest import Client

    from coaching.channels.twilio_http import RedirectingTwilioHttpClient
    from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN

    local = threading.local()

    def send(i: int) -> None:
        client = getattr(local, "client", None)
        if client is None:
            http = RedirectingTwilioHttpClient(base_url=fake_url, timeout=10)
            client = local.client = Client(
                DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, http_client=http
            )
        client.messages.create(to=f"+1415555{i % 10000:04d}", from_=FROM, body=f"raw {i}")

    start = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, range(count)))
    return count / (time.perf_counter() - start)


async def bench(args: argparse.Namespace, url: str, tmp: Path) -> None:
    from coaching.tables import Nudge
    from core import db
    from core.identity import create_organization
    from core.tenancy import Tenant
    from journeys.services import load_journey
    from settings import get_settings
    from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

    await db.start_pool(get_settings().database)
    org = await create_organization(f"bench-{secrets.token_hex(3)}", "Bench")
    tenant = Tenant(org.id)
    await load_journey(tenant, JOURNEY)
    fake = FakeTwilio().start()
    env = {
        **os.environ,
        "SLIPGUARD_BROKER_URL": args.redis,
        "SLIPGUARD_LOG_LEVEL": "WARNING",
        "SLIPGUARD_SCHEDULER_INTERVAL_SECONDS": "1",
        "SLIPGUARD_TWILIO_ACCOUNT_SID": DEFAULT_ACCOUNT_SID,
        "SLIPGUARD_TWILIO_AUTH_TOKEN": DEFAULT_AUTH_TOKEN,
        "SLIPGUARD_TWILIO_FROM_NUMBER": FROM,
        "SLIPGUARD_TWILIO_API_BASE": fake.url,
        "SLIPGUARD_SMS_RATE_PER_SENDER": "100000",
        "SLIPGUARD_FREQUENCY_CAP_PER_DAY": "100",
    }
    procs: list[subprocess.Popen[bytes]] = []
    try:
        log(f"customers and {args.messages:,} messages due at one instant …")
        burst = await make_customers(org.id, args.messages, 0)
        due = datetime.now(UTC) + timedelta(seconds=600)  # later than enrollment takes
        await enroll(tenant, burst, [due] * len(burst))
        if args.future:
            log(f"{args.future:,} messages due in 30 days (the backlog) …")
            await future_backlog(org.id, args.future)
        log("scheduler and worker start …")
        out = open(tmp / "processes.log", "wb")  # noqa: SIM115 - closed at the end
        env["SLIPGUARD_LOG_LEVEL"] = "INFO"  # the worker says when it is ready
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "api.cli", "scheduler"],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=ROOT,
            )
        )
        worker = subprocess.Popen(
            [sys.executable, "-m", "api.cli", "worker", "--processes", "1", "--threads",
             str(args.threads)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=ROOT,
        )  # fmt: skip
        procs.append(worker)
        deadline = time.monotonic() + 60
        while b"worker started" not in (tmp / "processes.log").read_bytes():
            if time.monotonic() > deadline:
                raise SystemExit("the worker did not start: see its log")
            await asyncio.sleep(0.2)
        sampler = RssSampler(worker.pid)
        sampler.start()
        # Now make the burst due (the clock of the other processes cannot be moved).
        moved = datetime.now(UTC)
        await Nudge.update({Nudge.due_at: moved, Nudge.send_after: moved}).where(
            (Nudge.organization == org.id) & (Nudge.send_after == due)
        )
        log("the burst is due now")
        seconds = await wait_sent(org.id, len(burst), timeout=1800)
        product_rate = len(burst) / seconds
        log(f"  burst: {product_rate:,.0f} messages/s")

        log(f"{args.spread:,} messages due over {args.over} s …")
        spread = await make_customers(org.id, args.spread, args.messages)
        start = datetime.now(UTC) + timedelta(seconds=300)
        times = [start + timedelta(seconds=args.over * i / len(spread)) for i in range(len(spread))]
        await enroll(tenant, spread, times)
        shift = datetime.now(UTC) + timedelta(seconds=3) - start
        from core.db import run_sql

        await run_sql(
            "UPDATE nudge SET due_at = due_at + {}, send_after = send_after + {} "
            "WHERE organization = {} AND status = 'scheduled' AND send_after < {}",
            shift, shift, org.id, start + timedelta(seconds=args.over + 10),
        )  # fmt: skip
        await wait_sent(org.id, len(burst) + len(spread), timeout=600)
        rows = await run_sql(
            "SELECT EXTRACT(EPOCH FROM sent_at - due_at) AS late FROM nudge "
            "WHERE organization = {} AND status = 'sent' AND customer = ANY({})",
            org.id, spread,
        )  # fmt: skip
        late = [float(r["late"]) for r in rows]
        sampler.stop.set()
        log("raw baseline …")
        fake.reset()
        raw_rate = raw_baseline(fake.url, len(burst), args.threads)
        rss = sampler.samples or [0]
        print(f"| dispatch, {len(burst):,} messages | messages/s | vs raw |")
        print("|---|---|---|")
        print(
            f"| product: scheduler → Redis → 1 worker x {args.threads} threads | "
            f"{product_rate:,.0f} | {product_rate / raw_rate:.2f}x |"
        )
        print(f"| raw: `messages.create`, {args.threads} threads | {raw_rate:,.0f} | 1.00x |")
        print()
        print(
            f"| lateness, {len(spread):,} messages due over {args.over} s, "
            f"{args.future:,} future rows pending | seconds |"
        )
        print("|---|---|")
        print(f"| p50 | {quantile(late, 0.5):.2f} |")
        print(f"| p99 | {quantile(late, 0.99):.2f} |")
        print()
        print(
            f"worker RSS over the run: first {rss[0]} MB, max {max(rss)} MB, "
            f"last {rss[-1]} MB ({len(rss)} samples)"
        )
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        fake.stop()
        await db.close_pool()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--spread", type=int, default=5_000)
    parser.add_argument("--future", type=int, default=100_000)
    parser.add_argument("--over", type=int, default=100, help="seconds the spread covers")
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument(
        "--pg-server",
        default=os.environ.get(
            "SLIPGUARD_BENCH_PG_SERVER", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    args = parser.parse_args(argv)
    name = f"slipguard_bench_{secrets.token_hex(4)}"
    asyncio.run(_pg_admin(args.pg_server, f'CREATE DATABASE "{name}"'))
    tmp = Path(tempfile.mkdtemp(prefix="slipguard-bench-"))
    url = _with_database(args.pg_server, name)
    os.environ.update({
        "SLIPGUARD_DATABASE_URL": url, "SLIPGUARD_DATA_DIR": str(tmp),
        "SLIPGUARD_ENV_FILE": "", "SLIPGUARD_LOG_LEVEL": "WARNING",
    })  # fmt: skip
    log(f"database {name}")
    try:
        subprocess.run([sys.executable, "-m", "api.cli", "migrate"], check=True, cwd=ROOT,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        import coaching.outbox  # noqa: F401 - plans messages with every step

        asyncio.run(bench(args, url, tmp))
    finally:
        asyncio.run(_pg_admin(args.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
