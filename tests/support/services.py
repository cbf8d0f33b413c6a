"""Find or start the real PostgreSQL, Redis and RabbitMQ servers that tests talk to.

Each finder tries, in order: an environment variable naming an existing server, a private
throw-away instance started from locally installed binaries on a free loopback port, and
finally raises ServiceUnavailable explaining what is missing.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import glob
import os
import pwd
import secrets
import shlex
import shutil
import socket
import string
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit, urlunsplit

DATABASE_URL_ENV = "SLIPGUARD_TEST_DATABASE_URL"
REDIS_URL_ENV = "SLIPGUARD_TEST_REDIS_URL"
AMQP_URL_ENV = "SLIPGUARD_TEST_AMQP_URL"
REQUIRE_SERVICES_ENV = "SLIPGUARD_REQUIRE_SERVICES"

POSTGRES_START_TIMEOUT = 60.0
REDIS_START_TIMEOUT = 15.0
RABBITMQ_START_TIMEOUT = 60.0

_T = TypeVar("_T")


class ServiceUnavailable(Exception):
    """A backing service could not be found or started; the message says how to provide one."""


@dataclass(eq=False)
class RunningService:
    """A private service instance started by this module, removed again by stop()."""

    name: str
    url: str
    workdir: Path
    _teardown: Callable[[], None] = field(repr=False)
    _stopped: bool = field(default=False, repr=False)
    _owner_pid: int = field(default_factory=os.getpid, repr=False)

    def stop(self) -> None:
        """Stop the instance and delete its working directory (idempotent)."""
        with _lock:
            if self._stopped:
                return
            self._stopped = True
            if self in _running:
                _running.remove(self)
        try:
            self._teardown()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


_lock = threading.RLock()
_running: list[RunningService] = []
_results: dict[str, str | ServiceUnavailable] = {}
_key_locks: dict[str, threading.Lock] = {}
_atexit_registered = False


def _stop_at_exit() -> None:
    """Tear down at interpreter exit, but only in the process that started the instances."""
    # A forked child (e.g. a worker process) inherits the registry but must not stop
    # servers its parent is still using.
    with _lock:
        mine = [service for service in _running if service._owner_pid == os.getpid()]
    for service in reversed(mine):
        service.stop()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_services() -> None:
    """Stop every private instance started by this process and forget cached finder results."""
    with _lock:
        running = list(reversed(_running))
        _results.clear()
    for service in running:
        service.stop()


def require(finder: Callable[[], str]) -> str:
    """Call a finder inside a test; skip (or fail with SLIPGUARD_REQUIRE_SERVICES=1) if missing."""
    # Imported lazily so that the module stays usable from plain scripts.
    import pytest

    try:
        return finder()
    except ServiceUnavailable as exc:
        if os.environ.get(REQUIRE_SERVICES_ENV) == "1":
            pytest.fail(str(exc), pytrace=False)
        pytest.skip(str(exc))


def postgres_url() -> str:
    """Return a PostgreSQL server URL (connects as a superuser to the postgres database)."""
    return _find("postgres", DATABASE_URL_ENV, start_postgres)


def redis_url() -> str:
    """Return a Redis URL for database 0."""
    return _find("redis", REDIS_URL_ENV, start_redis)


def amqp_url() -> str:
    """Return an AMQP URL for RabbitMQ's default virtual host."""
    return _find("rabbitmq", AMQP_URL_ENV, start_rabbitmq)


def create_database(server_url: str, name: str) -> str:
    """Create database `name` on the server and return its URL."""
    statement = f"CREATE DATABASE {_quote_ident(name)}"
    _run_coroutine(lambda: _execute(server_url, statement))
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    """Drop database `name`, disconnecting anyone still using it."""
    statement = f"DROP DATABASE IF EXISTS {_quote_ident(name)} WITH (FORCE)"
    _run_coroutine(lambda: _execute(server_url, statement))


def database_url(server_url: str, name: str) -> str:
    """Return server_url with its database path replaced by `name`."""
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path="/" + quote(name, safe="")))


