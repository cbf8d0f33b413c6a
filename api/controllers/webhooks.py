"""Provider callbacks: public routes whose credential is the provider's signature."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.response import Response

from api.openapi import may_answer
from coaching import status
from coaching.channels.registry import STATUS_CALLBACK_PATH
from settings import get_settings

AnyRequest = Request[Any, Any, Any]


class WebhookController(Controller):
    """``/webhooks/…``: outside sessions and CSRF, verified by signature (403 otherwise)."""

    tags = ["webhooks"]
    security = [{}]

    @post(STATUS_CALLBACK_PATH, status_code=204, opt=may_answer(403))
    async def twilio_status(self, request: AnyRequest) -> Response[None]:
        """Twilio's message status callback. The ``X-Twilio-Signature`` must match the
        configured public URL of this route and the form body."""
        settings = get_settings()
        form = await request.form()
        params = {k: str(v) for k, v in form.items()}
        url = settings.server.public_url.rstrip("/") + STATUS_CALLBACK_PATH
        if request.url.query:
            url += "?" + request.url.query
        status.verify_twilio(
            settings.twilio.auth_token.get(),
            url,
            params,
            request.headers.get("x-twilio-signature", ""),
        )
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        state = params.get("MessageStatus") or params.get("SmsStatus") or ""
        if sid and state:
            await status.record_status(sid, state, params.get("ErrorCode"))
        return Response(None, status_code=204)
