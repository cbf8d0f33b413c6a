"""Source owner and countermeasure indexes: one owner per source, and a source's
countermeasures found by organisation and start."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T19:17:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "source owner and countermeasure indexes"

INDEXES = [
    "CREATE UNIQUE INDEX source_owner_source"
    " ON source_owner (organization, journey, behaviour, failure_mode)",
    "CREATE INDEX countermeasure_org_started ON countermeasure (organization, started_at)",
]
DROP = [
    "DROP INDEX IF EXISTS source_owner_source",
    "DROP INDEX IF EXISTS countermeasure_org_started",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "dashboards", DESCRIPTION, INDEXES, DROP)