def start_postgres() -> RunningService:
    """Start a private PostgreSQL cluster (trust auth, no fsync) on a free loopback port."""
    bindir = _postgres_bindir()
    if bindir is None:
        raise ServiceUnavailable(
            "PostgreSQL is not available: set "
            f"{DATABASE_URL_ENV}=postgresql://USER@HOST:PORT/postgres to use a running server, "
            "or install the server binaries (initdb and pg_ctl on PATH or under "
            "/usr/lib/postgresql/*/bin, e.g. `apt-get install postgresql`)."
        )
    prefix, owner = _postgres_user()
    workdir = Path(tempfile.mkdtemp(prefix="slipguard-pg-"))
    data, sockdir, log = workdir / "data", workdir / "sock", workdir / "postgres.log"
    sockdir.mkdir()
    log.touch()
    if owner is not None:
        # The server refuses to run as root, so everything it writes must belong to postgres.
        for path in (workdir, sockdir, log):
            os.chown(path, *owner)
    port = free_port()
    pg_ctl = str(bindir / "pg_ctl")

    def teardown() -> None:
        if (data / "postmaster.pid").exists():
            _quiet_run([*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "-w", "stop"], 30)

    service = RunningService(
        "postgres", f"postgresql://postgres@127.0.0.1:{port}/postgres", workdir, teardown
    )
    try:
        _checked_run(
            "initdb",
            [
                *prefix,
                str(bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            cwd=workdir,
            timeout=POSTGRES_START_TIMEOUT,
        )
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -k {shlex.quote(str(sockdir))} -c fsync=off"
        )
        _checked_run(
            "pg_ctl start",
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-l",
                str(log),
                "-w",
                "-t",
                "60",
                "-o",
                options,
                "start",
            ],
            cwd=workdir,
            timeout=POSTGRES_START_TIMEOUT + 5,
            log=log,
        )
    except BaseException:
        service.stop()
        raise
    return _register(service)


def start_redis() -> RunningService:
    """Start a private, non-persistent redis-server on a free loopback port."""
    exe = _which("redis-server", ["/usr/bin", "/usr/sbin", "/usr/local/bin"])
    if exe is None:
        raise ServiceUnavailable(
            f"Redis is not available: set {REDIS_URL_ENV}=redis://HOST:PORT/0 to use a running "
            "server, or install redis-server (e.g. `apt-get install redis-server`)."
        )
    import redis

    workdir = Path(tempfile.mkdtemp(prefix="slipguard-redis-"))
    log = workdir / "redis.log"
    port = free_port()
    command = [
        exe,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "no",
        "--daemonize",
        "no",
        "--dir",
        str(workdir),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, cwd=workdir
        )
    service = RunningService(
        "redis", f"redis://127.0.0.1:{port}/0", workdir, lambda: _terminate(proc, 10)
    )
    deadline = time.monotonic() + REDIS_START_TIMEOUT
    try:
        while True:
            if proc.poll() is not None:
                raise ServiceUnavailable(
                    f"redis-server exited with status {proc.returncode}: {_tail(log)}"
                )
            client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.5)
            try:
                if client.ping():
                    break
            except redis.RedisError:
                pass
            finally:
                client.close()
            if time.monotonic() > deadline:
                raise ServiceUnavailable(
                    f"redis-server did not answer PING within {REDIS_START_TIMEOUT:.0f} s: "
                    f"{_tail(log)}"
                )
            time.sleep(0.05)
    except BaseException:
        service.stop()
        raise
    return _register(service)


