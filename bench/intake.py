"""Benchmark slip intake over HTTP against a raw baseline measured in the same run.

Usage::

    .venv/bin/python bench/intake.py [--duration 15] [--connections 32] [--threads 2]
                                     [--batches 20] [--sqlite-duration 60] [--skip-sqlite]
                                     [--wait-quiet SECONDS] [--profile SECONDS]
                                     [--pg-server URL]

One run, all on 127.0.0.1:

1. creates a throw-away PostgreSQL database ``slipguard_bench_<random>`` (dropped at the
   end), runs ``slipguard init``, ``slipguard keys create --role staff`` and
   ``slipguard journeys load`` on the library journey ``hypertension-adherence``;
2. serves the product as users run it, with the default settings (INFO logs as JSON lines
   on stderr, here into a file) and one API process, in two shapes: ``slipguard serve``
   without a broker (embedded: API + in-process worker + scheduler) and, when Redis answers
   on 127.0.0.1:6379, ``slipguard serve --workers 1`` with ``SLIPGUARD_BROKER_URL`` set
   (the documented scale command: API only);
3. drives ``POST /api/v1/slips`` with wrk (``bench/lua/slips.lua``): without and with a
   unique ``Idempotency-Key`` per request, and checks that the slips stored match the
   201 responses wrk saw (give or take the requests in flight when wrk stopped);
4. drives ``bench/intake_raw.py`` (Litestar + one asyncpg INSERT, no auth; with a key, the
   key claimed in the same statement) with the same script and reports
   product/raw;
5. posts 1,000-item batches to ``POST /api/v1/slips/batch`` (httpx; one client, then four
   concurrent clients) against asyncpg ``copy_records_to_table`` and ``executemany`` of the
   same rows;
6. unless ``--skip-sqlite``: the embedded product on a SQLite file under the same wrk load
   for ``--sqlite-duration`` seconds, counting 5xx responses and "database is locked" in
   the server log.

Every run also reports the CPU time per request of the app process, of the PostgreSQL
backends and of wrk, and how busy the machine was (client, servers and database share it).
Before starting, the script waits up to ``--wait-quiet`` seconds for other CPU load to go
away and prints what it found. ``--profile SECONDS`` adds a py-spy profile of the embedded
product (needs ``py-spy`` in the virtualenv) under the plain wrk load and while it takes
batches, as own time by package and by function.

Result tables go to stdout (markdown), progress to stderr; server logs, wrk outputs and
profiles are kept in ``bench/out/``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import platform
import re
import resource
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.intake_raw import COLUMNS, insert_sql  # noqa: E402

BIN = Path(sys.executable).parent
OUT = ROOT / "bench" / "out"
LUA = ROOT / "bench" / "lua" / "slips.lua"
HOST = "127.0.0.1"
DEFAULT_PG_SERVER = f"postgresql://postgres@{HOST}:5432/postgres"
REDIS_URL = f"redis://{HOST}:6379/15"
ORG = "bench"
JOURNEY_KEY = "hypertension-adherence"
JOURNEY_FILE = ROOT / "journeys" / "library" / f"{JOURNEY_KEY}.yaml"
SITE = "bench"  # what the wrk script sends
BATCH_SITE = "bench-batch"
BATCH_SIZE = 1000
BATCH_CLIENTS = 4
WARMUP_SECONDS = 3
PROFILE_BATCHES = 10
SETTLE_SECONDS = 1.5  # after wrk stops, for the requests still in flight to finish
WRK_TIMEOUT = "30s"  # longer than any sane response, so slow answers count as latency
QUIET_LIMIT = 15.0  # % of one core: more means someone else is using the machine
REST_LIMIT = 25.0  # % of one core used by others during a run: measure it again
QUIET_PATIENCE = 300.0  # seconds to wait for a quiet machine before a repeat
CPU_NOTE = (
    "CPU ms/req: CPU time per request of the app process, of the PostgreSQL backends of the "
    "bench database and of wrk. CPU busy %: the app process (100 = one core saturated), the "
    "whole machine (of 100 per core) and the rest: machine minus app, backends and wrk "
    "(PostgreSQL's WAL writer, the kernel, anything else running; a line marked busy machine "
    f"had more than {REST_LIMIT:.0f}% of a core of it)."
)
GOAL_RATIO = 0.6
GOAL_P99_MS = 50.0
GOAL_BATCH_RATE = 20_000
GOAL_BATCH_RATIO = 0.3
ITEM = {"journey": JOURNEY_KEY, "behaviour": "take-dose", "failure_mode": "forgot"}


def log(message: str) -> None:
    """A status line on stderr (stdout carries only the result tables)."""
    print(message, file=sys.stderr, flush=True)


# --- results --------------------------------------------------------------------------------


@dataclass
class Line:
    """One line of a result table."""

    what: str
    rate: float  # requests/s or slips/s
    p50_ms: float
    p99_ms: float
    errors: str
    ratio: float | None
    check: str = ""
    cpu: str = "-"
    busy: str = "-"


@dataclass
class Table:
    """A markdown table with a title, the rate's unit and notes under it."""

    title: str
    unit: str
    cpu_header: str = "CPU ms/req: app, PG, wrk"
    lines: list[Line] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def render(self) -> str:
        """The table as markdown."""
        out = [f"### {self.title}", ""]
        out.append(
            f"| what | {self.unit} | p50 ms | p99 ms | errors | ratio | {self.cpu_header} "
            "| CPU busy %: app / machine / rest | stored rows |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        for ln in self.lines:
            ratio = f"{ln.ratio:.2f}x" if ln.ratio is not None else "-"
            out.append(
                f"| {ln.what} | {ln.rate:,.0f} | {ln.p50_ms:.1f} | {ln.p99_ms:.1f} | "
                f"{ln.errors} | {ratio} | {ln.cpu} | {ln.busy} | {ln.check} |"
            )
        out.append("")
        out += self.notes
        return "\n".join(out)


def emit(table: Table) -> None:
    """Print a finished table right away (a later failure does not lose it)."""
    print(table.render(), flush=True)
    print(flush=True)


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


# --- machine --------------------------------------------------------------------------------


def _first_line(command: Sequence[str]) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=10, check=False)
    except OSError:
        return "?"
    text = (done.stdout or done.stderr).strip()
    return text.splitlines()[0] if text else "?"


