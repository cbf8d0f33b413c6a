"""SQL aggregates over the message outbox for the nudge panels: nudged against holdout
outcomes, message statuses and failures, opt-outs, messages per customer, scheduler
lateness, queue depth and delivery by day. One organisation at a time; one statement text
for SQLite and PostgreSQL (only the time arithmetic differs)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from core.db import run_sql
from core.ids import as_uuid
from core.tenancy import Tenant
from dashboards.queries import Window, day_index, is_postgres

SENT = ("sent", "delivered")  # handed to the provider (delivered: the provider confirmed)
ATTEMPTED = ("sent", "delivered", "failed")
WAITING = ("scheduled", "queued", "sending")
YEAR = timedelta(days=365)


def _in(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


def _seconds_between(early: str, late: str) -> str:
    if is_postgres():
        return f"extract(epoch from ({late} - {early}))"
    return f"((julianday({late}) - julianday({early})) * 86400.0)"


HOLDOUT_JOURNEYS = "SELECT journey FROM enrollment WHERE organization = {} AND holdout"


async def completion_by_group(
    tenant: Tenant, window: Window, journey: str | None
) -> dict[tuple[UUID, bool], tuple[int, int]]:
    """(done, settled) steps due in the window per journey with a holdout and group
    (holdout or not); settled = done or missed (pending steps have no outcome yet)."""
    sql = (
        "SELECT e.journey AS journey_id, e.holdout AS holdout,"
        " sum(CASE WHEN st.status = 'done' THEN 1 ELSE 0 END) AS done, count(*) AS settled"
        " FROM step st JOIN enrollment e ON e.id = st.enrollment"
        " WHERE st.organization = {} AND e.organization = {}"
        " AND st.due_at >= {} AND st.due_at < {} AND st.status IN ('done', 'missed')"
        f" AND e.journey IN ({HOLDOUT_JOURNEYS})"
    )
    args: list[Any] = [tenant.org_id, tenant.org_id, window.since, window.until, tenant.org_id]
    sql, args = _journey_filter(sql, args, tenant, journey)
    rows = await run_sql(sql + " GROUP BY 1, 2", *args)
    return {
        (as_uuid(r["journey_id"]), bool(r["holdout"])): (int(r["done"]), int(r["settled"]))
        for r in rows
    }


def _journey_filter(
    sql: str, args: list[Any], tenant: Tenant, journey: str | None
) -> tuple[str, list[Any]]:
    if journey is None:
        return sql, args
    sql += " AND e.journey IN (SELECT id FROM journey WHERE organization = {} AND key = {})"
    return sql, [*args, tenant.org_id, journey]


async def slipped_by_group(
    tenant: Tenant, window: Window, journey: str | None
) -> dict[tuple[UUID, bool], tuple[int, int]]:
    """(enrollments with a slip of their journey in the window, enrollments active in the
    window) per journey with a holdout and group. A slip counts for the enrollment of its
    customer on its journey."""
    sql = (
        "SELECT e.journey AS journey_id, e.holdout AS holdout, count(*) AS enrolled,"
        " sum(CASE WHEN EXISTS (SELECT 1 FROM slip s WHERE s.organization = {}"
        " AND s.customer = e.customer AND s.journey = e.journey AND s.voided_at IS NULL"
        " AND s.occurred_at >= {} AND s.occurred_at < {}) THEN 1 ELSE 0 END) AS slipped"
        " FROM enrollment e WHERE e.organization = {} AND e.created_at < {}"
        " AND (e.cancelled_at IS NULL OR e.cancelled_at >= {})"
        " AND (e.ends_at IS NULL OR e.ends_at >= {})"
        f" AND e.journey IN ({HOLDOUT_JOURNEYS})"
    )
    args: list[Any] = [
        tenant.org_id,
        window.since,
        window.until,
        tenant.org_id,
        window.until,
        window.since,
        window.since,
        tenant.org_id,
    ]
    sql, args = _journey_filter(sql, args, tenant, journey)
    rows = await run_sql(sql + " GROUP BY 1, 2", *args)
    return {
        (as_uuid(r["journey_id"]), bool(r["holdout"])): (int(r["slipped"]), int(r["enrolled"]))
        for r in rows
    }


async def minutes_to_confirm(
    tenant: Tenant, window: Window, journey: str | None
) -> dict[UUID, list[float]]:
    """Per journey, minutes from a step's first message sent to its confirmation, for
    steps confirmed in the window after a message (sorted)."""
    gap = _seconds_between("min(n.sent_at)", "st.completed_at")
    sql = (
        f"SELECT e.journey AS journey_id, {gap} / 60.0 AS minutes"
        " FROM step st JOIN enrollment e ON e.id = st.enrollment"
        " JOIN nudge n ON n.step = st.id AND n.organization = {}"
        " WHERE st.organization = {} AND e.organization = {} AND st.status = 'done'"
        " AND st.completed_at >= {} AND st.completed_at < {}"
        f" AND n.sent_at IS NOT NULL AND n.status IN {_in(SENT)}"
    )
    args: list[Any] = [tenant.org_id, tenant.org_id, tenant.org_id, window.since, window.until]
    sql, args = _journey_filter(sql, args, tenant, journey)
    rows = await run_sql(
        sql + " AND n.sent_at <= st.completed_at GROUP BY e.journey, st.id, st.completed_at",
        *args,
    )
    out: dict[UUID, list[float]] = defaultdict(list)
    for r in rows:
        out[as_uuid(r["journey_id"])].append(float(r["minutes"]))
    return {k: sorted(v) for k, v in out.items()}


async def status_counts(tenant: Tenant, window: Window) -> list[tuple[str, str, int]]:
    """(status, channel, messages) for messages planned in the window."""
    rows = await run_sql(
        "SELECT status, channel, count(*) AS n FROM nudge WHERE organization = {}"
        " AND due_at >= {} AND due_at < {} GROUP BY 1, 2",
        tenant.org_id,
        window.since,
        window.until,
    )
    return [(r["status"], r["channel"], int(r["n"])) for r in rows]


async def failure_counts(tenant: Tenant, window: Window) -> list[tuple[str, str, int]]:
    """(error code, channel, messages) for failed messages planned in the window; a
    failure without a provider code is named by its reason."""
    rows = await run_sql(
        "SELECT coalesce(error_code, reason, 'unknown') AS code, channel, count(*) AS n"
        " FROM nudge WHERE organization = {} AND status = 'failed'"
        " AND due_at >= {} AND due_at < {} GROUP BY 1, 2",
        tenant.org_id,
        window.since,
        window.until,
    )
    return [(r["code"], r["channel"], int(r["n"])) for r in rows]


async def opt_outs(tenant: Tenant, window: Window) -> tuple[int, int]:
    """(customers messaged in the window who revoked a consent in it, customers messaged)."""
    rows = await run_sql(
        "SELECT count(*) AS messaged, sum(CASE WHEN EXISTS (SELECT 1 FROM consent_record c"
        " WHERE c.organization = {} AND c.customer = m.customer AND c.status = 'revoked'"
        " AND c.recorded_at >= {} AND c.recorded_at < {}) THEN 1 ELSE 0 END) AS revoked"
        " FROM (SELECT DISTINCT customer FROM nudge WHERE organization = {}"
        f" AND status IN {_in(SENT)} AND sent_at >= {{}} AND sent_at < {{}}"
        " AND customer IS NOT NULL) m",
        tenant.org_id,
        window.since,
        window.until,
        tenant.org_id,
        window.since,
        window.until,
    )
    return int(rows[0]["revoked"] or 0), int(rows[0]["messaged"])


async def messages_per_customer(tenant: Tenant, until: datetime) -> list[int]:
    """Messages sent to each customer in the 365 days up to ``until`` (one number per
    customer who got any)."""
    rows = await run_sql(
        "SELECT customer, count(*) AS n FROM nudge WHERE organization = {}"
        f" AND status IN {_in(SENT)} AND sent_at >= {{}} AND sent_at < {{}}"
        " AND customer IS NOT NULL GROUP BY customer",
        tenant.org_id,
        until - YEAR,
        until,
    )
    return [int(r["n"]) for r in rows]


async def lateness_seconds(tenant: Tenant, window: Window) -> list[float]:
    """Seconds from each message's planned time to its sending, for messages sent in the
    window (sorted)."""
    late = _seconds_between("due_at", "sent_at")
    rows = await run_sql(
        f"SELECT {late} AS late FROM nudge WHERE organization = {{}}"
        f" AND status IN {_in(SENT)} AND sent_at >= {{}} AND sent_at < {{}} ORDER BY 1",
        tenant.org_id,
        window.since,
        window.until,
    )
    return [float(r["late"]) for r in rows]


async def queue_depth(tenant: Tenant, now: datetime) -> int:
    """Messages due by ``now`` and not yet sent (waiting, queued or being sent)."""
    rows = await run_sql(
        "SELECT count(*) AS n FROM nudge WHERE organization = {}"
        f" AND status IN {_in(WAITING)} AND due_at <= {{}}",
        tenant.org_id,
        now,
    )
    return int(rows[0]["n"])


async def delivery_days(tenant: Tenant, window: Window) -> dict[int, tuple[int, int]]:
    """Per day of the window (by sending time): (messages sent or delivered, attempted:
    sent, delivered or failed). A failed message counts on the day it was planned."""
    day = day_index("coalesce(sent_at, due_at)", window.since)
    rows = await run_sql(
        f"SELECT {day} AS day, sum(CASE WHEN status IN {_in(SENT)} THEN 1 ELSE 0 END) AS ok,"
        " count(*) AS n FROM nudge WHERE organization = {}"
        f" AND status IN {_in(ATTEMPTED)} AND coalesce(sent_at, due_at) >= {{}}"
        " AND coalesce(sent_at, due_at) < {} GROUP BY 1",
        tenant.org_id,
        window.since,
        window.until,
    )
    return {int(r["day"]): (int(r["ok"]), int(r["n"])) for r in rows}


async def task_days(tenant: Tenant, window: Window) -> dict[int, tuple[int, int]]:
    """Per day a staff task fell due within the window (and before now): (closed by its
    due time, all that fell due). Tasks not yet due are not judged."""
    from core import clock

    day = day_index("due_at", window.since)
    rows = await run_sql(
        f"SELECT {day} AS day, sum(CASE WHEN closed_at IS NOT NULL AND closed_at <= due_at"
        " THEN 1 ELSE 0 END) AS ok, count(*) AS n FROM staff_task WHERE organization = {}"
        " AND due_at >= {} AND due_at < {} GROUP BY 1",
        tenant.org_id,
        window.since,
        min(window.until, clock.now()),
    )
    return {int(r["day"]): (int(r["ok"]), int(r["n"])) for r in rows}
