"""Slip indexes: per-item idempotency keys and time-ordered reads per organisation."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.finder import engine_finder

ID = "2026-11-25T12:06:21:000000"
VERSION = "1.38.0"
DESCRIPTION = "slip indexes"

# A slip key (a client's Idempotency-Key item, a CSV row, or "missed:<step>" for detected
# misses) is unique per organisation, so resending or re-importing never stores a slip twice.
INDEXES = [
    "CREATE UNIQUE INDEX slip_org_key ON slip (organization, idempotency_key)"
    " WHERE idempotency_key IS NOT NULL",
    "CREATE INDEX slip_org_occurred ON slip (organization, occurred_at)",
]
DROP = ["DROP INDEX IF EXISTS slip_org_key", "DROP INDEX IF EXISTS slip_org_occurred"]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="journeys", description=DESCRIPTION)

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