def machine(pg_version: str) -> list[str]:
    """What the numbers were measured on."""
    cpu = "?"
    with contextlib.suppress(OSError):
        for row in subprocess.run(
            ["lscpu"], capture_output=True, text=True, check=False
        ).stdout.splitlines():
            if row.startswith("Model name:"):
                cpu = row.split(":", 1)[1].strip()
    memory = "?"
    with contextlib.suppress(OSError), open("/proc/meminfo") as fh:
        for row in fh:
            if row.startswith("MemTotal:"):
                memory = f"{int(row.split()[1]) / 1024 / 1024:.1f} GiB"
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("litestar", "uvicorn", "uvloop", "httptools", "asyncpg", "piccolo", "httpx")
    )
    wrk = re.sub(r"\s*Copyright.*", "", _first_line(["wrk", "-v"]))
    return [
        f"machine: {len(os.sched_getaffinity(0))} CPUs ({cpu}), {memory} RAM, "
        f"Linux {platform.release()}; client, servers and databases share the machine",
        f"PostgreSQL {pg_version}, SQLite {sqlite3.sqlite_version}, "
        f"Python {platform.python_version()}, {wrk}",
        versions,
    ]


# --- throw-away databases -------------------------------------------------------------------


def _with_database(server: str, name: str) -> str:
    return urlunsplit(urlsplit(server)._replace(path=f"/{name}"))


async def _pg(url: str, sql: str, *args: Any) -> Any:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def pg(url: str, sql: str, *args: Any) -> Any:
    """Run one statement on a fresh connection; returns the first value."""
    return asyncio.run(_pg(url, sql, *args))


