"""Block rollups are read by organisation and block, and start as the sums of the day
rollups already folded (so a database folded before they existed reads them at once)."""

from piccolo.apps.migrations.auto.migration_manager import MigrationManager

from core.db import ddl_migration

ID = "2026-12-05T05:37:30:000000"
VERSION = "1.38.0"
DESCRIPTION = "block rollups: indexes and first fill"

# 16 is dashboards.rollups.BLOCK_DAYS when this was written; a block's first day is the day
# less its remainder, taken so that it is never negative on either database.
BLOCK = "(day - ((day % 16) + 16) % 16)"

FORWARDS = [
    "CREATE INDEX slip_block_rollup_org_day ON slip_block_rollup (organization, day)",
    "CREATE INDEX step_block_rollup_org_day ON step_block_rollup (organization, day)",
    "INSERT INTO slip_block_rollup (organization, day, journey, behaviour, failure_mode,"
    " stage, site, slips, severity_sum, detected)"
    f" SELECT organization, {BLOCK}, journey, behaviour, failure_mode, stage, site,"
    " sum(slips), sum(severity_sum), sum(detected) FROM slip_day_rollup"
    " GROUP BY 1, 2, 3, 4, 5, 6, 7",
    "INSERT INTO step_block_rollup (organization, day, journey, behaviour, steps)"
    f" SELECT organization, {BLOCK}, journey, behaviour, sum(steps) FROM step_day_rollup"
    " GROUP BY 1, 2, 3, 4",
]
BACKWARDS = [
    "DELETE FROM slip_block_rollup",
    "DELETE FROM step_block_rollup",
    "DROP INDEX IF EXISTS slip_block_rollup_org_day",
    "DROP INDEX IF EXISTS step_block_rollup_org_day",
]


async def forwards() -> MigrationManager:
    return ddl_migration(ID, "dashboards", DESCRIPTION, FORWARDS, BACKWARDS)
