"""Slip indexes for the ranking: each error source's slips by time, with their customer.

Counting distinct customers per source over a window (a year: half a million slips)
hashed every (source, customer) pair of the window at once; with this partial index each
source's slips of the window are one range read from the index alone, de-duplicated per
source. Two single-column indexes that every query had outgrown go at the same time (all
slip reads filter by organisation first, and ``slip_org_occurred`` leads with it), so a
slip write maintains one index fewer than before.
"""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.columns.column_types import ForeignKey, Timestamptz

from core.db import ddl_migration

ID = "2026-12-05T01:34:05:798901"
VERSION = "1.38.0"
DESCRIPTION = "slip source-time index"

INDEXES = [
    "CREATE INDEX slip_source_time ON slip"
    " (organization, journey, behaviour, failure_mode, occurred_at, customer)"
    " WHERE voided_at IS NULL AND customer IS NOT NULL",
]
DROP = ["DROP INDEX IF EXISTS slip_source_time"]


async def forwards() -> MigrationManager:
    manager = ddl_migration(ID, "slips", DESCRIPTION, INDEXES, DROP)
    for name, kind in (("organization", ForeignKey), ("occurred_at", Timestamptz)):
        manager.alter_column(
            table_class_name="Slip",
            tablename="slip",
            column_name=name,
            db_column_name=name,
            params={"index": False},
            old_params={"index": True},
            column_class=kind,
            old_column_class=kind,
            schema=None,
        )
    return manager
