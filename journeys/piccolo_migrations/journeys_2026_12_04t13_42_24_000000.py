"""Indexes and keys Piccolo cannot declare on columns.

* Uniqueness: one key per organisation, one version number per journey, one external ref
  per organisation, and one step per (enrollment, behaviour, occurrence), so that step
  materialisation is idempotent under retries and concurrent schedulers.
* ``enrollment_refill`` indexes only the enrollments the scheduler may still refill; a
  plain index on ``materialised_until`` would put finished and cancelled enrollments
  first (their marks stop moving), so every claim would walk past all of them.
* ``step_org_due`` serves an organisation's time-range reads of steps; ``step_open`` the
  search for overdue steps; ``consent_latest`` a customer's current consent.
* PostgreSQL: steps have no foreign keys on organisation and customer. Both columns are
  copies of the enrollment's, written with the row, and the enrollment's own keys already
  delete its steps with the customer or organisation. SQLite keeps them: it cannot drop a
  constraint in place, and its write rate is bounded by other things.

Every index kept off a step or enrollment saves a B-tree insert per step written and per
mark moved (docs/benchmarks.md).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.postgres import PostgresEngine

from core.db import engine

ID = "2026-12-04T13:42:24:000000"
VERSION = "1.38.0"
DESCRIPTION = "composite, partial and refill indexes; no redundant step keys"

INDEXES = [
    "CREATE UNIQUE INDEX journey_org_key ON journey (organization, key)",
    "CREATE UNIQUE INDEX journey_version_number ON journey_version (journey, version)",
    "CREATE UNIQUE INDEX customer_org_ref ON customer (organization, external_ref)"
    " WHERE external_ref IS NOT NULL",
    "CREATE UNIQUE INDEX step_occurrence ON step (enrollment, behaviour, occurrence)",
    "CREATE INDEX step_open ON step (status, grace_until)",
    "CREATE INDEX step_org_due ON step (organization, due_at)",
    "CREATE INDEX consent_latest ON consent_record (customer, channel, purpose, recorded_at)",
    "CREATE INDEX enrollment_refill ON enrollment (materialised_until) "
    "WHERE status = 'active' AND (ends_at IS NULL OR materialised_until <= ends_at)",
]
DROP_INDEXES = [
    "DROP INDEX IF EXISTS journey_org_key",
    "DROP INDEX IF EXISTS journey_version_number",
    "DROP INDEX IF EXISTS customer_org_ref",
    "DROP INDEX IF EXISTS step_occurrence",
    "DROP INDEX IF EXISTS step_open",
    "DROP INDEX IF EXISTS step_org_due",
    "DROP INDEX IF EXISTS consent_latest",
    "DROP INDEX IF EXISTS enrollment_refill",
]
DROP_KEYS = (
    "ALTER TABLE step DROP CONSTRAINT IF EXISTS step_organization_fkey, "
    "DROP CONSTRAINT IF EXISTS step_customer_fkey"
)
ADD_KEYS = [
    "ALTER TABLE step ADD CONSTRAINT step_organization_fkey FOREIGN KEY (organization) "
    "REFERENCES organization(id) ON UPDATE CASCADE ON DELETE CASCADE",
    "ALTER TABLE step ADD CONSTRAINT step_customer_fkey FOREIGN KEY (customer) "
    "REFERENCES customer(id) ON UPDATE CASCADE ON DELETE CASCADE",
]


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="journeys", description=DESCRIPTION)

    # Piccolo awaits only real coroutine functions, hence named ones.
    async def apply() -> None:
        for statement in INDEXES:
            await engine().run_ddl(statement)
        if isinstance(engine(), PostgresEngine):
            await engine().run_ddl(DROP_KEYS)

    async def revert() -> None:
        if isinstance(engine(), PostgresEngine):
            for statement in ADD_KEYS:
                await engine().run_ddl(statement)
        for statement in DROP_INDEXES:
            await engine().run_ddl(statement)

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager
