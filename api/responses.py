"""HTTP helpers shared by API controllers and pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request
from litestar.response.base import ASGIResponse

from api.auth import principal_of
from api.domain import FieldError, Invalid
from api.idempotency import fingerprint, run_once

JSON = "application/json"


async def idempotent(
    request: Request[Any, Any, Any],
    status: int,
    work: Callable[[], Awaitable[Any]],
    *,
    require_key: bool = False,
) -> ASGIResponse:
    """Run ``work`` (returning a struct) once per ``Idempotency-Key``; retries replay it."""
    key = request.headers.get("idempotency-key")
    if key is None and require_key:
        raise Invalid(
            "missing Idempotency-Key header",
            [FieldError("Idempotency-Key", "send a new random key with every entry")],
        )

    async def run() -> tuple[int, bytes]:
        return status, msgspec.json.encode(await work())

    # Finished ASGI responses: the body is already JSON, so Litestar's response conversion
    # (a fifth of a small request's framework time) has nothing left to do.
    if key is None:
        code, body = await run()
        return ASGIResponse(body=body, status_code=code, media_type=JSON)
    print_ = fingerprint(request.method, request.scope["path"], await request.body())
    outcome = await run_once(principal_of(request).tenant, key, print_, run)
    return ASGIResponse(
        body=outcome.body,
        status_code=outcome.status_code,
        media_type=JSON,
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
    )
