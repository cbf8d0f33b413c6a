"""Steps written since a moment, for jobs that keep per-day aggregates of them
(``dashboards.rollups``).

PostgreSQL gets a BRIN index: steps are appended in ``created_at`` order, so a block
range summary finds the recent ones and costs almost nothing per step written. SQLite has
no BRIN and gets a B-tree with the organisation first.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.engine.postgres import PostgresEngine

from core.db import engine

ID = "2026-12-04T22:22:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "step created_at index"

POSTGRES = "CREATE INDEX step_created ON step USING brin (created_at)"
SQLITE = "CREATE INDEX step_created ON step (organization, created_at)"
DROP = "DROP INDEX IF EXISTS step_created"


async def forwards() -> MigrationManager:
    manager = MigrationManager(migration_id=ID, app_name="journeys", description=DESCRIPTION)

    # Piccolo awaits only real coroutine functions, hence named ones.
    async def apply() -> None:
        await engine().run_ddl(POSTGRES if isinstance(engine(), PostgresEngine) else SQLITE)

    async def revert() -> None:
        await engine().run_ddl(DROP)

    manager.add_raw(apply)
    manager.add_raw_backwards(revert)
    return manager
