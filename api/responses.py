"""HTTP helpers shared by API controllers and pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.response.base import ASGIResponse

from api.auth import principal_of
from core.db import NewRow, insert_rows
from core.errors import DomainError, FieldError, Invalid
from core.idempotency import Outcome, fingerprint, insert_once, replay, run_once

JSON = "application/json"


async def idempotent(
    request: Request[Any, Any, Any],
    status: int,
    work: Callable[[], Awaitable[Any]],
    *,
    require_key: bool = False,
) -> ASGIResponse:
    """Run ``work`` (returning a struct) once per ``Idempotency-Key``; retries replay it."""
    key = _key(request, require_key)

    async def run() -> tuple[int, bytes]:
        return status, msgspec.json.encode(await work())

    # Finished ASGI responses: the body is already JSON, so Litestar's response conversion
    # (a fifth of a small request's framework time) has nothing left to do.
    if key is None:
        code, body = await run()
        return ASGIResponse(body=body, status_code=code, media_type=JSON)
    print_ = await _fingerprint(request)
    return _outcome(await run_once(principal_of(request).tenant, key, print_, run))


async def create_once(
    request: Request[Any, Any, Any],
    status: int,
    prepare: Callable[[], Awaitable[tuple[Any, NewRow]]],
    *,
    require_key: bool = False,
) -> ASGIResponse:
    """Create one row whose response is known before it is written (``prepare`` validates
    and returns the response struct and the row), at most once per ``Idempotency-Key``.

    Cheaper than :func:`idempotent` for keyed creates: the key and the row go to the
    database together. A retry of a request that succeeded replays it even if the request
    would no longer validate (say, the journey changed since).
    """
    key = _key(request, require_key)
    tenant = principal_of(request).tenant
    print_ = await _fingerprint(request) if key is not None else ""
    try:
        out, row = await prepare()
    except DomainError:
        known = await replay(tenant, key, print_) if key is not None else None
        if known is None:
            raise
        return _outcome(known)
    body = msgspec.json.encode(out)
    if key is None:
        await insert_rows(row.table, row.columns, row.pg_types, [row.values])
        return ASGIResponse(body=body, status_code=status, media_type=JSON)
    return _outcome(await insert_once(tenant, key, print_, status, body, row))


def _outcome(outcome: Outcome) -> ASGIResponse:
    return ASGIResponse(
        body=outcome.body,
        status_code=outcome.status_code,
        media_type=JSON,
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
    )


def _key(request: Request[Any, Any, Any], required: bool) -> str | None:
    key = request.headers.get("idempotency-key")
    if key is None and required:
        raise Invalid(
            "missing Idempotency-Key header",
            [FieldError("Idempotency-Key", "send a new random key with every entry")],
        )
    return key


async def _fingerprint(request: Request[Any, Any, Any]) -> str:
    return fingerprint(request.method, request.scope["path"], await request.body())
