"""Checks on every request before anything reads it: no NUL in the path or query, and a
body that is really JSON where JSON is expected."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

from litestar import Request
from litestar.exceptions import ClientException, HTTPException
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


JSON_TYPES = ("application/json", "application/problem+json")


class UnsupportedMediaType(HTTPException):
    """A body in a format this endpoint does not read."""

    status_code = 415


class CheckedRequest(Request[Any, Any, Any]):
    """A request whose JSON body must say it is JSON and be valid JSON: a 415 or a 400
    with a problem body, never a 500 from the decoder."""

    async def json(self) -> Any:
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in JSON_TYPES and not kind.endswith("+json"):
            raise UnsupportedMediaType(
                f"send the body as JSON with Content-Type: application/json "
                f"(got {kind or 'no content type'})"
            )
        try:
            return await super().json()
        except UnicodeDecodeError:
            raise ClientException("the body is not valid JSON: not UTF-8") from None
        except RecursionError:
            raise ClientException("the body is not valid JSON: nested too deep") from None
        except ValueError as exc:  # msgspec.DecodeError among them
            reason = str(exc).split("\n")[0][:200]
            raise ClientException(f"the body is not valid JSON: {reason}") from None
