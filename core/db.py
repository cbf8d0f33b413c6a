"""Database engine construction and lifecycle (pool start/stop, SQLite pragmas)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sqlite3
import weakref
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from pathlib import Path
from typing import Any

from piccolo.engine.base import Engine
from piccolo.engine.finder import engine_finder
from piccolo.engine.postgres import PostgresEngine
from piccolo.engine.sqlite import SQLiteEngine
from piccolo.querystring import QueryString

from settings import DatabaseSettings


class LoopPoolPostgresEngine(PostgresEngine):
    """A PostgresEngine that keeps one asyncpg pool per running event loop.

    An asyncpg pool belongs to the loop that created it. One process may run several loops
    (the API's, a Dramatiq worker's AsyncIO thread, a test's), so ``pool`` resolves to the
    pool of the *current* loop; a loop without one opens a connection per query.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Any] = (
            weakref.WeakKeyDictionary()
        )
        super().__init__(*args, **kwargs)

    @staticmethod
    def _loop() -> asyncio.AbstractEventLoop | None:
        try:
            return asyncio.get_running_loop()
        except RuntimeError:
            return None

    @property
    def pool(self) -> Any:
        loop = self._loop()
        return self._pools.get(loop) if loop is not None else None

    @pool.setter
    def pool(self, value: Any) -> None:
        loop = self._loop()
        if loop is None:
            return
        if value is None:
            self._pools.pop(loop, None)
        else:
            self._pools[loop] = value

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[Any]:
        """The current transaction's connection, else one from the loop's pool, else a new
        one (closed afterwards): where native statements and COPY run."""
        transaction = self.current_transaction.get()
        if transaction is not None:
            yield transaction.connection
            return
        pool = self.pool
        if pool is not None:
            async with pool.acquire() as pooled:
                yield pooled
            return
        fresh = await self.get_new_connection()
        try:
            yield fresh
        finally:
            await fresh.close()

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        """Run native SQL (``$1`` placeholders). Skips Piccolo's query compilation, which
        cost more than the database on the single-row hot paths."""
        if self.current_transaction.get() is None:
            pool = self.pool
            if pool is not None:
                # The common case, straight to the pool (no context-manager generator).
                return list(await pool.fetch(sql, *args))
        async with self.connection() as connection:
            return list(await connection.fetch(sql, *args))


async def _keep_session(connection: Any) -> None:
    """Pool release hook: do nothing beyond asyncpg's own rollback of an open transaction.

    asyncpg's default resets every released connection with one more round trip (RESET ALL,
    UNLISTEN *, advisory unlocks, CLOSE ALL). Slipguard never changes session settings,
    listens, takes advisory locks or keeps cursors, so that round trip bought nothing and
    cost about a tenth of a single-slip request.
    """


def private_directory(path: Path) -> Path:
    """Create ``path`` (and parents) readable by this user only: it holds the database with
    password hashes and customers' personal data, the session key and the demo login."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def _private_file(path: Path) -> None:
    """Create an empty SQLite file readable by this user only; SQLite gives its journal and
    WAL files the same permissions."""
    private_directory(path.parent)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


class SecureDeleteConnection(sqlite3.Connection):
    """A SQLite connection that overwrites deleted content with zeros (``secure_delete``),
    whatever the library's compile-time default: an erased customer's old name must not
    linger in free pages or in a page's unused space (docs/privacy.md)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA secure_delete = ON")


def make_engine(db: DatabaseSettings) -> Engine[Any]:
    """Build the Piccolo engine for the configured database (no connections opened yet)."""
    if db.is_postgres:
        return LoopPoolPostgresEngine(config={"dsn": db.url}, log_queries=False)
    path = db.sqlite_path
    _private_file(path)
    # A long busy timeout lets concurrent writers queue instead of failing with "locked".
    return SQLiteEngine(
        path=str(path), timeout=30, check_same_thread=False, factory=SecureDeleteConnection
    )


@cache
def engine() -> Engine[Any]:
    """The engine Piccolo's tables use (found once: tables bind theirs at import anyway)."""
    found = engine_finder()
    if found is None:  # pragma: no cover - piccolo_conf always defines DB
        raise RuntimeError("piccolo_conf.DB is not configured")
    return found


