"""HTTP helpers shared by API controllers and pages."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
from litestar import Request, Response

from api.auth import principal_of
from api.domain import FieldError, Invalid
from api.idempotency import fingerprint, run_once


async def idempotent(
    request: Request[Any, Any, Any],
    status: int,
    work: Callable[[], Awaitable[Any]],
    *,
    require_key: bool = False,
) -> Response[bytes]:
    """Run ``work`` (returning a struct) once per ``Idempotency-Key``; retries replay it."""
    key = request.headers.get("idempotency-key")
    if key is None and require_key:
        raise Invalid(
            "missing Idempotency-Key header",
            [FieldError("Idempotency-Key", "send a new random key with every entry")],
        )

    async def run() -> tuple[int, bytes]:
        return status, msgspec.json.encode(await work())

    if key is None:
        code, body = await run()
        return Response(body, status_code=code, media_type="application/json")
    print_ = fingerprint(request.method, request.url.path, await request.body())
    outcome = await run_once(principal_of(request).tenant, key, print_, run)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else {}
    return Response(
        outcome.body,
        status_code=outcome.status_code,
        media_type="application/json",
        headers=headers,
    )
