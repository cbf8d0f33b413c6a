"""Privacy indexes: a customer's messages and texts (access export, erasure) and the
retention sweep's messages and texts that still hold text, per organisation."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T22:40:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "privacy indexes"

INDEXES = [
    "CREATE INDEX nudge_customer ON nudge (customer) WHERE customer IS NOT NULL",
    "CREATE INDEX inbound_message_customer ON inbound_message (customer) "
    "WHERE customer IS NOT NULL",
    # Only rows that still hold text: the retention sweep never re-reads what it blanked.
    "CREATE INDEX nudge_retained ON nudge (organization, created_at) "
    "WHERE body IS NOT NULL OR recipient IS NOT NULL",
    "CREATE INDEX inbound_message_retained ON inbound_message (organization, received_at) "
    "WHERE body IS NOT NULL OR sender IS NOT NULL",
]
DROP = [
    "DROP INDEX IF EXISTS nudge_customer",
    "DROP INDEX IF EXISTS inbound_message_customer",
    "DROP INDEX IF EXISTS nudge_retained",
    "DROP INDEX IF EXISTS inbound_message_retained",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "coaching", DESCRIPTION, INDEXES, DROP)
