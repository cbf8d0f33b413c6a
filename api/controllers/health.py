"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import secrets
import time
import weakref
from datetime import datetime
from typing import Any

from litestar import Controller, Response, get
from litestar.openapi import ResponseSpec
from litestar.plugins.prometheus import PrometheusController

from api import metrics as delivery_metrics
from core import clock, db

# /readyz is public and polled: its answer is kept this long, so callers (a load balancer,
# or anyone) cost one database write and one broker message per interval, not per call.
READY_CACHE_SECONDS = 5.0
_ready: dict[str, Any] = {"until": 0.0, "answer": None}
# One lock per event loop (an asyncio lock belongs to the loop it first waits on).
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
    weakref.WeakKeyDictionary()
)


def _age(now: datetime, seen: Any) -> float:
    return round((now - seen).total_seconds(), 1) if isinstance(seen, datetime) else -1.0


class HealthController(Controller):
    """``/healthz`` (process up) and ``/readyz`` (database and broker reachable)."""

    include_in_schema = True
    tags = ["operations"]

    @get("/healthz")
    async def healthz(self) -> dict[str, str]:
        """The process is up and serving."""
        return {"status": "ok"}

    @get(
        "/readyz",
        responses={
            503: ResponseSpec(dict[str, Any], description="The database or the broker is down")
        },
    )
    async def readyz(self) -> Response[dict[str, Any]]:
        """Ready when the database answers and the broker accepts a ping message (checked at
        most every few seconds; concurrent calls share one check)."""
        lock = _locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            if _ready["answer"] is None or time.monotonic() >= _ready["until"]:
                _ready["answer"] = await _check()
                _ready["until"] = time.monotonic() + READY_CACHE_SECONDS
            body, status = _ready["answer"]
        return Response(body, status_code=status)


async def _check() -> tuple[dict[str, Any], int]:
    """Ping the database and the broker; list recent worker heartbeats."""
    from coaching import actors, services
    from coaching.broker import broker

    checks: dict[str, Any] = {}
    ok = True
    try:
        await asyncio.wait_for(db.ping(), timeout=5)
        checks["database"] = "ok"
    except Exception as exc:
        ok = False
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        token = secrets.token_hex(8)
        await asyncio.wait_for(asyncio.to_thread(actors.ping.send, token), timeout=5)
        checks["broker"] = "ok"
    except Exception as exc:
        ok = False
        checks["broker"] = f"unreachable: {type(exc).__name__}"
    if checks["database"] == "ok":
        now = clock.now()
        checks["workers"] = [
            {
                "worker": h["worker"],
                "seen_seconds_ago": _age(now, h["seen_at"]),
            }
            for h in await services.heartbeats()
        ]
    body = {
        "status": "ready" if ok else "unavailable",
        "broker": type(broker).__name__,
        "checks": checks,
    }
    return body, 200 if ok else 503


class MetricsController(PrometheusController):
    """``/metrics``: Prometheus text, public like the probes (see docs/operations.md)."""

    tags = ["operations"]

    @get(media_type="text/plain", operation_id="getMetrics")
    async def get(self) -> Response[bytes]:
        """Request metrics and delivery figures (read from the outbox) in the Prometheus
        text format."""
        await delivery_metrics.refresh()
        answer: Response[bytes] = await PrometheusController.get.fn(self)
        return answer