# --- processes ------------------------------------------------------------------------------


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def redis_reachable() -> bool:
    """Whether a Redis server answers PING on the loopback interface."""
    try:
        with socket.create_connection((HOST, 6379), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def base_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """The environment for product subprocesses: no inherited SLIPGUARD_*, then ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SLIPGUARD_")}
    env.update(
        {
            "SLIPGUARD_DATABASE_URL": database_url,
            "SLIPGUARD_DATA_DIR": str(data_dir),
            "SLIPGUARD_LOG_LEVEL": "WARNING",
            "SLIPGUARD_ENV_FILE": "",
            "SLIPGUARD_HOST": HOST,
        }
    )
    return env


def cli(env: dict[str, str], *args: str) -> str:
    """Run a ``slipguard`` command; returns its stdout, raises with stderr on failure."""
    done = subprocess.run(
        [str(BIN / "slipguard"), *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode:
        raise RuntimeError(f"slipguard {' '.join(args[:2])} failed:\n{done.stderr}")
    return done.stdout.strip()


def set_up_org(env: dict[str, str]) -> str:
    """Migrate, create the organisation and its staff key, load the journey; the staff key."""
    cli(
        env,
        "init",
        "--org",
        ORG,
        "--org-name",
        "Bench Clinic",
        "--admin-email",
        "admin@bench.example",
        "--admin-password",
        secrets.token_urlsafe(16),
    )
    staff = cli(env, "keys", "create", "--org", ORG, "--role", "staff", "--name", "bench")
    cli(env, "journeys", "load", "--org", ORG, str(JOURNEY_FILE))
    return staff.splitlines()[-1]


class Server:
    """A server subprocess in its own process group, logging to a file in bench/out/."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], port: int) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.port = port
        self.log_path = OUT / f"intake-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: TextIO | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout: float = 120.0) -> None:
        """Start and wait until ``/healthz`` answers 200."""
        import httpx

        self._log = open(self.log_path, "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            self.command,
            env=self.env,
            cwd=ROOT,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not become ready in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        """The end of the server log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def log_text(self) -> str:
        """The whole server log."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        """SIGINT the process group (uvicorn shuts down cleanly), SIGKILL after 20 s."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 20.0), (signal.SIGKILL, 5.0)):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, sig)
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            # Anything the leader left behind in its group goes too.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def serving(server: Server) -> Iterator[Server]:
    """Start a server and stop it whatever happens."""
    log(f"  starting {server.name} on port {server.port}")
    try:
        server.start()
        yield server
    finally:
        server.stop()
        log(f"  stopped {server.name}")


# --- CPU accounting -------------------------------------------------------------------------


_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process (all its threads) has used so far."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICK


async def _backends(url: str) -> list[int]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return [int(r["pid"]) for r in rows]
    finally:
        await conn.close()


def backend_cpu(url: str | None) -> dict[int, float]:
    """CPU seconds used so far by each PostgreSQL backend connected to the bench database."""
    if url is None:
        return {}
    return {pid: cpu_seconds(pid) for pid in asyncio.run(_backends(url))}


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine so far (all cores), from /proc/stat."""
    with open("/proc/stat") as fh:
        ticks = [int(v) for v in fh.readline().split()[1:]]
    return (sum(ticks) - ticks[3] - ticks[4]) / _TICK  # minus idle and iowait


@dataclass
class CpuMeter:
    """CPU used by the app process, PostgreSQL, wrk and the whole machine over a stretch.

    PostgreSQL counts the backends connected to the bench database at the end (the app's
    pool); its background processes (WAL writer, checkpointer) fall under "rest" with other
    users of the machine and unattributed kernel time. wrk is this process's reaped children.
    """

    pid: int
    db_url: str | None = None
    app: float = 0.0
    pg: float = 0.0
    client: float = 0.0
    busy: float = 0.0
    wall: float = 0.0
    _pg_start: dict[int, float] = field(default_factory=dict)

    @staticmethod
    def _children() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    def __enter__(self) -> CpuMeter:
        self.app, self._pg_start = cpu_seconds(self.pid), backend_cpu(self.db_url)
        self.client, self.busy = self._children(), machine_cpu()
        self.wall = time.perf_counter()
        return self

    def __exit__(self, *_: object) -> None:
        self.wall = time.perf_counter() - self.wall
        self.app = cpu_seconds(self.pid) - self.app
        end = backend_cpu(self.db_url)
        self.pg = sum(v - self._pg_start.get(pid, 0.0) for pid, v in end.items())
        self.client = self._children() - self.client
        self.busy = machine_cpu() - self.busy

    @property
    def rest_pct(self) -> float:
        """CPU % (of one core) used by neither the app, its backends nor wrk."""
        rest = self.busy - self.app - self.pg - self.client
        return 100 * max(rest, 0.0) / self.wall if self.wall else 0.0

    def usage(self) -> str:
        """Busy %: the app (of one core), the machine (of all cores), and the rest of it."""
        if not self.wall:
            return "-"
        cores = len(os.sched_getaffinity(0))
        return (
            f"{100 * self.app / self.wall:.0f} / {100 * self.busy / self.wall:.0f} "
            f"of {100 * cores} / {self.rest_pct:.0f}"
        )

    def per(self, count: int, scale: float = 1000.0, parts: str = "app,pg,wrk") -> str:
        """CPU ms per ``count`` units of work (times ``scale``/1000) of the chosen parts."""
        if not count:
            return "-"
        values = {"app": self.app, "pg": self.pg, "wrk": self.client}
        return ", ".join(
            f"{values[p] * scale / count:.2f}" if p in values else "-" for p in parts.split(",")
        )


def background_load(seconds: float = 3.0) -> float:
    """Machine CPU busy % (of 100 per core) over a few seconds while nothing of ours runs."""
    start, wall = machine_cpu(), time.perf_counter()
    time.sleep(seconds)
    return 100 * (machine_cpu() - start) / (time.perf_counter() - wall)


def wait_quiet(limit: float, patience: float) -> float:
    """Wait up to ``patience`` seconds for the background load to drop below ``limit`` %."""
    deadline = time.monotonic() + patience
    load = background_load()
    while load > limit and time.monotonic() < deadline:
        log(f"  background CPU load {load:.0f}% (> {limit:.0f}%): waiting for a quiet machine")
        load = background_load(5.0)
    if load > limit:
        log(f"  WARNING: background CPU load {load:.0f}%; other work shares the machine")
    return load


# --- wrk ------------------------------------------------------------------------------------


@dataclass
class WrkResult:
    """What one wrk run reported."""

    requests: int = 0
    seconds: float = 0.0
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    percentiles: dict[int, float] = field(default_factory=dict)  # 50, 75, 90, 99 -> ms
    max_ms: float = 0.0
    non2xx: int = 0
    socket: dict[str, int] = field(default_factory=dict)
    statuses: dict[int, int] = field(default_factory=dict)
    replayed: int = 0

    @property
    def created(self) -> int:
        return self.statuses.get(201, 0)

    @property
    def server_errors(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)

    def errors(self) -> str:
        """Non-2xx responses and socket errors, spelled out when there are any."""
        sock = sum(self.socket.values())
        if not self.non2xx and not sock:
            return "0"
        parts = [f"{self.non2xx} non-2xx"] if self.non2xx else []
        others = {c: n for c, n in sorted(self.statuses.items()) if not 200 <= c < 300}
        if others:
            parts[-1] += " (" + ", ".join(f"{n}x{c}" for c, n in others.items()) + ")"
        parts += [f"{n} {kind}" for kind, n in self.socket.items() if n]
        return ", ".join(parts)


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(text: str) -> WrkResult:
    """Requests/s, p50, p99, non-2xx and socket errors from wrk's ``--latency`` output."""
    result = WrkResult()
    if m := re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)", text):
        result.requests = int(m[1])
        result.seconds = float(m[2]) * _UNITS_MS[m[3]] / 1000
    if m := re.search(r"Requests/sec:\s+([\d.]+)", text):
        result.rps = float(m[1])
    for m in re.finditer(r"^\s+(\d+)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.MULTILINE):
        result.percentiles[int(m[1])] = float(m[2]) * _UNITS_MS[m[3]]
    result.p50_ms = result.percentiles.get(50, 0.0)
    result.p99_ms = result.percentiles.get(99, 0.0)
    latency = r"^\s+Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s|m)"
    if m := re.search(latency, text, re.MULTILINE):
        result.max_ms = float(m[1]) * _UNITS_MS[m[2]]
    if m := re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text):
        result.non2xx = int(m[1])
    if m := re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    ):
        result.socket = dict(
            zip(("connect", "read", "write", "timeout"), map(int, m.groups()), strict=True)
        )
    for m in re.finditer(r"^bench-status (\d+) (\d+)$", text, re.MULTILINE):
        result.statuses[int(m[1])] = int(m[2])
    if m := re.search(r"^bench-replayed (\d+)$", text, re.MULTILINE):
        result.replayed = int(m[1])
    return result


