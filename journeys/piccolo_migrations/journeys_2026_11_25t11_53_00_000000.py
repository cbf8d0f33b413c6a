"""Composite indexes Piccolo cannot declare on columns."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from api.db import ddl_migration

ID = "2026-11-25T11:53:00:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite unique indexes"

# One key per organisation, one version number per journey, one external ref per
# organisation, and one step per (enrollment, behaviour, occurrence) so that step
# materialisation is idempotent under retries and concurrent schedulers.
INDEXES = [
    "CREATE UNIQUE INDEX journey_org_key ON journey (organization, key)",
    "CREATE UNIQUE INDEX journey_version_number ON journey_version (journey, version)",
    "CREATE UNIQUE INDEX customer_org_ref ON customer (organization, external_ref)"
    " WHERE external_ref IS NOT NULL",
    "CREATE UNIQUE INDEX step_occurrence ON step (enrollment, behaviour, occurrence)",
    "CREATE INDEX step_open ON step (status, grace_until)",
    "CREATE INDEX consent_latest ON consent_record (customer, channel, purpose, recorded_at)",
]
DROP = [
    "DROP INDEX IF EXISTS journey_org_key",
    "DROP INDEX IF EXISTS journey_version_number",
    "DROP INDEX IF EXISTS customer_org_ref",
    "DROP INDEX IF EXISTS step_occurrence",
    "DROP INDEX IF EXISTS step_open",
    "DROP INDEX IF EXISTS consent_latest",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "journeys", DESCRIPTION, INDEXES, DROP)
