"""Writing the simulated rows: bulk inserts in one transaction (all or nothing), in table
order, a chunk at a time so a progress bar can follow."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from api.demo.simulate import (
    CONSENT_COLUMNS,
    CUSTOMER_COLUMNS,
    ENROLLMENT_COLUMNS,
    NUDGE_EXTRA,
    STEP_EXTRA,
    Rows,
)
from coaching.outbox import NUDGE_COLUMNS
from coaching.outbox import PG_TYPES as NUDGE_PG_TYPES
from core.db import insert_rows, write_transaction
from journeys.enrollments.planning import PG_TYPES as STEP_PG_TYPES
from journeys.enrollments.planning import STEP_COLUMNS
from slips.writes import SLIP_COLUMNS, SLIP_PG_TYPES

CHUNK = 5000
CUSTOMER_PG_TYPES = ("uuid", "uuid", *["varchar"] * 8, "timestamptz", "timestamptz")
CONSENT_PG_TYPES = ("uuid", "uuid", "uuid", *["varchar"] * 4, "text", "text", "timestamptz")
ENROLLMENT_PG_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "uuid", "text", "varchar", "bool", "bool", "varchar",
    "timestamptz", "timestamptz", "timestamptz",
)  # fmt: skip
STEP_EXTRA_PG_TYPES = ("timestamptz", "varchar")
NUDGE_EXTRA_PG_TYPES = (
    "int", "timestamptz", "varchar", "varchar", "varchar", "varchar", "varchar", "timestamptz",
)  # fmt: skip


async def write(rows: Rows, progress: Callable[[int], None] | None = None) -> None:
    """Insert every row in one write transaction."""
    tables: list[tuple[str, tuple[str, ...], tuple[str, ...], Sequence[tuple[Any, ...]]]] = [
        ("customer", CUSTOMER_COLUMNS, CUSTOMER_PG_TYPES, rows.customers),
        ("consent_record", CONSENT_COLUMNS, CONSENT_PG_TYPES, rows.consents),
        ("enrollment", ENROLLMENT_COLUMNS, ENROLLMENT_PG_TYPES, rows.enrollments),
        (
            "step",
            (*STEP_COLUMNS, *STEP_EXTRA),
            (*STEP_PG_TYPES, *STEP_EXTRA_PG_TYPES),
            rows.steps,
        ),
        (
            "nudge",
            (*NUDGE_COLUMNS, *NUDGE_EXTRA),
            (*NUDGE_PG_TYPES, *NUDGE_EXTRA_PG_TYPES),
            rows.nudges,
        ),
        ("slip", SLIP_COLUMNS, SLIP_PG_TYPES, rows.slips),
    ]
    async with write_transaction():
        for table, columns, pg_types, values in tables:
            for i in range(0, len(values), CHUNK):
                chunk = values[i : i + CHUNK]
                await insert_rows(table, columns, pg_types, chunk)
                if progress is not None:
                    progress(len(chunk))