def start_rabbitmq() -> RunningService:
    """Start a private RabbitMQ node (no plugins) with its own cookie and data directory."""
    use_env = f"set {AMQP_URL_ENV}=amqp://USER:PASS@HOST:PORT/%2F to use a running broker"
    # Debian's /usr/sbin scripts switch to the rabbitmq user with the system cookie; the real
    # scripts behind them can run as the current user with a private HOME and cookie.
    libexec = ["/usr/lib/rabbitmq/bin"]
    server = _which("rabbitmq-server", libexec, prefer_dirs=True)
    ctl = _which("rabbitmqctl", libexec, prefer_dirs=True)
    if server is None or ctl is None:
        raise ServiceUnavailable(
            f"RabbitMQ is not available: {use_env}, or install rabbitmq-server "
            "(e.g. `apt-get install rabbitmq-server`)."
        )
    import pika

    workdir = Path(tempfile.mkdtemp(prefix="slipguard-rabbitmq-"))
    port, dist_port = free_port(), free_port()
    node = f"sgtest-{port}@localhost"
    (workdir / "enabled_plugins").write_text("[].\n")
    (workdir / "rabbitmq.conf").write_text(f"listeners.tcp.default = 127.0.0.1:{port}\n")
    # An empty env file keeps the system's NODENAME and friends out of the private node.
    (workdir / "rabbitmq-env.conf").write_text("")
    cookie = workdir / ".erlang.cookie"
    cookie.write_text("".join(secrets.choice(string.ascii_uppercase) for _ in range(32)))
    cookie.chmod(0o400)
    log = workdir / "server.log"
    env = {
        **os.environ,
        "HOME": str(workdir),
        "RABBITMQ_NODENAME": node,
        "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
        "RABBITMQ_NODE_PORT": str(port),
        "RABBITMQ_DIST_PORT": str(dist_port),
        "RABBITMQ_MNESIA_BASE": str(workdir / "mnesia"),
        "RABBITMQ_LOG_BASE": str(workdir / "log"),
        "RABBITMQ_CONFIG_FILE": str(workdir / "rabbitmq.conf"),
        "RABBITMQ_ADVANCED_CONFIG_FILE": str(workdir / "advanced.config"),
        "RABBITMQ_CONF_ENV_FILE": str(workdir / "rabbitmq-env.conf"),
        "RABBITMQ_ENABLED_PLUGINS_FILE": str(workdir / "enabled_plugins"),
        "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
        "ERL_EPMD_ADDRESS": os.environ.get("ERL_EPMD_ADDRESS", "127.0.0.1"),
    }
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [server],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=env,
        )

    def teardown() -> None:
        if proc.poll() is None:
            _quiet_run([ctl, "-n", node, "stop"], 30, env=env, cwd=workdir)
        _terminate(proc, 30)

    service = RunningService(
        "rabbitmq", f"amqp://guest:guest@127.0.0.1:{port}/%2F", workdir, teardown
    )
    params = pika.URLParameters(
        f"{service.url}?connection_attempts=1&socket_timeout=2&blocked_connection_timeout=2"
    )
    started = time.monotonic()
    try:
        while True:
            if proc.poll() is not None:
                raise ServiceUnavailable(
                    f"the private RabbitMQ node exited with status {proc.returncode}; "
                    f"{use_env}. Node output: {_tail(log)}"
                )
            # A plain TCP probe first: pika logs every refused connection at ERROR level.
            if _port_open(port):
                try:
                    pika.BlockingConnection(params).close()
                    break
                except pika.exceptions.AMQPError:
                    pass
            if time.monotonic() - started > RABBITMQ_START_TIMEOUT:
                raise ServiceUnavailable(
                    "the private RabbitMQ node did not accept AMQP connections within "
                    f"{RABBITMQ_START_TIMEOUT:.0f} s; {use_env}. Node output: {_tail(log)}"
                )
            time.sleep(0.25)
    except BaseException:
        service.stop()
        raise
    return _register(service)


def _find(key: str, env_var: str, start: Callable[[], RunningService]) -> str:
    """Resolve one service once per process: env var, then a private instance."""
    with _lock:
        key_lock = _key_locks.setdefault(key, threading.Lock())
    # One lock per service, so a slow RabbitMQ start does not hold up a Redis lookup.
    with key_lock:
        result = _results.get(key)
        if result is None:
            configured = os.environ.get(env_var, "").strip()
            if configured:
                result = configured
            else:
                try:
                    result = start().url
                except ServiceUnavailable as exc:
                    result = exc
            with _lock:
                _results[key] = result
    if isinstance(result, ServiceUnavailable):
        # A fresh exception so repeated failures don't grow one shared traceback.
        raise ServiceUnavailable(str(result))
    return result


