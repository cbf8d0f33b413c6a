"""Slips API: log one (safe to retry with Idempotency-Key), log a batch, list, correct, void."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.response.base import ASGIResponse

from api.auth import principal_of, requires
from api.openapi import may_answer
from api.params import Instant, instant
from api.responses import create_once, idempotent
from api.slip_intake import preparer, reporter_of, slip_input
from core.schemas import Page
from slips import corrections, writes
from slips.schemas import (
    ItemError,
    ItemResultOut,
    SlipBatchIn,
    SlipBatchOut,
    SlipIn,
    SlipOut,
    SlipPatch,
    VoidIn,
)

AnyRequest = Request[Any, Any, Any]
BATCH_BODY_LIMIT = 4 * 1024 * 1024  # 1,000 items with long notes
SlipOrder = Literal["-occurred_at", "occurred_at", "-created_at", "created_at"]


class SlipController(Controller):
    """``/api/v1/slips``."""

    path = "/api/v1/slips"
    tags = ["slips"]

    @post(
        "/",
        opt=requires("staff") | may_answer(404, 409),
        responses={201: ResponseSpec(SlipOut, description="The slip")},
    )
    async def create(self, request: AnyRequest, data: JSONBody[SlipIn]) -> ASGIResponse:
        """Log a slip. Send ``Idempotency-Key`` to make retries safe."""
        return await create_once(request, 201, preparer(principal_of(request), data))

    @post(
        "/batch",
        opt=requires("staff"),
        status_code=200,
        request_max_body_size=BATCH_BODY_LIMIT,
        responses={200: ResponseSpec(SlipBatchOut, description="Per-item results")},
    )
    async def batch(self, request: AnyRequest, data: JSONBody[SlipBatchIn]) -> ASGIResponse:
        """Log up to 1,000 slips; valid items are stored even when others fail."""
        p = principal_of(request)

        async def work() -> SlipBatchOut:
            items = [slip_input(item, item.key) for item in data.items]
            results = await writes.record_batch(p.tenant, items, reporter_of(p))
            out = [
                ItemResultOut(
                    r.index,
                    r.status,
                    r.slip.id if r.slip else None,
                    [ItemError.of(e) for e in r.errors],
                )
                for r in results
            ]
            count = {
                s: sum(1 for r in results if r.status == s)
                for s in ("created", "duplicate", "error")
            }
            return SlipBatchOut(count["created"], count["duplicate"], count["error"], out)

        return await idempotent(request, 200, work)

    @get("/", opt=requires("staff"))
    async def index(
        self,
        request: AnyRequest,
        journey: FromQuery[str | None] = None,
        behaviour: FromQuery[str | None] = None,
        failure_mode: FromQuery[str | None] = None,
        root_cause: FromQuery[str | None] = None,
        site: FromQuery[str | None] = None,
        source: FromQuery[str | None] = None,
        reporter_user: FromQuery[UUID | None] = None,
        reporter_key: FromQuery[UUID | None] = None,
        customer_id: FromQuery[UUID | None] = None,
        since: Instant = None,
        until: Instant = None,
        include_voided: FromQuery[bool] = False,
        order: FromQuery[SlipOrder] = "-occurred_at",
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> Page[SlipOut]:
        """Slips, filtered, newest first: ``order=-occurred_at`` is the default
        (``occurred_at`` oldest first; ``-created_at`` / ``created_at`` by when they were
        logged); voided slips only with include_voided=true."""
        tenant = principal_of(request).tenant
        f = corrections.SlipFilter(
            journey, behaviour, failure_mode, root_cause, site, source, reporter_user,
            reporter_key, customer_id, instant(since, "since"), instant(until, "until"),
            include_voided, order,
        )  # fmt: skip
        items, next_cursor = await corrections.list_slips(tenant, f, cursor, limit)
        keys = await corrections.journey_keys(tenant, items)
        return Page(items=[SlipOut.of(s, keys[s.journey]) for s in items], next_cursor=next_cursor)

    @get("/{slip_id:uuid}", opt=requires("staff"))
    async def detail(self, request: AnyRequest, slip_id: FromPath[UUID]) -> SlipOut:
        """One slip."""
        tenant = principal_of(request).tenant
        slip = await corrections.get_slip(tenant, slip_id)
        return SlipOut.of(slip, await corrections.journey_key(tenant, slip))

    @patch("/{slip_id:uuid}", opt=requires("staff") | may_answer(403, 404))
    async def correct(
        self, request: AnyRequest, slip_id: FromPath[UUID], data: JSONBody[SlipPatch]
    ) -> SlipOut:
        """Correct a slip (staff: their own, within the edit window; managers: any)."""
        p = principal_of(request)
        slip = await corrections.correct_slip(
            p.tenant, slip_id, data.changes(), reporter_of(p), p.has_role("manager")
        )
        return SlipOut.of(slip, await corrections.journey_key(p.tenant, slip))

    @post("/{slip_id:uuid}/void", opt=requires("staff") | may_answer(403), status_code=200)
    async def void(
        self, request: AnyRequest, slip_id: FromPath[UUID], data: JSONBody[VoidIn]
    ) -> SlipOut:
        """Void a slip: kept for audit, left out of every count."""
        p = principal_of(request)
        slip = await corrections.void_slip(
            p.tenant, slip_id, data.reason, reporter_of(p), p.has_role("manager")
        )
        return SlipOut.of(slip, await corrections.journey_key(p.tenant, slip))
