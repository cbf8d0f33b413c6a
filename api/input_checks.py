"""Checks on every request before anything reads it: no NUL in the path or query, and a
body that is really JSON where JSON is expected."""

from __future__ import annotations

import re
from typing import Any, get_args
from urllib.parse import parse_qsl

import msgspec
from litestar import Request
from litestar.exceptions import ClientException, HTTPException, ValidationException
from litestar.types import ASGIApp, Empty, Receive, Scope, Send

from core.errors import FieldError, Invalid

NUL = "\x00"


def _not_text(handler: Any) -> frozenset[str]:
    """The route's optional query parameters whose values are not text (ids, times,
    numbers, choices): the framework reads the word ``null`` in them as absent."""
    if handler not in _optional_typed:
        names: set[str] = set()
        for name, field in handler.parsed_fn_signature.parameters.items():
            kwarg = field.kwarg_definition
            if not field.is_optional or name in ("data", "request") or kwarg is None:
                continue
            kinds = [k for k in get_args(field.annotation) if k is not type(None)]
            if not kinds or any(isinstance(k, type) and issubclass(k, str) for k in kinds):
                continue
            if getattr(kwarg, "header", None) or getattr(kwarg, "cookie", None):
                continue
            names.add(getattr(kwarg, "query", None) or name)
        _optional_typed[handler] = frozenset(names)
    return _optional_typed[handler]


_optional_typed: dict[Any, frozenset[str]] = {}


class RefuseNul:
    """Refuse a NUL character in the path or a query parameter with a 422 naming it.

    PostgreSQL cannot store or compare text holding one (a search for ``a%00b`` was a
    500); SQLite would. Request bodies are checked by ``core.schemas.Input``.

    Also refuse ``null`` as the value of a query parameter that is not text (an id, a
    time, a number): it is not one, and leaving the parameter out is how to omit it.
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
            if b"null" in query.lower():
                typed = _not_text(scope["route_handler"])
                nulls = sorted(
                    {
                        name
                        for name, value in parse_qsl(query.decode("latin-1"))
                        if name in typed and value.strip().lower() == "null"
                    }
                )
                if nulls:
                    raise Invalid(
                        "a query parameter is null",
                        [
                            FieldError(f"query.{name}", "not a value; leave the parameter out")
                            for name in nulls
                        ],
                    )
        await self.app(scope, receive, send)


JSON_TYPES = ("application/json", "application/problem+json")


class UnsupportedMediaType(HTTPException):
    """A body in a format this endpoint does not read."""

    status_code = 415


_AT = re.compile(r" - at `\$\.?(?P<path>[^`]*)`$")
_body_types: dict[Any, Any] = {}


def _body_type(handler: Any) -> Any:
    """The type a route handler's ``data`` parameter declares (None without one)."""
    if handler not in _body_types:
        field = handler.parsed_fn_signature.parameters.get("data")
        kind = field.annotation if field is not None else None
        strict = isinstance(kind, type) and issubclass(kind, msgspec.Struct)
        _body_types[handler] = kind if strict else None
    return _body_types[handler]


def _strict(body: bytes, kind: Any) -> Any:
    """Decode a JSON body exactly as its schema says: no number taken for a time, no text
    for a number (the framework converts leniently, as it must for query strings)."""
    try:
        return msgspec.json.decode(body, type=kind, strict=True)
    except msgspec.ValidationError as exc:
        message = str(exc)
        match = _AT.search(message)
        key = match["path"] if match else ""
        raise ValidationException(
            "invalid request body",
            extra=[{"key": key or "data", "message": _AT.sub("", message), "source": "body"}],
        ) from None


class CheckedRequest(Request[Any, Any, Any]):
    """A request whose JSON body must say it is JSON and be valid JSON: a 415 or a 400
    with a problem body, never a 500 from the decoder; and a body a route declares as a
    struct must match it strictly (a 422 naming the field).

    A struct body is decoded into its struct here, once: the framework's conversion of the
    handler's arguments passes a value of the declared type through unchanged, so the
    struct is not built (and its fields checked) a second time."""

    async def json(self) -> Any:
        if self._json is not Empty:
            return self._json
        kind = self.headers.get("content-type", "").split(";")[0].strip().lower()
        if kind not in JSON_TYPES and not kind.endswith("+json"):
            raise UnsupportedMediaType(
                f"send the body as JSON with Content-Type: application/json "
                f"(got {kind or 'no content type'})"
            )
        handler = self.scope.get("route_handler")
        shape = _body_type(handler) if handler is not None else None
        try:
            # Parsed untyped first, so a body that is not JSON at all is told so (400)
            # before its shape is judged (422); the untyped parse is a small part of it.
            parsed = await super().json()
        except UnicodeDecodeError:
            raise ClientException("the body is not valid JSON: not UTF-8") from None
        except RecursionError:
            raise ClientException("the body is not valid JSON: nested too deep") from None
        except ValueError as exc:  # msgspec.DecodeError among them
            reason = str(exc).split("\n")[0][:200]
            raise ClientException(f"the body is not valid JSON: {reason}") from None
        if shape is None:
            return parsed
        self._json = _strict(await self.body(), shape)
        return self._json