@dataclass
class Load:
    """The wrk load: duration, connections, threads."""

    duration: int
    connections: int
    threads: int


def run_wrk(
    url: str, token: str, load: Load, label: str, unique_keys: bool = False, duration: int = 0
) -> WrkResult:
    """Run wrk with the slip script; the output is kept in bench/out/wrk-<label>.txt."""
    seconds = duration or load.duration
    command = [
        "wrk",
        "-t",
        str(load.threads),
        "-c",
        str(load.connections),
        "-d",
        f"{seconds}s",
        "--latency",
        "--timeout",
        WRK_TIMEOUT,
        "-s",
        str(LUA),
        url,
    ]
    env = {
        **os.environ,
        "BENCH_TOKEN": token,
        "BENCH_UNIQUE_KEYS": "1" if unique_keys else "0",
        "BENCH_KEY_PREFIX": f"{label}-{secrets.token_hex(4)}",
    }
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=seconds + 120, check=False
    )
    text = done.stdout + done.stderr
    (OUT / f"wrk-{label}.txt").write_text(text)
    if done.returncode:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{text}")
    result = parse_wrk(text)
    if not result.requests:
        raise RuntimeError(f"could not read wrk's output:\n{text}")
    return result


# --- PostgreSQL part ------------------------------------------------------------------------


@dataclass
class Product:
    """What the product setup produced."""

    url: str
    staff_key: str
    env: dict[str, str]


def count_rows(url: str, table: str = "slip", site: str | None = SITE) -> int:
    """Rows in a table (slips of one site for ``slip``)."""
    if site is None:
        return int(pg(url, f"SELECT count(*) FROM {table}"))
    return int(pg(url, f"SELECT count(*) FROM {table} WHERE site = $1", site))


def check(created: int, stored: int, in_flight: int) -> tuple[str, bool]:
    """Compare stored rows with 201 responses; wrk may stop with requests in flight."""
    extra = stored - created
    ok = 0 <= extra <= in_flight
    mark = "ok" if ok else "MISMATCH"
    return f"{mark}: {stored:,} rows for {created:,} x 201 ({extra:+d})", ok


def measure_http(
    server: Server,
    db_url: str,
    token: str,
    load: Load,
    label: str,
    what: str,
    unique_keys: bool,
    table: str = "slip",
) -> tuple[WrkResult, Line]:
    """One wrk run with the stored-rows check (and idempotency records when keyed).

    A run during which something else used more than REST_LIMIT % of a core is repeated
    once, after waiting for the machine to be quiet; the line says so if it still was busy.
    """
    site = SITE if table == "slip" else None
    for attempt in (1, 2):
        pg(db_url, "CHECKPOINT")
        rows_before = count_rows(db_url, table, site)
        keys_before = count_rows(db_url, "idempotency_record", None) if table == "slip" else 0
        log(f"  wrk {what}: {load.duration} s, {load.connections} connections")
        assert server.proc is not None
        with CpuMeter(server.proc.pid, db_url) as cpu:
            result = run_wrk(server.url + "/api/v1/slips", token, load, label, unique_keys)
        time.sleep(SETTLE_SECONDS)
        if cpu.rest_pct > REST_LIMIT and attempt == 1:
            log(f"  other CPU load {cpu.rest_pct:.0f}% during the run: measuring again")
            wait_quiet(QUIET_LIMIT, QUIET_PATIENCE)
            continue
        break
    stored = count_rows(db_url, table, site) - rows_before
    text, ok = check(result.created, stored, load.connections)
    if unique_keys and table == "slip":
        keys = count_rows(db_url, "idempotency_record", None) - keys_before
        text += f"; {keys:,} keys, {result.replayed} replayed"
        ok = ok and result.replayed == 0 and 0 <= keys - result.created <= load.connections
    if not ok:
        log(f"  WARNING {what}: {text}")
    busy = " (busy machine)" if cpu.rest_pct > REST_LIMIT else ""
    line = Line(what + busy, result.rps, result.p50_ms, result.p99_ms, result.errors(), None, text)
    line.cpu, line.busy = cpu.per(result.requests), cpu.usage()
    return result, line


def warm_up(server: Server, token: str, load: Load) -> None:
    """A short unmeasured run: fills the pool and the journey cache, settles the allocator."""
    run_wrk(
        server.url + "/api/v1/slips", token, load, f"{server.name}-warmup", False, WARMUP_SECONDS
    )
    time.sleep(SETTLE_SECONDS)


@dataclass
class Template:
    """The column values of a slip the product stored, for equivalent raw rows."""

    values: dict[str, Any]

    def record(self) -> tuple[Any, ...]:
        """A raw row: the product's values with a fresh id and timestamps."""
        now = datetime.now(UTC)
        fresh = {"id": uuid.uuid4(), "occurred_at": now, "created_at": now, "updated_at": now}
        return tuple(fresh.get(c, self.values[c]) for c in COLUMNS)


async def _template(url: str) -> Template:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(
            f"SELECT {', '.join(COLUMNS)} FROM slip WHERE site = $1 LIMIT 1", SITE
        )
        if row is None:
            raise RuntimeError("the product stored no slip to copy")
        return Template(dict(row))
    finally:
        await conn.close()


async def _scratch_tables(url: str, names: Sequence[str], like: str = "slip") -> None:
    """Copies of a product table (columns, defaults, indexes, foreign keys)."""
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        foreign = await conn.fetch(
            "SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint "
            "WHERE conrelid = $1::regclass AND contype = 'f'",
            like,
        )
        for name in names:
            await conn.execute(f"CREATE TABLE {name} (LIKE {like} INCLUDING ALL)")
            for fk in foreign:
                await conn.execute(f"ALTER TABLE {name} ADD {fk['def']}")
    finally:
        await conn.close()


