"""``/unsubscribe/{token}``: stop messages from the message itself, no login needed.

GET shows what the link will stop and a button; POST does it (also the one-click POST
mail clients send for ``List-Unsubscribe-Post``). The token is the credential.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post
from litestar.params import FromPath
from litestar.response import Template

from coaching import unsubscribe
from coaching.errors import UnsubscribeInvalid
from settings import get_settings

AnyRequest = Request[Any, Any, Any]
WHAT = {
    ("email", "informational"): "reminders and updates by email",
    ("email", "marketing"): "offers and news by email",
    ("sms", "informational"): "reminders and updates by text message",
    ("sms", "marketing"): "offers and news by text message",
}


class UnsubscribePages(Controller):
    """Public: the signed token in the path is the only credential."""

    path = unsubscribe.PATH.rstrip("/")
    include_in_schema = False

    @get("/{token:str}")
    async def confirm(self, token: FromPath[str]) -> Template:
        """Say what the link stops and ask to confirm (mail scanners follow GET links)."""
        try:
            target = unsubscribe.read_token(get_settings(), token)
        except UnsubscribeInvalid:
            return Template("unsubscribe.html", context={"invalid": True}, status_code=404)
        return Template(
            "unsubscribe.html",
            context={"what": WHAT[(target.channel, target.purpose)], "done": False},
        )

    @post("/{token:str}", status_code=200)
    async def stop(self, token: FromPath[str]) -> Template:
        """Withdraw the consent; repeating it is harmless."""
        try:
            target = await unsubscribe.unsubscribe(get_settings(), token)
        except UnsubscribeInvalid:
            return Template("unsubscribe.html", context={"invalid": True}, status_code=404)
        return Template(
            "unsubscribe.html",
            context={"what": WHAT[(target.channel, target.purpose)], "done": True},
        )
