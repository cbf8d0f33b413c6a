"""Slip changes are read by organisation since a moment (the rollup fold and reads)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T22:22:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "slip change index"

INDEXES = ["CREATE INDEX slip_change_org_changed ON slip_change (organization, changed_at)"]
DROP = ["DROP INDEX IF EXISTS slip_change_org_changed"]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "slips", DESCRIPTION, INDEXES, DROP)
