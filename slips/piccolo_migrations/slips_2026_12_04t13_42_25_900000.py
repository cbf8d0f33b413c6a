"""Slip indexes: per-item idempotency keys and time-ordered reads per organisation."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T13:42:25:900000"
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
    return ddl_migration(ID, "slips", DESCRIPTION, INDEXES, DROP)
