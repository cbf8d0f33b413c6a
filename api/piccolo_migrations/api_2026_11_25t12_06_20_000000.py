"""One idempotency record per (organisation, key)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-25T12:06:20:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency key uniqueness"

# The unique index is what makes two concurrent requests with one key produce one result:
# the second insert waits for the first transaction and then finds the key taken.
INDEXES = ["CREATE UNIQUE INDEX idempotency_org_key ON idempotency_record (organization, key)"]
DROP = ["DROP INDEX IF EXISTS idempotency_org_key"]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="api", description=DESCRIPTION)

    async def create() -> None:
        db = engine_finder()
        assert db is not None
        for statement in INDEXES:
            await db.run_ddl(statement)

    async def drop() -> None:
        db = engine_finder()
        assert db is not None
        for statement in DROP:
            await db.run_ddl(statement)

    manager.add_raw(create)
    manager.add_raw_backwards(drop)
    return manager