def _register(service: RunningService) -> RunningService:
    """Track a started instance so stop_services() and interpreter exit remove it."""
    global _atexit_registered
    with _lock:
        _running.append(service)
        if not _atexit_registered:
            atexit.register(_stop_at_exit)
            _atexit_registered = True
    return service


def _postgres_bindir() -> Path | None:
    """Find a directory that holds both initdb and pg_ctl."""
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates += [Path(on_path).parent, Path(on_path).resolve().parent]

    def version(path: str) -> tuple[int, ...]:
        digits = Path(path).parent.name.split(".")
        return tuple(int(d) for d in digits if d.isdigit())

    candidates += [
        Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)
    ]
    for directory in candidates:
        if all(os.access(directory / exe, os.X_OK) for exe in ("initdb", "pg_ctl")):
            return directory
    return None


def _postgres_user() -> tuple[list[str], tuple[int, int] | None]:
    """Return the command prefix and file owner needed to run PostgreSQL binaries."""
    if os.geteuid() != 0:
        return [], None
    runuser = _which("runuser", ["/usr/sbin", "/sbin", "/usr/bin"])
    try:
        user = pwd.getpwnam("postgres")
    except KeyError:
        user = None
    if runuser is None or user is None:
        raise ServiceUnavailable(
            "PostgreSQL refuses to run as root and there is no `postgres` user plus `runuser` to "
            f"switch to; set {DATABASE_URL_ENV} to a running server instead."
        )
    return [runuser, "-u", "postgres", "--"], (user.pw_uid, user.pw_gid)


def _which(name: str, dirs: Sequence[str], *, prefer_dirs: bool = False) -> str | None:
    """Find an executable on PATH or in the given fallback directories."""
    in_dirs = [str(Path(d) / name) for d in dirs]
    found = [p for p in in_dirs if os.access(p, os.X_OK) and Path(p).is_file()]
    on_path = shutil.which(name)
    ordered = [*found, on_path] if prefer_dirs else [on_path, *found]
    return next((p for p in ordered if p), None)


def _checked_run(
    what: str,
    command: list[str],
    *,
    cwd: Path,
    timeout: float,
    log: Path | None = None,
) -> None:
    """Run a start-up command, turning any failure into ServiceUnavailable."""
    try:
        result = subprocess.run(
            command,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ServiceUnavailable(f"{what} failed: {exc}") from exc
    if result.returncode != 0:
        output = (result.stderr or result.stdout).decode(errors="replace").strip()
        detail = f"; server log: {_tail(log)}" if log is not None else ""
        raise ServiceUnavailable(
            f"{what} exited with status {result.returncode}: {output[-800:]}{detail}"
        )


def _quiet_run(
    command: list[str],
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> None:
    """Run a shutdown command, ignoring failures (teardown must not mask test results)."""
    with contextlib.suppress(OSError, subprocess.TimeoutExpired):
        subprocess.run(
            command,
            env=env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Stop a child process, escalating to SIGKILL if it does not exit in time."""
    if proc.poll() is None:
        proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout)


def _port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _tail(path: Path | None, limit: int = 800) -> str:
    """Return the end of a log file for error messages."""
    if path is None:
        return ""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return "no log"
    if not text:
        return "empty log"
    if len(text) <= limit:
        return text
    # Start at a line boundary so the excerpt reads cleanly.
    excerpt = text[-limit:]
    return "..." + excerpt[excerpt.find("\n") + 1 :]


def _quote_ident(name: str) -> str:
    """Quote a PostgreSQL identifier."""
    return '"' + name.replace('"', '""') + '"'


async def _execute(server_url: str, statement: str) -> None:
    """Run one statement outside a transaction."""
    import asyncpg

    conn = await asyncpg.connect(server_url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def _run_coroutine(factory: Callable[[], Coroutine[Any, Any, _T]]) -> _T:
    """Run a coroutine to completion in a fresh event loop, even when called from async code."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(factory())
    # asyncio.run refuses to nest, so async callers get a worker thread with its own loop.
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(factory())).result()