def http_section(
    args: argparse.Namespace, db_url: str, product: Product, load: Load
) -> tuple[Template, list[BatchResult]]:
    """Single-slip intake: product shapes and the raw baseline, driven by the same script."""
    table = Table(
        f"POST /api/v1/slips, one slip per request: {load.connections} connections, "
        f"{load.threads} wrk threads, {load.duration} s each",
        "req/s",
    )
    results: dict[str, WrkResult] = {}
    lines: dict[str, Line] = {}
    token = product.staff_key

    # Servers run with the defaults users get (INFO access logs as JSON lines); only the
    # set-up commands above run quietly.
    served_env = {k: v for k, v in product.env.items() if k != "SLIPGUARD_LOG_LEVEL"}
    embedded_env = {k: v for k, v in served_env.items() if k != "SLIPGUARD_BROKER_URL"}
    embedded = Server(
        "product-embedded",
        [str(BIN / "slipguard"), "serve", "--port", str(port := free_port())],
        embedded_env,
        port,
    )
    with serving(embedded):
        warm_up(embedded, token, load)
        for key, what, unique in (
            ("embedded", "product, embedded (`slipguard serve`)", False),
            ("embedded-keyed", "product, embedded, unique Idempotency-Key", True),
        ):
            results[key], lines[key] = measure_http(
                embedded, db_url, token, load, key, what, unique
            )
        profiled = profile(embedded, token, load, args.profile) if args.profile else []
        batches = batch_section(embedded, db_url, token, args.batches)

    scale_note = ""
    if redis_reachable():
        scale_env = {**served_env, "SLIPGUARD_BROKER_URL": REDIS_URL}
        scale = Server(
            "product-scale",
            [
                str(BIN / "slipguard"),
                "serve",
                "--host",
                HOST,
                "--port",
                str(port := free_port()),
                "--workers",
                "1",
            ],
            scale_env,
            port,
        )
        with serving(scale):
            warm_up(scale, token, load)
            for key, what, unique in (
                ("scale", "product, scale (`slipguard serve --workers 1`, Redis broker)", False),
                ("scale-keyed", "product, scale, unique Idempotency-Key", True),
            ):
                results[key], lines[key] = measure_http(
                    scale, db_url, token, load, key, what, unique
                )
    else:
        scale_note = "Redis does not answer on 127.0.0.1:6379: the API-only shape was skipped."
        log(f"  {scale_note}")

    template = asyncio.run(_template(db_url))
    asyncio.run(_scratch_tables(db_url, ["bench_raw_slip"]))
    asyncio.run(_scratch_tables(db_url, ["bench_raw_keys"], like="idempotency_record"))
    v = template.values
    raw_command = [
        sys.executable,
        str(ROOT / "bench" / "intake_raw.py"),
        "--dsn",
        db_url,
        "--port",
        str(port := free_port()),
        "--table",
        "bench_raw_slip",
        "--org",
        str(v["organization"]),
        "--journey",
        str(v["journey"]),
        "--version",
        str(v["journey_version"]),
        "--reporter-key",
        str(v["reporter_key"]),
        "--stage",
        v["stage"],
        "--severity",
        str(v["severity"]),
    ]
    raw_command += ["--root-cause", v["root_cause"]] if v["root_cause"] else []
    raw_command += ["--deficit", v["deficit"]] if v["deficit"] else []
    raw_command += ["--keys-table", "bench_raw_keys"]
    raw = Server("raw", raw_command, dict(os.environ), port)
    with serving(raw):
        warm_up(raw, token, load)
        for key, what, unique in (
            ("raw", "raw: Litestar + one asyncpg INSERT, no auth (`bench/intake_raw.py`)", False),
            (
                "raw-keyed",
                "raw, unique keys: the product's claim-and-insert statement",
                True,
            ),
        ):
            results[key], lines[key] = measure_http(
                raw, db_url, token, load, key, what, unique, table="bench_raw_slip"
            )

    def base_of(key: str) -> float:
        """Keyed lines compare with the raw keyed line (same statements), others with raw."""
        return results["raw-keyed" if key.endswith("keyed") else "raw"].rps

    for key, line in lines.items():
        base = base_of(key)
        line.ratio = line.rate / base if base else None
        table.lines.append(line)
    table.notes += [
        "ratio = req/s / req/s of the raw baseline doing the same database work: lines without "
        "keys against raw (one INSERT), keyed lines against raw keyed (one statement that claims "
        "the key and inserts the slip). p50/p99: wrk's latency "
        "distribution (closed loop). errors: non-2xx responses and socket errors. stored rows: "
        "slips written during the run against the 201 responses wrk counted (wrk may stop "
        f"with up to {load.connections} requests in flight).",
        "",
        CPU_NOTE,
    ]
    verdicts = []
    for key in ("embedded", "embedded-keyed", "scale", "scale-keyed"):
        if key not in results:
            continue
        r = results[key]
        base = base_of(key)
        ratio = r.rps / base if base else 0.0
        met = ratio >= GOAL_RATIO and r.p99_ms <= GOAL_P99_MS
        verdict = "met" if met else "NOT met"
        raw_what = lines["raw-keyed" if key.endswith("keyed") else "raw"].what
        if "busy machine" in lines[key].what or "busy machine" in raw_what:
            verdict += " (unreliable: other load shared the machine during this line or raw)"
        verdicts.append(f"- {key}: {ratio:.2f}x raw, p99 {r.p99_ms:.1f} ms -> {verdict}")
    table.notes += [
        "",
        f"Goal: >= {GOAL_RATIO}x raw with p99 <= {GOAL_P99_MS:.0f} ms.",
        *verdicts,
    ]
    if scale_note:
        table.notes += ["", scale_note]
    if profiled:
        table.notes += ["", *profiled]
    emit(table)
    return template, batches


