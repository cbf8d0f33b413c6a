"""Provider callbacks: public routes whose credential is the provider's signature."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, post
from litestar.response import Response

from api.openapi import may_answer
from coaching import inbound, status
from coaching.channels.registry import STATUS_CALLBACK_PATH
from settings import get_settings

AnyRequest = Request[Any, Any, Any]
INBOUND_PATH = "/webhooks/twilio/inbound"


async def signed_form(request: AnyRequest, path: str) -> dict[str, str]:
    """The form body, once its ``X-Twilio-Signature`` is shown to be Twilio's for the
    configured public URL of ``path`` and this body (403 otherwise)."""
    settings = get_settings()
    form = await request.form()
    params = {k: str(v) for k, v in form.items()}
    url = settings.server.public_url.rstrip("/") + path
    if request.url.query:
        url += "?" + request.url.query
    status.verify_twilio(
        settings.twilio.auth_token.get(),
        url,
        params,
        request.headers.get("x-twilio-signature", ""),
    )
    return params


class WebhookController(Controller):
    """``/webhooks/…``: outside sessions and CSRF, verified by signature (403 otherwise)."""

    tags = ["webhooks"]
    security = [{}]

    @post(STATUS_CALLBACK_PATH, status_code=204, opt=may_answer(403))
    async def twilio_status(self, request: AnyRequest) -> Response[None]:
        """Twilio's message status callback. The ``X-Twilio-Signature`` must match the
        configured public URL of this route and the form body."""
        params = await signed_form(request, STATUS_CALLBACK_PATH)
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        state = params.get("MessageStatus") or params.get("SmsStatus") or ""
        if sid and state:
            await status.record_status(sid, state, params.get("ErrorCode"))
        return Response(None, status_code=204)

    @post(INBOUND_PATH, status_code=200, media_type="text/xml", opt=may_answer(403))
    async def twilio_inbound(self, request: AnyRequest) -> Response[str]:
        """An SMS a customer sent to an organisation's number (Twilio's incoming-message
        webhook, signed like the status callback). Answers TwiML: the reply to send, if
        any (STOP, START and HELP are answered; everything else silently)."""
        params = await signed_form(request, INBOUND_PATH)
        sid = params.get("MessageSid") or params.get("SmsSid") or ""
        reply = None
        if sid:
            handled = await inbound.receive(
                inbound.Inbound(
                    provider_id=sid,
                    sender=params.get("From", ""),
                    to=params.get("To", ""),
                    messaging_service_sid=params.get("MessagingServiceSid", ""),
                    body=params.get("Body", ""),
                ),
                get_settings(),
            )
            reply = handled.reply
        return Response(inbound.twiml(reply), status_code=200, media_type="text/xml")
