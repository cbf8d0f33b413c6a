"""Request ids, the access log and request metrics (one ASGI middleware)."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import Counter, Gauge, Histogram

from api.headers import for_path as security_headers
from api.problems import status_of
from core.logs import AccessLog

_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
# Request ids: a random per-process prefix and a counter, unique across processes and
# restarts without a random draw per request (uuid4 was a fortieth of a small request).
_ID_PREFIX = secrets.token_hex(8)
_id_counter = itertools.count(1)


def _new_request_id() -> str:
    return f"{_ID_PREFIX}{next(_id_counter):016x}"


CLIENT_CLOSED = 499  # the status nginx logs for a request the client abandoned


class RequestMetrics:
    """Prometheus request metrics (``slipguard_requests_total``, ``…_request_duration_seconds``,
    ``…_requests_in_progress``, ``…_requests_error_total``), labelled by method, route template
    and status.

    Recorded here rather than by a separate middleware because this one already times every
    request; the labelled children are kept per label set, so a request costs two dict
    lookups and three increments.
    """

    def __init__(self, prefix: str = "slipguard", app_name: str = "slipguard") -> None:
        names = ["method", "path", "status_code", "app_name"]
        self.app_name = app_name
        self.count = Counter(f"{prefix}_requests_total", "Total requests", names)
        self.errors = Counter(f"{prefix}_requests_error_total", "Requests answered 5xx", names)
        self.duration = Histogram(
            f"{prefix}_request_duration_seconds", "Request duration, in seconds", names
        )
        self.in_progress = Gauge(
            f"{prefix}_requests_in_progress",
            "Requests being handled",
            ["method", "path", "app_name"],
            multiprocess_mode="livesum",
        )
        self._done: dict[tuple[str, str, int], tuple[Any, Any, Any]] = {}
        self._open: dict[tuple[str, str], Any] = {}

    def started(self, method: str, path: str) -> None:
        gauge = self._open.get((method, path))
        if gauge is None:
            gauge = self._open[(method, path)] = self.in_progress.labels(
                method, path, self.app_name
            )
        gauge.inc()

    def finished(self, method: str, path: str, status: int, seconds: float) -> None:
        self._open[(method, path)].dec()
        children = self._done.get((method, path, status))
        if children is None:
            labels = (method, path, str(status), self.app_name)
            children = self._done[(method, path, status)] = (
                self.count.labels(*labels),
                self.duration.labels(*labels),
                self.errors.labels(*labels) if status >= 500 else None,
            )
        children[0].inc()
        children[1].observe(seconds)
        if children[2] is not None:
            children[2].inc()


_metrics: list[RequestMetrics] = []


def request_metrics() -> RequestMetrics:
    """The process's request metrics (registered once: Prometheus refuses a second time)."""
    if not _metrics:
        _metrics.append(RequestMetrics())
    return _metrics[0]


class RequestContextMiddleware:
    """Give each request an id (kept from ``X-Request-ID`` when sane), echo it with the
    security headers (``api.headers``), log the request, and record its metrics (unless
    ``metrics`` is off): one pass over each response's headers for all of it."""

    def __init__(self, app: ASGIApp, metrics: bool = True) -> None:
        self.app = app
        self.metrics = request_metrics() if metrics else None
        self.access = AccessLog()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                incoming = value.decode("latin-1")
                break
        request_id = incoming if _SAFE_ID.match(incoming) else _new_request_id()
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        # The route's template (``/api/v1/slips/{slip_id}``), so ids do not explode
        # the label space; a path that matched no route never gets here.
        method = str(scope.get("method", "-"))
        route = str(scope.get("path_template", scope["path"]))
        metrics = self.metrics if route != "/metrics" else None
        if metrics is not None:
            metrics.started(method, route)

        responded = False
        extra = security_headers(scope["path"])

        async def send_with_id(message: Message) -> None:
            nonlocal status, responded
            if message["type"] == "http.response.start":
                status, responded = message["status"], True
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                if b"x-request-id" not in present:
                    headers.append((b"x-request-id", request_id.encode()))
                # A handler's own value of a security header wins.
                headers += [header for header in extra if header[0] not in present]
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except asyncio.CancelledError:
            if not responded:
                status = CLIENT_CLOSED  # the client went away; not a server error
            raise
        except Exception as exc:
            # Raised past us (e.g. by authentication): the app's outer handler answers it.
            if not responded:
                status = status_of(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            if metrics is not None:
                metrics.finished(method, route, status, elapsed)
            if self.access.enabled():
                self._log(scope, method, status, request_id, elapsed)

    def _log(self, scope: Scope, method: str, status: int, request_id: str, elapsed: float) -> None:
        user = scope.get("user")
        self.access.write(
            f"{method} {scope['path']} {status}",
            {
                "request_id": request_id,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "org": getattr(user, "org_slug", None),
            },
        )