def prepare_sqlite(db: DatabaseSettings) -> None:
    """Switch a SQLite file to WAL so readers never block the single writer (persistent)."""
    if db.is_postgres:
        return
    _private_file(db.sqlite_path)
    with sqlite3.connect(db.sqlite_path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")


async def checkpoint() -> bool:
    """SQLite: move the write-ahead log into the database file and truncate it, so text
    just overwritten (an erasure) survives neither in the log nor in the file's old pages.
    Returns False when a reader still held an old snapshot (the next checkpoint, at most
    1000 pages later, finishes the job). PostgreSQL: nothing to do here (True)."""
    eng = engine()
    if not isinstance(eng, SQLiteEngine):
        return True
    rows = await eng.run_ddl("PRAGMA wal_checkpoint(TRUNCATE)")
    return not rows or not rows[0].get("busy")


async def start_pool(db: DatabaseSettings) -> None:
    """Start a connection pool for the running loop (PostgreSQL only)."""
    eng = engine()
    if isinstance(eng, PostgresEngine) and eng.pool is None:
        await eng.start_connection_pool(
            min_size=db.pool_min, max_size=db.pool_max, reset=_keep_session
        )


async def close_pool() -> None:
    """Close the pool started by :func:`start_pool`, if any."""
    eng = engine()
    if isinstance(eng, PostgresEngine) and eng.pool is not None:
        await eng.close_connection_pool()


async def ping() -> None:
    """Run a trivial query; raises if the database is unreachable."""
    await engine().run_ddl("SELECT 1")


async def pre_release_schema() -> bool:
    """Whether the database's migration log names the pre-release ``api`` app, whose
    migrations were squashed into the kernel's and the contexts' initial ones."""
    try:
        rows = await engine().run_querystring(
            QueryString("SELECT count(*) AS n FROM migration WHERE app_name = {}", "api")
        )
    except Exception:  # no migration table yet: a new database
        return False
    return bool(rows and rows[0]["n"])


def write_transaction() -> Any:
    """A transaction for writes: IMMEDIATE on SQLite (take the write lock up front, so two
    writers queue on the busy timeout instead of deadlocking on a lock upgrade)."""
    eng = engine()
    if isinstance(eng, SQLiteEngine):
        from piccolo.engine.sqlite import TransactionType

        return eng.transaction(transaction_type=TransactionType.immediate)
    return eng.transaction()


def ddl_migration(
    migration_id: str, app_name: str, description: str, forwards: list[str], backwards: list[str]
) -> Any:
    """A migration of raw DDL statements (for what Piccolo columns cannot declare, such as
    composite and partial unique indexes), reversible with ``backwards``."""
    from piccolo.apps.migrations.auto.migration_manager import MigrationManager

    manager = MigrationManager(
        migration_id=migration_id, app_name=app_name, description=description
    )

    # Piccolo awaits only real coroutine functions (a lambda returning a coroutine would be
    # called and never awaited), hence two named functions.
    async def apply() -> None:
        for statement in forwards:
            await engine().run_ddl(statement)

    async def revert() -> None:
        for statement in backwards:
            await engine().run_ddl(statement)

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager


PG_CHUNK = 5000


def rows_per_statement(columns: int) -> int:
    """How many rows :func:`insert_rows` writes per statement (more need a transaction
    around the call to be all-or-nothing; one statement is atomic by itself)."""
    if isinstance(engine(), LoopPoolPostgresEngine):
        return PG_CHUNK
    return max(1, 999 // columns)  # SQLite's classic bound-parameter limit


@dataclass(frozen=True)
class NewRow:
    """One row to insert: its table, column names, their PostgreSQL types, and the values."""

    table: str
    columns: tuple[str, ...]
    pg_types: tuple[str, ...]
    values: tuple[Any, ...]


async def insert_rows(
    table: str,
    columns: tuple[str, ...],
    pg_types: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    returning: str | None = None,
) -> list[Any]:
    """Insert many rows in as few statements as possible, skipping conflicting ones.

    Building a Piccolo object and query per row costs more than the database's own work
    for bulk writes, so this takes plain tuples: on PostgreSQL one ``INSERT … SELECT FROM
    unnest(arrays)`` per 5,000 rows (a single row: ``VALUES``, the shape a one-slip request
    prepares once per connection), sent as native SQL; on SQLite multi-row ``VALUES``
    within its parameter limit. Returns the ``returning`` column of the rows inserted.
    """
    if not rows:
        return []
    eng = engine()
    if isinstance(eng, LoopPoolPostgresEngine):
        return await _insert_pg(eng, table, columns, pg_types, rows, returning)
    names = ", ".join(columns)
    tail = f" ON CONFLICT DO NOTHING{f' RETURNING {returning}' if returning else ''}"
    found: list[Any] = []
    per_row = "(" + ", ".join("{}" for _ in columns) + ")"
    size = rows_per_statement(len(columns))
    for i in range(0, len(rows), size):
        chunk = rows[i : i + size]
        sql = f"INSERT INTO {table} ({names}) VALUES {', '.join(per_row for _ in chunk)}{tail}"
        result = await eng.run_querystring(QueryString(sql, *[v for row in chunk for v in row]))
        found += [r[returning] for r in result or []] if returning else []
    return found


@lru_cache(maxsize=64)
def _pg_insert_sql(
    table: str, columns: tuple[str, ...], pg_types: tuple[str, ...] | None, returning: str | None
) -> str:
    """The INSERT text for one row (``pg_types`` None: ``VALUES``) or for arrays (``unnest``).

    Built once per shape: the same text is also what asyncpg's prepared-statement cache keys
    on, so a hot path parses and plans each shape once per connection.
    """
    tail = f" ON CONFLICT DO NOTHING{f' RETURNING {returning}' if returning else ''}"
    names = ", ".join(columns)
    if pg_types is None:
        values = ", ".join(f"${n}" for n in range(1, len(columns) + 1))
        return f"INSERT INTO {table} ({names}) VALUES ({values}){tail}"
    arrays = ", ".join(f"${n}::{t}[]" for n, t in enumerate(pg_types, 1))
    return f"INSERT INTO {table} ({names}) SELECT * FROM unnest({arrays}){tail}"


async def _insert_pg(
    eng: LoopPoolPostgresEngine,
    table: str,
    columns: tuple[str, ...],
    pg_types: tuple[str, ...],
    rows: Sequence[tuple[Any, ...]],
    returning: str | None,
) -> list[Any]:
    if len(rows) == 1:
        result = await eng.fetch(_pg_insert_sql(table, columns, None, returning), *rows[0])
        return [r[0] for r in result] if returning else []
    sql = _pg_insert_sql(table, columns, pg_types, returning)
    found: list[Any] = []
    for i in range(0, len(rows), PG_CHUNK):
        chunk = rows[i : i + PG_CHUNK]
        result = await eng.fetch(sql, *[list(col) for col in zip(*chunk, strict=True)])
        found += [r[0] for r in result] if returning else []
    return found


async def copy_rows(
    table: str, columns: tuple[str, ...], pg_types: tuple[str, ...], rows: list[tuple[Any, ...]]
) -> None:
    """Write rows that cannot conflict: PostgreSQL COPY (on the current transaction's
    connection when there is one); SQLite, which has no COPY, gets :func:`insert_rows`.

    A conflicting row makes COPY fail as a whole (``asyncpg.UniqueViolationError``), so
    callers use this only where their own locking rules out conflicts.
    """
    if not rows:
        return
    eng = engine()
    if not isinstance(eng, LoopPoolPostgresEngine):
        await insert_rows(table, columns, pg_types, rows)
        return
    async with eng.connection() as connection:
        await connection.copy_records_to_table(table, records=rows, columns=columns)


@lru_cache(maxsize=256)
def native_sql(sql: str) -> str:
    """Piccolo's ``{}`` placeholders as PostgreSQL's ``$1, $2, …``."""
    parts = sql.split("{}")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


async def run_sql(sql: str, *args: Any) -> list[Any]:
    """Run one SQL statement written with ``{}`` placeholders on either database; rows can
    be read by column name. For hot paths where building a Piccolo query costs more than
    the statement (PostgreSQL gets it straight through the driver, prepared once)."""
    eng = engine()
    if isinstance(eng, LoopPoolPostgresEngine):
        return await eng.fetch(native_sql(sql), *args)
    return list(await eng.run_querystring(QueryString(sql, *args)) or [])
