"""Message history: ``/api/v1/nudges`` — did the customer get the reminder, and if not, why."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath, FromQuery

from api.auth import principal_of, requires
from api.params import Instant, instant
from coaching import history
from coaching.schemas import DeliveryEventOut, NudgeDetail, NudgeOut
from core.schemas import Page

AnyRequest = Request[Any, Any, Any]
Status = Literal[
    "scheduled", "queued", "sending", "sent", "delivered", "failed", "suppressed", "cancelled"
]
Kind = Literal["reminder", "follow_up", "escalation", "recovery", "advisory"]


class NudgeController(Controller):
    """``/api/v1/nudges``."""

    path = "/api/v1/nudges"
    tags = ["nudges"]

    @get("/", opt=requires("staff"))
    async def index(
        self,
        request: AnyRequest,
        customer_id: FromQuery[UUID | None] = None,
        enrollment_id: FromQuery[UUID | None] = None,
        step_id: FromQuery[UUID | None] = None,
        status: FromQuery[Status | None] = None,
        kind: FromQuery[Kind | None] = None,
        channel: FromQuery[Literal["sms", "email"] | None] = None,
        since: Instant = None,
        until: Instant = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> Page[NudgeOut]:
        """Messages, oldest first, filtered (``since``/``until`` on the due time)."""
        f = history.NudgeFilter(
            customer_id, enrollment_id, step_id, status, kind, channel,
            instant(since, "since"), instant(until, "until"),
        )  # fmt: skip
        rows, next_cursor = await history.list_nudges(
            principal_of(request).tenant, f, cursor, limit
        )
        return Page(items=[NudgeOut.of(r) for r in rows], next_cursor=next_cursor)

    @get("/{nudge_id:uuid}", opt=requires("staff"))
    async def detail(self, request: AnyRequest, nudge_id: FromPath[UUID]) -> NudgeDetail:
        """One message with what the provider reported about it."""
        row, events = await history.get_nudge(principal_of(request).tenant, nudge_id)
        return NudgeDetail(NudgeOut.of(row), [DeliveryEventOut.of(e) for e in events])
