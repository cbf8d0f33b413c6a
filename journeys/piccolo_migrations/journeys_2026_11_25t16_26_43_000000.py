"""Indexes and keys for the rolling horizon's writes.

* ``enrollment_refill`` indexes only the enrollments the scheduler may still refill. The
  plain index on ``materialised_until`` (dropped by the previous migration) put finished
  and cancelled enrollments first, since their marks stop moving, so every claim walked
  past all of them: a cost that grew with every enrollment ever completed.
* ``step_org_due`` replaces the single-column indexes on a step's organisation and due
  time, which nothing read, with the one an organisation's time-range reads want.
* PostgreSQL: steps lose their foreign keys on organisation and customer. Both columns are
  copies of the enrollment's, written with the row, and the enrollment's own keys already
  delete its steps with the customer or organisation. SQLite keeps them: it cannot drop a
  constraint in place, and its write rate is bounded by other things.

Every index dropped or kept off a step or enrollment saves a B-tree insert per step
written and per mark moved (docs/benchmarks.md).
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.postgres import PostgresEngine

from api.db import engine

ID = "2026-11-25T16:26:43:000000"
VERSION = "1.38.0"
DESCRIPTION = "refill and step indexes, no redundant step keys"

INDEXES = [
    "CREATE INDEX enrollment_refill ON enrollment (materialised_until) "
    "WHERE status = 'active' AND (ends_at IS NULL OR materialised_until <= ends_at)",
    "CREATE INDEX step_org_due ON step (organization, due_at)",
]
DROP_INDEXES = ["DROP INDEX IF EXISTS enrollment_refill", "DROP INDEX IF EXISTS step_org_due"]
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