# --- batches --------------------------------------------------------------------------------


def batch_bodies(count: int, keyed: bool, tag: str) -> list[bytes]:
    """``count`` request bodies of BATCH_SIZE items each (keys unique across the run)."""
    bodies = []
    for b in range(count):
        items = []
        for i in range(BATCH_SIZE):
            item = {**ITEM, "site": BATCH_SITE}
            if keyed:
                item["key"] = f"{tag}-{b}-{i}"
            items.append(item)
        bodies.append(json.dumps({"items": items}).encode())
    return bodies


@dataclass
class BatchRun:
    """Timings and outcome of posting batches."""

    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    created: int = 0
    failed: list[str] = field(default_factory=list)


async def post_batches(url: str, token: str, bodies: list[bytes], clients: int) -> BatchRun:
    """Post every body, ``clients`` at a time (one httpx client each)."""
    import httpx

    run = BatchRun()
    pending = iter(bodies)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as http:
            for body in pending:
                start = time.perf_counter()
                response = await http.post("/api/v1/slips/batch", content=body)
                run.latencies.append((time.perf_counter() - start) * 1000)
                if response.status_code != 200:
                    run.failed.append(f"HTTP {response.status_code}")
                    continue
                out = response.json()
                run.created += out["created"]
                if out["created"] != BATCH_SIZE:
                    run.failed.append(f"{out['duplicate']} duplicate, {out['error']} error")

    start = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    run.seconds = time.perf_counter() - start
    return run


async def raw_batches(url: str, template: Template, batches: int) -> list[tuple[str, BatchRun]]:
    """COPY and executemany of the same rows, BATCH_SIZE per call, one connection."""
    import asyncpg

    conn = await asyncpg.connect(url)
    out = []
    try:
        await conn.execute("CHECKPOINT")
        for table, what in (
            ("bench_raw_copy", "raw asyncpg `copy_records_to_table`"),
            ("bench_raw_insert", "raw asyncpg `executemany` INSERT"),
        ):
            run = BatchRun()
            for _ in range(batches):
                records = [template.record() for _ in range(BATCH_SIZE)]
                start = time.perf_counter()
                if table == "bench_raw_copy":
                    await conn.copy_records_to_table(table, records=records, columns=COLUMNS)
                else:
                    await conn.executemany(insert_sql(table), records)
                elapsed = time.perf_counter() - start
                run.seconds += elapsed
                run.latencies.append(elapsed * 1000)
                run.created += BATCH_SIZE
            stored = await conn.fetchval(f"SELECT count(*) FROM {table}")
            if stored != run.created:
                run.failed.append(f"{stored} rows stored")
            out.append((what, run))
    finally:
        await conn.close()
    return out


@dataclass
class BatchResult:
    """One measured line of batch posting, with its stored-rows check."""

    what: str
    run: BatchRun
    check: str
    cpu: str = "-"
    busy: str = "-"


def batch_section(server: Server, db_url: str, token: str, batches: int) -> list[BatchResult]:
    """Batch intake on the embedded product (the raw lines come later, in ``batch_table``)."""
    out = []
    runs = (
        ("product batch, 1 client", 1, False),
        (f"product batch, {BATCH_CLIENTS} concurrent clients", BATCH_CLIENTS, False),
        ("product batch, 1 client, every item keyed", 1, True),
    )
    wait_quiet(QUIET_LIMIT, QUIET_PATIENCE)
    # One unmeasured batch first (imports, pool, caches).
    asyncio.run(post_batches(server.url, token, batch_bodies(1, False, "warm"), 1))
    for what, clients, keyed in runs:
        bodies = batch_bodies(batches, keyed, secrets.token_hex(4))
        before = count_rows(db_url, "slip", BATCH_SITE)
        log(f"  {what}: {batches} x {BATCH_SIZE:,} items")
        assert server.proc is not None
        with CpuMeter(server.proc.pid, db_url) as cpu:
            run = asyncio.run(post_batches(server.url, token, bodies, clients))
        stored = count_rows(db_url, "slip", BATCH_SITE) - before
        text, ok = check(run.created, stored, 0)
        text = text.replace("x 201", "created")
        if not ok:
            log(f"  WARNING {what}: {text}")
        if cpu.rest_pct > REST_LIMIT:
            what += " (busy machine)"
        out.append(
            BatchResult(
                what, run, text, cpu.per(run.created, 1000 * BATCH_SIZE, "app,pg"), cpu.usage()
            )
        )
    return out


