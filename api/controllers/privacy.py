"""Privacy audit: ``/api/v1/privacy/events`` — erasures, exports and breach notices."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromQuery

from api.auth import principal_of, requires
from core import audit
from core.pagination import DEFAULT_LIMIT
from core.schemas import Page, PrivacyEventOut

AnyRequest = Request[Any, Any, Any]
Kind = Literal["erasure", "export", "breach_notice"]


class PrivacyController(Controller):
    """``/api/v1/privacy``."""

    path = "/api/v1/privacy"
    tags = ["privacy"]

    @get("/events", opt=requires("admin"))
    async def events(
        self,
        request: AnyRequest,
        kind: FromQuery[Kind | None] = None,
        customer_id: FromQuery[UUID | None] = None,
        batch: FromQuery[UUID | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[PrivacyEventOut]:
        """What was done with customers' personal data, oldest first: ``kind`` (erasure,
        export, breach_notice), one customer's (``customer_id``) or one operation's
        (``batch``, e.g. a breach notification)."""
        rows, next_cursor = await audit.list_events(
            principal_of(request).tenant, cursor, limit, kind, customer_id, batch
        )
        return Page(items=[PrivacyEventOut.of(e) for e in rows], next_cursor=next_cursor)
