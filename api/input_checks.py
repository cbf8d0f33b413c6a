"""Checks every request's path and query before anything reads them."""

from __future__ import annotations

from urllib.parse import parse_qsl

from litestar.types import ASGIApp, Receive, Scope, Send

from core.errors import FieldError, Invalid

NUL = "\x00"


class RefuseNul:
    """Refuse a NUL character in the path or a query parameter with a 422 naming it.

    PostgreSQL cannot store or compare text holding one (a search for ``a%00b`` was a
    500); SQLite would. Request bodies are checked by ``core.schemas.Input``.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            query = scope.get("query_string", b"")
            if NUL in scope["path"]:
                raise Invalid(
                    "the path holds a NUL character",
                    [FieldError("path", "must not contain NUL characters (%00)")],
                )
            if b"%00" in query or b"\x00" in query:
                names = [
                    name
                    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True)
                    if NUL in name or NUL in value
                ]
                raise Invalid(
                    "a query parameter holds a NUL character",
                    [
                        FieldError(f"query.{name.replace(NUL, '')}", "must not contain NUL (%00)")
                        for name in names or ["?"]
                    ],
                )
        await self.app(scope, receive, send)
