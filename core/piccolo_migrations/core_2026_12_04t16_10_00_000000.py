"""Staff emails are unique per organisation, not across all of them.

A global unique email let one organisation's admin learn, by creating a user, that an
address was in use in another organisation. Logins find every active user with the email
and take the one whose password matches (see ``core.identity.authenticate_password``).
"""

import asyncio
import sqlite3

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import LoopPoolPostgresEngine, engine

ID = "2026-12-04T16:10:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "staff email unique per organisation"

INDEX = "CREATE UNIQUE INDEX staff_user_org_email ON staff_user (organization, email)"
EMAIL_INDEX = "CREATE INDEX staff_user_email ON staff_user (email)"
UNIQUE_EMAIL = '"email" VARCHAR(254) UNIQUE NOT NULL'


def _sqlite_rebuild(path: str, unique: bool) -> None:
    """SQLite cannot drop a column's UNIQUE: copy the table under a new definition, the
    way SQLite's documentation prescribes, on a connection of its own with foreign keys
    off (so dropping the old table fires no ``ON DELETE`` on the rows that refer to it,
    and no other table's reference is renamed with it)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    try:
        conn.execute("PRAGMA foreign_keys = OFF")
        conn.execute("PRAGMA legacy_alter_table = ON")
        conn.execute("BEGIN IMMEDIATE")
        (ddl,) = conn.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'staff_user'"
        ).fetchone()
        plain = UNIQUE_EMAIL.replace(" UNIQUE", "")
        ddl = ddl.replace(plain, UNIQUE_EMAIL) if unique else ddl.replace(UNIQUE_EMAIL, plain)
        for statement in (
            "DROP INDEX IF EXISTS staff_user_org_email",
            "DROP INDEX IF EXISTS staff_user_email",
            ddl.replace('TABLE "staff_user"', 'TABLE "staff_user_new"', 1),
            'INSERT INTO "staff_user_new" SELECT * FROM "staff_user"',
            'DROP TABLE "staff_user"',
            'ALTER TABLE "staff_user_new" RENAME TO "staff_user"',
        ):
            conn.execute(statement)
        if conn.execute("PRAGMA foreign_key_check").fetchall():
            raise RuntimeError("staff_user rebuild broke a foreign key")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    finally:
        conn.close()


async def _rebuild(unique: bool) -> None:
    await asyncio.to_thread(_sqlite_rebuild, engine().path, unique)  # type: ignore[attr-defined]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="core", description=DESCRIPTION)

    async def apply() -> None:
        if isinstance(engine(), LoopPoolPostgresEngine):
            await engine().run_ddl(
                "ALTER TABLE staff_user DROP CONSTRAINT IF EXISTS staff_user_email_key"
            )
        else:
            await _rebuild(unique=False)
        await engine().run_ddl(INDEX)
        await engine().run_ddl(EMAIL_INDEX)

    async def revert() -> None:
        await engine().run_ddl("DROP INDEX IF EXISTS staff_user_org_email")
        await engine().run_ddl("DROP INDEX IF EXISTS staff_user_email")
        if isinstance(engine(), LoopPoolPostgresEngine):
            await engine().run_ddl(
                "ALTER TABLE staff_user ADD CONSTRAINT staff_user_email_key UNIQUE (email)"
            )
        else:
            await _rebuild(unique=True)

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager
