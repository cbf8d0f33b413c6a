from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import Timestamptz

ID = "2026-12-04T19:57:17:829170"
VERSION = "1.38.0"
DESCRIPTION = "slip created_at index"


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="slips", description=DESCRIPTION
    )

    manager.alter_column(
        table_class_name="Slip",
        tablename="slip",
        column_name="created_at",
        db_column_name="created_at",
        params={"index": True},
        old_params={"index": False},
        column_class=Timestamptz,
        old_column_class=Timestamptz,
        schema=None,
    )

    return manager
