"""Piccolo app for the dashboards context."""

import os

from piccolo.conf.apps import AppConfig, table_finder

CURRENT_DIRECTORY = os.path.dirname(os.path.abspath(__file__))

APP_CONFIG = AppConfig(
    app_name="dashboards",
    migrations_folder_path=os.path.join(CURRENT_DIRECTORY, "piccolo_migrations"),
    table_classes=table_finder(modules=["dashboards.tables"], exclude_imported=True),
    migration_dependencies=["core.piccolo_app", "slips.piccolo_app", "coaching.piccolo_app"],
    commands=[],
)
