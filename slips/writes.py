"""Storing slips: one at a time (prepared first, so a keyed create can write it with its
key), in batches that keep their valid items, each key stored once per organisation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal
from uuid import UUID

from core import clock
from core.db import NewRow, insert_rows, rows_per_statement, write_transaction
from core.errors import FieldError
from core.tenancy import Tenant
from journeys.errors import CustomerNotFound
from slips.errors import SlipInvalid
from slips.tables import Slip
from slips.validation import Reporter, SlipInput, SlipRow, Source, build, load_context

SLIP_COLUMNS = SlipRow._fields
SLIP_PG_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "varchar", "varchar", "varchar", "varchar", "varchar",
    "int", "varchar", "uuid", "uuid", "uuid", "uuid", "uuid", "varchar", "varchar", "text",
    "timestamptz", "timestamptz", "timestamptz", "varchar", "varchar",
)  # fmt: skip


@dataclass
class ItemResult:
    """The outcome of one batch item."""

    index: int
    status: Literal["created", "duplicate", "error"]
    slip: Slip | SlipRow | None = None
    errors: list[FieldError] = field(default_factory=list)


async def insert_new(values: list[SlipRow]) -> set[UUID]:
    """Insert slips, skipping those whose key exists; returns the ids actually inserted."""
    if len(values) <= rows_per_statement(len(SLIP_COLUMNS)):
        # One statement is atomic on its own: no BEGIN/COMMIT round trips for a single slip.
        inserted = await insert_rows("slip", SLIP_COLUMNS, SLIP_PG_TYPES, values, returning="id")
    else:
        async with write_transaction():
            inserted = await insert_rows(
                "slip", SLIP_COLUMNS, SLIP_PG_TYPES, values, returning="id"
            )
    # SQLite hands back ids as text; PostgreSQL as UUIDs.
    return {i if isinstance(i, UUID) else UUID(str(i)) for i in inserted}


async def prepare_slip(
    tenant: Tenant, item: SlipInput, reporter: Reporter, source: Source = "staff"
) -> SlipRow:
    """Validate one slip into the row to store, without storing it (every problem is
    reported at once; another organisation's customer is a 404)."""
    now = clock.now()
    ctx = await load_context(tenant, [item])
    if item.customer_id is not None and item.customer_id not in ctx.customers:
        raise CustomerNotFound(f"customer {item.customer_id} not found")
    slip, errors = build(tenant, item, ctx, reporter, source, now)
    if slip is None:
        raise SlipInvalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors)
    return slip


def as_new_row(slip: SlipRow) -> NewRow:
    """A prepared slip as a row for the generic writers (e.g. a keyed create)."""
    return NewRow("slip", SLIP_COLUMNS, SLIP_PG_TYPES, tuple(slip))


async def record_slip(
    tenant: Tenant, item: SlipInput, reporter: Reporter, source: Source = "staff"
) -> Slip | SlipRow:
    """Validate and store one slip (all problems reported at once): the new row, or the slip
    stored first under the same key."""
    slip = await prepare_slip(tenant, item, reporter, source)
    if slip.id not in await insert_new([slip]):
        # Its key was taken (a resend): the slip stored first is the answer.
        existing = await tenant.objects(Slip).where(Slip.idempotency_key == item.key).first()
        assert existing is not None
        return existing
    return slip


async def record_batch(
    tenant: Tenant, items: list[SlipInput], reporter: Reporter, source: Source = "staff"
) -> list[ItemResult]:
    """Store every valid item once; report created, duplicate (same key) or error per item."""
    now = clock.now()
    ctx = await load_context(tenant, items)
    results: list[ItemResult] = []
    rows: list[tuple[int, SlipRow]] = []
    keys_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        slip, errors = build(tenant, item, ctx, reporter, source, now)
        if slip is None:
            results.append(ItemResult(index, "error", errors=errors))
            continue
        if item.key is not None and item.key in keys_seen:
            results.append(ItemResult(index, "duplicate"))
            continue
        if item.key is not None:
            keys_seen[item.key] = index
        results.append(ItemResult(index, "created", slip))
        rows.append((index, slip))
    created_ids = await insert_new([slip for _, slip in rows])
    keyed_dupes = [slip.idempotency_key for _, slip in rows if slip.id not in created_ids]
    existing = {
        s.idempotency_key: s
        for s in (
            await tenant.objects(Slip).where(Slip.idempotency_key.is_in(keyed_dupes))
            if keyed_dupes
            else []
        )
    }
    for result in results:
        if (
            result.status == "created"
            and result.slip is not None
            and result.slip.id not in created_ids
        ):
            result.status = "duplicate"
            result.slip = existing.get(str(result.slip.idempotency_key))
        elif result.status == "duplicate":
            first = results[keys_seen[str(items[result.index].key)]]
            result.slip = (
                first.slip
                if first.slip and first.slip.id in created_ids
                else existing.get(str(items[result.index].key))
            )
    return results
