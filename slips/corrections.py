"""Reading slips, and correcting or voiding them (staff: their own, within a window)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from core import clock
from core.db import write_transaction
from core.errors import FieldError
from core.pagination import check_limit, decode_cursor, encode_cursor
from core.tenancy import Tenant
from journeys.tables import Journey
from settings import get_settings
from slips.errors import SlipInvalid, SlipLocked, SlipNotFound
from slips.tables import Slip, SlipChange
from slips.validation import Reporter, SlipInput, build, load_context


@dataclass
class SlipFilter:
    """List filters (all optional)."""

    journey: str | None = None
    behaviour: str | None = None
    failure_mode: str | None = None
    root_cause: str | None = None
    site: str | None = None
    source: str | None = None
    reporter_user: UUID | None = None
    reporter_key: UUID | None = None
    customer_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_voided: bool = False
    order: str = "-occurred_at"


# ``order`` values: a column, newest first with a leading "-".
ORDERS = ("-occurred_at", "occurred_at", "-created_at", "created_at")


def _ordered(query: Any, order: str, cursor: str | None, limit: int) -> Any:
    """Order by the chosen time column, then id, and start after ``cursor``."""
    if order not in ORDERS:
        raise SlipInvalid("invalid order", [FieldError("order", f"one of {', '.join(ORDERS)}")])
    ascending = not order.startswith("-")
    column = Slip.occurred_at if order.endswith("occurred_at") else Slip.created_at
    if cursor is not None:  # an empty cursor is not a position
        stamp, row_id = decode_cursor(cursor)
        if ascending:
            after = (column > stamp) | ((column == stamp) & (Slip.id > row_id))
        else:
            after = (column < stamp) | ((column == stamp) & (Slip.id < row_id))
        query = query.where(after)
    return query.order_by(column, Slip.id, ascending=ascending).limit(check_limit(limit) + 1)


async def list_slips(
    tenant: Tenant, f: SlipFilter, cursor: str | None, limit: int
) -> tuple[list[Slip], str | None]:
    """Slips, filtered, newest first by default (``order``), with a keyset cursor."""
    query = tenant.objects(Slip)
    if f.journey is not None:
        query = query.where(Slip.journey.key == f.journey)
    simple: list[tuple[Any, Any]] = [
        (Slip.behaviour, f.behaviour),
        (Slip.failure_mode, f.failure_mode),
        (Slip.root_cause, f.root_cause),
        (Slip.site, f.site),
        (Slip.source, f.source),
        (Slip.reporter_user, f.reporter_user),
        (Slip.reporter_key, f.reporter_key),
        (Slip.customer, f.customer_id),
    ]
    for column, value in simple:
        if value is not None:
            query = query.where(column == value)
    bad = [
        FieldError(name, "must be a time with an offset between 1900 and 2200")
        for name, value in (("since", f.since), ("until", f.until))
        if value is not None and (value.tzinfo is None or not clock.in_range(value))
    ]
    if bad:
        raise SlipInvalid("invalid time filter", bad)
    if f.since is not None:
        query = query.where(Slip.occurred_at >= f.since)
    if f.until is not None:
        query = query.where(Slip.occurred_at < f.until)
    if not f.include_voided:
        query = query.where(Slip.voided_at.is_null())
    rows = await _ordered(query, f.order, cursor, limit)
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    stamp = last.occurred_at if f.order.endswith("occurred_at") else last.created_at
    return rows[:limit], encode_cursor(stamp, last.id)


async def journey_keys(tenant: Tenant, slips: Iterable[Slip]) -> dict[UUID, str]:
    """The keys of the slips' journeys, by journey id."""
    ids = list({s.journey for s in slips})
    if not ids:
        return {}
    rows = await tenant.select(Journey, Journey.id, Journey.key).where(Journey.id.is_in(ids))
    return {r["id"]: r["key"] for r in rows}


async def journey_key(tenant: Tenant, slip: Slip) -> str:
    """The key of one slip's journey."""
    return (await journey_keys(tenant, [slip]))[slip.journey]


async def get_slip(tenant: Tenant, slip_id: UUID) -> Slip:
    """One slip of this organisation."""
    return await tenant.get(Slip, slip_id, SlipNotFound, "slip")


