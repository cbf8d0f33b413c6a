"""``/outbox``: the latest messages and what became of each, for staff.

With no Twilio or SMTP account configured the development outbox is the channel, and this
page is where its "sent" messages can be read; with real channels it is the same history.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.params import FromQuery
from litestar.response import Template

from api.auth import principal_of, requires
from coaching import history
from coaching.schemas import NudgeOut
from settings import get_settings

AnyRequest = Request[Any, Any, Any]


class OutboxPages(Controller):
    """The staff outbox page."""

    path = "/outbox"
    include_in_schema = False
    opt = requires("staff")

    @get("/")
    async def outbox(self, request: AnyRequest, limit: FromQuery[int] = 100) -> Template:
        """The most recent messages, newest first, with status and reason."""
        principal = principal_of(request)
        rows = await history.recent_outbox(principal.tenant, max(1, min(limit, 500)))
        settings = get_settings()
        return Template(
            "outbox.html",
            context={
                "principal": principal,
                "messages": [NudgeOut.of(r) for r in rows],
                "recording": not settings.twilio.configured or settings.delivery.outbox_channel,
            },
        )
