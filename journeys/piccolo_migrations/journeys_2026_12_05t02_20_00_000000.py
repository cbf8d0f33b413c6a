"""Cancelled enrollments and erased customers are found by organisation since a moment
(the ranking's rollups read which days' exposure changed): without these, every read
scanned all of the organisation's enrollments and customers. Partial, so the rows that
are neither (nearly all) are not in them and writing them costs nothing more."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-05T02:20:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "cancelled and erased indexes"

INDEXES = [
    "CREATE INDEX enrollment_org_cancelled ON enrollment (organization, cancelled_at)"
    " WHERE cancelled_at IS NOT NULL",
    "CREATE INDEX customer_org_erased ON customer (organization, erased_at)"
    " WHERE erased_at IS NOT NULL",
]
DROP = [
    "DROP INDEX IF EXISTS enrollment_org_cancelled",
    "DROP INDEX IF EXISTS customer_org_erased",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "journeys", DESCRIPTION, INDEXES, DROP)
