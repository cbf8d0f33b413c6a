"""Nudge indexes: one planned message per step and position (also how an enrollment's
messages are found, through its steps), and the claim of due messages."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T13:42:27:000000"
VERSION = "1.38.0"
DESCRIPTION = "nudge indexes"

INDEXES = [
    "CREATE UNIQUE INDEX nudge_step_position ON nudge (step, position) WHERE step IS NOT NULL",
    # Only scheduled rows are ever claimed: the index stays the size of what is pending.
    "CREATE INDEX nudge_scheduled_due ON nudge (due_at) WHERE status = 'scheduled'",
]
DROP = [
    "DROP INDEX IF EXISTS nudge_step_position",
    "DROP INDEX IF EXISTS nudge_scheduled_due",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "coaching", DESCRIPTION, INDEXES, DROP)
