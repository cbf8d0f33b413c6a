"""One idempotency record per (organisation, key)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T13:42:22:000000"
VERSION = "1.38.0"
DESCRIPTION = "idempotency key uniqueness"

# The unique index is what makes two concurrent requests with one key produce one result:
# the second insert waits for the first transaction and then finds the key taken.
INDEXES = ["CREATE UNIQUE INDEX idempotency_org_key ON idempotency_record (organization, key)"]
DROP = ["DROP INDEX IF EXISTS idempotency_org_key"]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "core", DESCRIPTION, INDEXES, DROP)