def batch_table(product: list[BatchResult], db_url: str, template: Template, batches: int) -> Table:
    """The product runs and the raw baselines of the same rows, with ratios to COPY."""
    table = Table(
        f"POST /api/v1/slips/batch, {BATCH_SIZE:,} items per request, {batches} requests "
        "per line (embedded product)",
        "slips/s",
        cpu_header="CPU ms/1,000 slips: app, PG",
    )
    asyncio.run(_scratch_tables(db_url, ["bench_raw_copy", "bench_raw_insert"]))
    log(f"  raw baselines: {batches} x {BATCH_SIZE:,} rows, COPY and executemany")
    raws = asyncio.run(raw_batches(db_url, template, batches))
    total = batches * BATCH_SIZE
    copy_rate = total / raws[0][1].seconds
    insert_rate = total / raws[1][1].seconds
    entries = [*product, *(BatchResult(what, run, "") for what, run in raws)]
    for entry in entries:
        what, run, text = entry.what, entry.run, entry.check
        rate = run.created / run.seconds if run.seconds else 0.0
        errors = f"{len(run.failed)} ({run.failed[0]})" if run.failed else "0"
        table.lines.append(
            Line(
                what,
                rate,
                percentile(run.latencies, 50),
                percentile(run.latencies, 99),
                errors,
                rate / copy_rate,
                text or f"{run.created:,} rows",
                entry.cpu,
                entry.busy,
            )
        )
    table.notes += [
        "ratio = slips/s / slips/s of the raw COPY. p50/p99: per request (product) or per "
        f"{BATCH_SIZE:,}-row call (raw), ms; with {batches} samples p99 is the slowest. "
        "Product rates are wall clock over all requests; raw rates are the sum of call times "
        "on one connection. CPU ms/1,000 slips: the app process and the PostgreSQL backends; "
        "busy % as in the table above.",
        "",
        f"Goal: >= {GOAL_BATCH_RATE:,} slips/s and >= {GOAL_BATCH_RATIO}x COPY.",
    ]
    for entry in product:
        what, run = entry.what, entry.run
        rate = run.created / run.seconds if run.seconds else 0.0
        met = rate >= GOAL_BATCH_RATE and rate / copy_rate >= GOAL_BATCH_RATIO
        table.notes.append(
            f"- {what}: {rate:,.0f} slips/s, {rate / copy_rate:.2f}x COPY, "
            f"{rate / insert_rate:.2f}x executemany -> {'met' if met else 'NOT met'}"
        )
    return table


# --- profile --------------------------------------------------------------------------------


