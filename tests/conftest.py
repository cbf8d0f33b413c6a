"""Test harness: one database per run (SQLite by default, PostgreSQL with --db=postgres),
migrated with the real migrations; organisations isolate tests from each other.

Services a test needs (PostgreSQL, Redis, RabbitMQ, Chromium) are found or started by
``tests/support``; when one is missing the test is skipped with the reason, and
``SLIPGUARD_REQUIRE_SERVICES=1`` turns such skips into failures.
"""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn
from uuid import UUID

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
_state: dict[str, Any] = {}


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--db",
        default=os.environ.get("SLIPGUARD_TEST_DB", "sqlite"),
        choices=["sqlite", "postgres"],
        help="database engine for the whole run",
    )
    parser.addoption(
        "--clock-shift",
        default=os.environ.get("SLIPGUARD_TEST_CLOCK_SHIFT", ""),
        help="run with this process's clock moved ahead, e.g. 35d or 400d7h (time keeps "
        "running): a test that only passes on today's date fails",
    )


# Test runs only: subprocesses of a --clock-shift run import this (it sits first on their
# PYTHONPATH) and move their clocks as the test process's is.
CLOCK_HOOK = """
import datetime
import os

_shift = os.environ.get("SLIPGUARD_TEST_CLOCK_SHIFT_SECONDS")
if _shift:
    import time_machine

    _now = datetime.datetime.now(datetime.UTC)
    time_machine.travel(_now + datetime.timedelta(seconds=float(_shift)), tick=True).start()
    # time-machine's clock starts ticking at the first reading, not at start(): read it now,
    # or this process lags the test process by however long its imports take.
    datetime.datetime.now()
"""


def parse_shift(text: str) -> timedelta:
    """``400d7h`` (days, hours, minutes) as a duration; empty means none."""
    match = re.fullmatch(r"(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?", text.strip())
    if match is None:
        raise pytest.UsageError(f"--clock-shift: expected e.g. 35d or 400d7h, got {text!r}")
    days, hours, minutes = (int(g or 0) for g in match.groups())
    return timedelta(days=days, hours=hours, minutes=minutes)


def pytest_configure(config: pytest.Config) -> None:
    """Point settings at a fresh database before anything imports piccolo_conf."""
    from tests.support import services

    tmp = Path(tempfile.mkdtemp(prefix="slipguard-test-"))
    _state["tmp"] = tmp
    shift = parse_shift(config.getoption("--clock-shift"))
    if shift:
        import time_machine

        # Everything in this process (tests and the app under test) sees the moved clock;
        # servers and subprocesses keep the real one.
        traveller = time_machine.travel(datetime.now(UTC) + shift, tick=True)
        traveller.start()
        datetime.now()  # start the moved clock ticking now (see CLOCK_HOOK)
        _state["clock"] = (shift, traveller)
        # Commands and servers the tests start move their clocks by the same amount.
        hook = tmp / "clock"
        hook.mkdir()
        (hook / "sitecustomize.py").write_text(CLOCK_HOOK)
        os.environ["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(hook), os.environ.get("PYTHONPATH", "")) if p
        )
        os.environ["SLIPGUARD_TEST_CLOCK_SHIFT_SECONDS"] = str(shift.total_seconds())

    for name in list(os.environ):
        if name.startswith("SLIPGUARD_") and not name.startswith(
            ("SLIPGUARD_TEST_", "SLIPGUARD_REQUIRE")
        ):
            del os.environ[name]
    os.environ.update(
        {
            "SLIPGUARD_DATA_DIR": str(tmp),
            "SLIPGUARD_ENV_FILE": "",
            "SLIPGUARD_LOG_JSON": "false",
            "SLIPGUARD_LOG_LEVEL": "WARNING",
            "SLIPGUARD_SCHEDULER_INTERVAL_SECONDS": "0.5",
        }
    )
    if config.getoption("--db") == "postgres":
        try:
            server = services.postgres_url()
        except services.ServiceUnavailable as exc:
            raise pytest.UsageError(f"--db=postgres: {exc}") from None
        name = f"slipguard_test_{os.getpid()}_{secrets.token_hex(3)}"
        url = services.create_database(server, name)
        _state["pg"] = (server, name)
    else:
        url = f"sqlite:///{tmp / 'test.sqlite3'}"
    os.environ["SLIPGUARD_DATABASE_URL"] = url

    from api.cli import _migrate

    asyncio.run(_migrate())


def pytest_unconfigure(config: pytest.Config) -> None:
    from tests.support import services

    if "clock" in _state:
        _state.pop("clock")[1].stop()
    if "pg" in _state:
        server, name = _state.pop("pg")
        try:
            services.drop_database(server, name)
        except Exception as exc:  # pragma: no cover - best effort clean-up
            print(f"could not drop test database {name}: {exc}")
    services.stop_services()
    shutil.rmtree(_state.get("tmp", ""), ignore_errors=True)


def pytest_report_header(config: pytest.Config) -> list[str]:
    from settings import get_settings, redact_url

    lines = [f"slipguard database: {redact_url(get_settings().database.url)}"]
    if "clock" in _state:
        lines.append(
            f"slipguard clock moved ahead by {_state['clock'][0]}: now is {datetime.now(UTC)}"
        )
    return lines


