"""Day rollups are read and rewritten by organisation and day range."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T22:22:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "day rollup indexes"

INDEXES = [
    "CREATE INDEX slip_day_rollup_org_day ON slip_day_rollup (organization, day)",
    "CREATE INDEX step_day_rollup_org_day ON step_day_rollup (organization, day)",
]
DROP = [
    "DROP INDEX IF EXISTS slip_day_rollup_org_day",
    "DROP INDEX IF EXISTS step_day_rollup_org_day",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "dashboards", DESCRIPTION, INDEXES, DROP)