@contextlib.contextmanager
def spying(pid: int, label: str) -> Iterator[Path]:
    """Record a py-spy profile (collapsed stacks per thread) of ``pid`` while the block runs."""
    path = OUT / f"intake-profile-{label}.txt"
    path.unlink(missing_ok=True)
    recorder = subprocess.Popen(
        [
            str(BIN / "py-spy"),
            "record",
            "--pid",
            str(pid),
            "--rate",
            "250",
            "--nonblocking",
            "--threads",
            "--format",
            "raw",
            "--output",
            str(path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        time.sleep(1.0)  # py-spy attaches
        yield path
    finally:
        # SIGINT makes py-spy write its output and exit.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(recorder.pid, signal.SIGINT)
        try:
            recorder.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(recorder.pid, signal.SIGKILL)
            recorder.wait()


_FRAME = re.compile(r"^(?P<func>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def _frame_name(frame: str) -> str:
    m = _FRAME.match(frame)
    return f"{m['func']} ({m['file']})" if m else frame


def _area(frame: str) -> str:
    """What a leaf frame belongs to: a package, the project, the stdlib or the event loop."""
    m = _FRAME.match(frame)
    path = m["file"] if m else frame
    if frame.startswith("Runner.run (asyncio/"):
        return "event loop (uvloop, C: sockets, callbacks)"
    if path.startswith(("api/", "journeys/", "coaching/", "dashboards/")):
        return "slipguard (api/, journeys/)"
    head = path.split("/", 1)[0]
    if "/" in path and head in {"piccolo", "asyncpg", "litestar", "uvicorn", "msgspec"}:
        return head
    if head.startswith("prometheus"):
        return "prometheus_client"
    return "Python stdlib (asyncio, copy, uuid, abc, threads)"


def summarise_profile(path: Path, what: str, top: int = 10) -> list[str]:
    """Own time of the event-loop thread by area and by function, from py-spy's stacks.

    py-spy cuts coroutine stacks short, so inclusive times of async functions are not
    reliable; the frame that was running (own time) is.
    """
    if not path.exists() or not path.stat().st_size:
        return [f"(py-spy wrote no profile for {what})"]
    own: collections.Counter[str] = collections.Counter()
    areas: collections.Counter[str] = collections.Counter()
    total = 0
    for row in path.read_text().splitlines():
        stack, _, count = row.rpartition(" ")
        frames = stack.split(";")
        if not any(f.endswith(": MainThread") for f in frames if f.startswith("thread (")):
            continue  # the event loop runs in the main thread
        frames = [f for f in frames if not f.startswith(("thread (", "process "))]
        leaf = _frame_name(frames[-1]) if frames else "(no Python frame)"
        n = int(count)
        total += n
        own[leaf] += n
        areas[_area(leaf)] += n
    if not total:
        return [f"(py-spy: no main-thread samples for {what})"]
    lines = [
        f"py-spy, {what}: {total:,} samples of the event-loop thread at 250 Hz; own time by "
        "area, then the top functions:",
        "",
        "| area | share |",
        "|---|---:|",
    ]
    lines += [f"| {name} | {100 * n / total:.1f}% |" for name, n in areas.most_common()]
    lines += ["", "| function (own time) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {100 * n / total:.1f}% |" for name, n in own.most_common(top)]
    return lines


def profile(server: Server, token: str, load: Load, seconds: int) -> list[str]:
    """py-spy the server under the plain wrk load and while it takes sequential batches."""
    if not (BIN / "py-spy").exists():
        return ["", "(--profile: py-spy is not installed in the virtualenv; skipped)"]
    assert server.proc is not None
    log(f"  py-spy on {server.name}: wrk for {seconds} s, then {PROFILE_BATCHES} batches")
    with spying(server.proc.pid, "single") as single:
        run_wrk(server.url + "/api/v1/slips", token, load, "profile", False, seconds)
    bodies = batch_bodies(PROFILE_BATCHES, False, "profile")
    with spying(server.proc.pid, "batch") as batch:
        asyncio.run(post_batches(server.url, token, bodies, 1))
    return [
        *summarise_profile(single, "POST /api/v1/slips under wrk"),
        "",
        *summarise_profile(batch, f"{PROFILE_BATCHES} sequential 1,000-item batches"),
    ]


# --- SQLite ---------------------------------------------------------------------------------


def sqlite_section(tmp: Path, load: Load, seconds: int) -> Table:
    """The embedded product on a SQLite file under the same wrk load."""
    data = tmp / "sqlite"
    path = data / "bench.sqlite3"
    env = base_env(f"sqlite:///{path}", data)
    log("[sqlite] setting up the organisation")
    token = set_up_org(env)
    server = Server(
        "product-sqlite",
        [str(BIN / "slipguard"), "serve", "--port", str(port := free_port())],
        env,
        port,
    )
    sqlite_load = Load(seconds, load.connections, load.threads)
    with serving(server):
        wait_quiet(QUIET_LIMIT, QUIET_PATIENCE)
        log(f"  wrk SQLite: {seconds} s, {load.connections} connections (no warm-up)")
        assert server.proc is not None
        with CpuMeter(server.proc.pid) as cpu:
            result = run_wrk(server.url + "/api/v1/slips", token, sqlite_load, "sqlite")
        time.sleep(SETTLE_SECONDS)
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
            stored = conn.execute("SELECT count(*) FROM slip WHERE site = ?", (SITE,)).fetchone()[0]
    text, _ = check(result.created, stored, load.connections)
    logged = server.log_text()
    locked = len(re.findall(r"database is locked", logged, re.IGNORECASE))
    error_lines = sum(1 for row in logged.splitlines() if '"level": "error"' in row)
    table = Table(
        f"SQLite, embedded `slipguard serve`: {load.connections} connections, "
        f"{load.threads} wrk threads, {seconds} s",
        "req/s",
    )
    table.lines.append(
        Line(
            "product, embedded, SQLite file (WAL)"
            + (" (busy machine)" if cpu.rest_pct > REST_LIMIT else ""),
            result.rps,
            result.p50_ms,
            result.p99_ms,
            result.errors(),
            None,
            text,
            cpu.per(result.requests, parts="app,-,wrk"),
            cpu.usage(),
        )
    )
    met = result.server_errors == 0 and locked == 0
    spread = ", ".join(f"p{k} {v:,.0f} ms" for k, v in sorted(result.percentiles.items()))
    table.notes += [
        f"latency: {spread}, max {result.max_ms:,.0f} ms. CPU: the app process and wrk "
        "(no PostgreSQL); busy % as in the PostgreSQL table.",
        "",
        f'5xx responses: {result.server_errors}; "database is locked" in the server log: '
        f"{locked}; error log lines: {error_lines}.",
        "",
        f'Goal: zero 5xx and zero "database is locked" -> {"met" if met else "NOT met"}.',
    ]
    return table


# --- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run every section, clean up whatever happens."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=int, default=15, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--batches", type=int, default=20, help="1,000-item batches per run")
    parser.add_argument("--sqlite-duration", type=int, default=60)
    parser.add_argument("--skip-sqlite", action="store_true")
    parser.add_argument(
        "--wait-quiet",
        type=float,
        default=120.0,
        metavar="SECONDS",
        help=f"wait up to this long for background CPU load < {QUIET_LIMIT:.0f}%% (default 120)",
    )
    parser.add_argument(
        "--profile", type=int, default=0, metavar="SECONDS", help="py-spy the embedded product"
    )
    parser.add_argument(
        "--pg-server",
        default=os.environ.get("SLIPGUARD_BENCH_PG_SERVER", DEFAULT_PG_SERVER),
        help="PostgreSQL server URL with a database to connect to for CREATE/DROP DATABASE",
    )
    args = parser.parse_args(argv)
    if args.duration < 1 or args.connections < 1 or args.threads < 1 or args.batches < 1:
        parser.error("--duration, --connections, --threads and --batches must be positive")
    if args.connections < args.threads:
        parser.error("--connections must be at least --threads")
    if shutil.which("wrk") is None:
        parser.error("wrk is not installed")
    host = urlsplit(args.pg_server).hostname
    if host not in {HOST, "localhost"}:
        parser.error("--pg-server must be on 127.0.0.1: all traffic stays on the loopback")

    OUT.mkdir(parents=True, exist_ok=True)
    # Turn SIGTERM into an exception so the finally blocks stop servers and drop the database.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    load = Load(args.duration, args.connections, args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="slipguard-intake-"))
    name = f"slipguard_bench_{secrets.token_hex(4)}"
    created = False
    started = time.perf_counter()
    try:
        pg(args.pg_server, f'CREATE DATABASE "{name}"')
        created = True
        db_url = _with_database(args.pg_server, name)
        log(f"[postgres] created database {name}")
        version = pg(db_url, "SHOW server_version")
        quiet = wait_quiet(QUIET_LIMIT, args.wait_quiet)
        print("## Slip intake (bench/intake.py)\n", flush=True)
        print("\n".join(f"- {m}" for m in machine(version)), flush=True)
        print(f"- background CPU load before the run: {quiet:.0f}% (of 100 per core)", flush=True)
        print(flush=True)
        env = base_env(db_url, tmp / "pg")
        log("[postgres] slipguard init, keys create, journeys load")
        product = Product(db_url, set_up_org(env), env)
        template, batches = http_section(args, db_url, product, load)
        emit(batch_table(batches, db_url, template, args.batches))
        if not args.skip_sqlite:
            emit(sqlite_section(tmp, load, args.sqlite_duration))
        log(f"done in {time.perf_counter() - started:.0f} s")
        return 0
    finally:
        if created:
            with contextlib.suppress(Exception):
                pg(args.pg_server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                log(f"[postgres] dropped database {name}")
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