@pytest.fixture(scope="session")
def settings() -> Any:
    from settings import get_settings

    return get_settings()


@pytest.fixture(scope="session")
def app(settings: Any) -> Any:
    from api.app import create_app

    # No scheduler loop: it would sweep the database every test shares, so tests call the
    # jobs themselves, for their own organisation.
    return create_app(settings, scheduler=False)


@pytest.fixture(scope="session")
async def client(app: Any) -> AsyncIterator[Any]:
    """An HTTP client on the app, with its lifespan (pool, embedded worker) running."""
    from litestar.testing import AsyncTestClient

    async with AsyncTestClient(app) as c:
        yield c


@dataclass
class Org:
    """A test organisation with a key per role, a user per role and their passwords."""

    id: UUID
    slug: str
    keys: dict[str, str]
    key_ids: dict[str, UUID]
    users: dict[str, Any]
    password: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def tenant(self) -> Any:
        from core.tenancy import Tenant

        return Tenant(self.id)

    def auth(self, role: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


async def make_org(prefix: str = "org") -> Org:
    """Create an organisation with users and keys for every role."""
    from core import identity as services
    from core.tenancy import Tenant

    slug = f"{prefix}-{secrets.token_hex(4)}"
    password = "correct horse battery"
    org = await services.create_organization(slug, f"{prefix.title()} Test")
    tenant = Tenant(org.id)
    keys: dict[str, str] = {}
    key_ids: dict[str, UUID] = {}
    users: dict[str, Any] = {}
    for role in ("staff", "manager", "admin"):
        key, token = await services.create_api_key(tenant, f"{role} key", role)
        keys[role], key_ids[role] = token, key.id
        users[role] = await services.create_user(
            tenant, f"{role}@{slug}.test", role, password, role.title()
        )
    return Org(org.id, slug, keys, key_ids, users, password)


@pytest.fixture
async def org() -> Org:
    return await make_org("alpha")


@pytest.fixture
async def other_org() -> Org:
    return await make_org("beta")


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def cli_env(settings: Any) -> Iterator[dict[str, str]]:
    """Environment for running the real ``slipguard`` command against the test database."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    yield env


def slipguard_bin() -> str:
    """The installed console script (next to the running interpreter)."""
    import sys

    candidate = Path(sys.executable).parent / "slipguard"
    return str(candidate) if candidate.exists() else shutil.which("slipguard") or "slipguard"


@pytest.fixture
def free_port() -> int:
    from tests.support.services import free_port as pick

    return pick()


def missing(reason: str) -> NoReturn:
    """Skip for a missing service, or fail when SLIPGUARD_REQUIRE_SERVICES=1."""
    if os.environ.get("SLIPGUARD_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service missing: {reason}")
    pytest.skip(reason)


class LiveServer:
    """A real ``slipguard serve`` process on a free loopback port."""

    def __init__(self, port: int, env: dict[str, str], args: list[str] | None = None) -> None:
        import subprocess

        self.url = f"http://127.0.0.1:{port}"
        # Kept open for the child's lifetime, removed in stop().
        self.log = tempfile.NamedTemporaryFile(  # noqa: SIM115
            prefix="slipguard-serve-", suffix=".log", delete=False
        )
        self.proc = subprocess.Popen(
            [slipguard_bin(), "serve", "--port", str(port), *(args or [])],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self, timeout: float = 30) -> None:
        import time
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited {self.proc.returncode}: {self.output()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout}s: {self.output()}")

    def output(self) -> str:
        return Path(self.log.name).read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except Exception:
            self.proc.kill()
        Path(self.log.name).unlink(missing_ok=True)


@pytest.fixture(scope="session")
def live_server() -> Iterator[LiveServer]:
    """The embedded shape (API + in-process worker + scheduler) as a user would run it."""
    from tests.support.services import free_port as pick

    # The in-process worker runs; the scheduler does not (it would sweep the shared database).
    server = LiveServer(pick(), {**os.environ, "SLIPGUARD_SCHEDULER_EMBEDDED": "false"})
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    "--disable-quic",
]


def chromium_path() -> str | None:
    for candidate in (
        os.environ.get("SLIPGUARD_TEST_CHROMIUM"),
        "/usr/bin/chromium",
        shutil.which("chromium"),
    ):
        if candidate and Path(candidate).exists():
            return candidate
    return None


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    """Headless Chromium (the distribution's package) driven by Playwright."""
    path = chromium_path()
    if path is None:
        missing(
            "Chromium not found (install the 'chromium' package or set SLIPGUARD_TEST_CHROMIUM)"
        )
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        instance = await pw.chromium.launch(executable_path=path, args=CHROMIUM_ARGS, headless=True)
        try:
            yield instance
        finally:
            await instance.close()


@pytest.fixture(scope="session", autouse=True)
async def db_pool(settings: Any) -> AsyncIterator[None]:
    """A pool for the tests' own loop (the app under test runs its own loop and pool)."""
    from core import db

    await db.start_pool(settings.database)
    yield
    await db.close_pool()
