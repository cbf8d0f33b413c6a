from piccolo.apps.migrations.auto.migration_manager import MigrationManager

ID = "2026-12-04T15:53:53:782325"
VERSION = "1.38.0"
DESCRIPTION = ""


async def forwards():
    manager = MigrationManager(
        migration_id=ID, app_name="journeys", description=DESCRIPTION
    )

    manager.rename_column(
        table_class_name="Customer",
        tablename="customer",
        old_column_name="quiet_end",
        new_column_name="send_window_end",
        old_db_column_name="quiet_end",
        new_db_column_name="send_window_end",
        schema=None,
    )

    manager.rename_column(
        table_class_name="Customer",
        tablename="customer",
        old_column_name="quiet_start",
        new_column_name="send_window_start",
        old_db_column_name="quiet_start",
        new_db_column_name="send_window_start",
        schema=None,
    )

    return manager
