"""The staff inbox: ``/api/v1/inbox`` — texts no rule could act on, until someone closes them."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery

from api.auth import principal_of, requires
from api.openapi import may_answer
from coaching import inbound
from coaching.schemas import InboxItemOut
from core.schemas import Page

AnyRequest = Request[Any, Any, Any]


class InboxController(Controller):
    """``/api/v1/inbox``."""

    path = "/api/v1/inbox"
    tags = ["inbox"]

    @get("/", opt=requires("staff"))
    async def index(
        self,
        request: AnyRequest,
        status: FromQuery[Literal["open", "closed", "all"]] = "open",
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> Page[InboxItemOut]:
        """Inbox items, oldest first: ``open`` (default), ``closed`` or ``all``."""
        rows, next_cursor = await inbound.list_inbox(
            principal_of(request).tenant, status, cursor, limit
        )
        return Page(items=[InboxItemOut.of(r) for r in rows], next_cursor=next_cursor)

    @post("/{item_id:uuid}/close", status_code=200, opt=requires("staff") | may_answer(404))
    async def close(self, request: AnyRequest, item_id: FromPath[UUID]) -> InboxItemOut:
        """Mark an item dealt with (closing it again changes nothing)."""
        p = principal_of(request)
        return InboxItemOut.of(await inbound.close_item(p.tenant, item_id, p.user_id))