def _may_change(slip: Slip, reporter: Reporter, is_manager: bool, now: datetime) -> None:
    if is_manager:
        return
    own = (reporter.user_id is not None and slip.reporter_user == reporter.user_id) or (
        reporter.api_key_id is not None and slip.reporter_key == reporter.api_key_id
    )
    if not own:
        raise SlipLocked("staff may change only slips they logged themselves")
    window = timedelta(minutes=get_settings().intake.edit_window_minutes)
    if now - slip.created_at > window:
        raise SlipLocked(
            f"slips can be changed for {window.total_seconds() / 60:.0f} minutes after logging; "
            "ask a manager"
        )


async def correct_slip(
    tenant: Tenant, slip_id: UUID, changes: dict[str, Any], reporter: Reporter, is_manager: bool
) -> Slip:
    """Correct fields of a slip (re-validated as a whole); staff only their own, in the window."""
    now = clock.now()
    async with write_transaction():
        slip = await get_slip(tenant, slip_id)
        if slip.voided_at is not None:
            raise SlipLocked("the slip was voided")
        _may_change(slip, reporter, is_manager, now)
        journey = await tenant.objects(Journey).where(Journey.id == slip.journey).first()
        assert journey is not None
        merged = SlipInput(
            journey=changes.get("journey", journey.key),
            behaviour=changes.get("behaviour", slip.behaviour),
            failure_mode=changes.get("failure_mode", slip.failure_mode),
            root_cause=changes.get(
                "root_cause", slip.root_cause if "failure_mode" not in changes else None
            ),
            deficit=changes.get("deficit", slip.deficit if "failure_mode" not in changes else None),
            customer_id=changes.get("customer_id", slip.customer),
            severity=changes.get("severity", slip.severity),
            site=changes.get("site", slip.site),
            channel=changes.get("channel", slip.channel),
            note=changes.get("note", slip.note),
            occurred_at=changes.get("occurred_at", slip.occurred_at),
            step_id=slip.step,
            enrollment_id=slip.enrollment,
        )
        ctx = await load_context(tenant, [merged])
        fresh, errors = build(tenant, merged, ctx, reporter, slip.source, now)
        if fresh is None:
            raise SlipInvalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors)
        values = {
            Slip.journey: fresh.journey,
            Slip.journey_version: fresh.journey_version,
            Slip.behaviour: fresh.behaviour,
            Slip.failure_mode: fresh.failure_mode,
            Slip.root_cause: fresh.root_cause,
            Slip.deficit: fresh.deficit,
            Slip.stage: fresh.stage,
            Slip.severity: fresh.severity,
            Slip.customer: fresh.customer,
            Slip.site: fresh.site,
            Slip.channel: fresh.channel,
            Slip.note: fresh.note,
            Slip.occurred_at: fresh.occurred_at,
            Slip.updated_at: now,
        }
        await tenant.update(Slip, values).where(Slip.id == slip_id)
        await _log_change(tenant, slip, fresh.occurred_at, now)
    return await get_slip(tenant, slip_id)


async def void_slip(
    tenant: Tenant, slip_id: UUID, reason: str, reporter: Reporter, is_manager: bool
) -> Slip:
    """Void a slip: it stays for audit but leaves every count. Voiding twice is harmless."""
    now = clock.now()
    async with write_transaction():
        slip = await get_slip(tenant, slip_id)
        if slip.voided_at is None:
            _may_change(slip, reporter, is_manager, now)
            await tenant.update(
                Slip, {Slip.voided_at: now, Slip.void_reason: reason[:200], Slip.updated_at: now}
            ).where(Slip.id == slip_id)
            await _log_change(tenant, slip, slip.occurred_at, now)
    return await get_slip(tenant, slip_id)


async def _log_change(tenant: Tenant, slip: Slip, occurred_after: datetime, now: datetime) -> None:
    """Record the days a change touched (see ``SlipChange``)."""
    await SlipChange.insert(
        SlipChange(
            organization=tenant.org_id,
            slip=slip.id,
            occurred_before=slip.occurred_at,
            occurred_after=occurred_after,
            changed_at=now,
        )
    )
