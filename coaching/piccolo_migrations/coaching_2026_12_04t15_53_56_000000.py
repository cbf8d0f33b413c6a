"""Delivery indexes: the claim of due messages by ``send_after``, stale claims, status
callbacks by provider id, a customer's history, and the unique cause of each message."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-04T15:53:56:000000"
VERSION = "1.38.0"
DESCRIPTION = "nudge delivery indexes"

INDEXES = [
    # Rows planned before these columns existed: their cause is their step and position,
    # and they may be claimed from their due time.
    "UPDATE nudge SET send_after = due_at",
    "UPDATE nudge SET dedupe_key = 'step:' || CAST(step AS VARCHAR(36)) || ':' || "
    "CAST(position AS VARCHAR(12)) WHERE step IS NOT NULL AND dedupe_key IS NULL",
    "UPDATE nudge SET customer = (SELECT step.customer FROM step WHERE step.id = nudge.step) "
    "WHERE customer IS NULL AND step IS NOT NULL",
    "DROP INDEX IF EXISTS nudge_scheduled_due",
    "CREATE INDEX nudge_scheduled_send ON nudge (send_after) WHERE status = 'scheduled'",
    "CREATE INDEX nudge_claimed ON nudge (claimed_at) WHERE status IN ('queued', 'sending')",
    "CREATE UNIQUE INDEX nudge_dedupe ON nudge (dedupe_key) WHERE dedupe_key IS NOT NULL",
    "CREATE INDEX nudge_provider_id ON nudge (provider_id) WHERE provider_id IS NOT NULL",
    "CREATE INDEX nudge_customer_sent ON nudge (customer, sent_at) WHERE sent_at IS NOT NULL",
    "CREATE INDEX nudge_org_created ON nudge (organization, created_at, id)",
]
DROP = [
    "DROP INDEX IF EXISTS nudge_scheduled_send",
    "DROP INDEX IF EXISTS nudge_claimed",
    "DROP INDEX IF EXISTS nudge_dedupe",
    "DROP INDEX IF EXISTS nudge_provider_id",
    "DROP INDEX IF EXISTS nudge_customer_sent",
    "DROP INDEX IF EXISTS nudge_org_created",
    "CREATE INDEX nudge_scheduled_due ON nudge (due_at) WHERE status = 'scheduled'",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "coaching", DESCRIPTION, INDEXES, DROP)
