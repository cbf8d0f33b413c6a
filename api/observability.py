"""Request ids, the access log and request metrics (one ASGI middleware)."""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import time
from typing import Any

from litestar import Litestar
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from litestar.utils import normalize_path
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
UNMATCHED = "<unmatched>"  # the route label of a path no route serves (one label for all)


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
    ``metrics`` is off): one pass over each response's headers for all of it.

    Installed around the whole application (:func:`install`), so a path no route serves
    (404, 405) gets its id, headers, log line and metrics like any other; given the app's
    ``router`` it labels requests by the template of the route they will reach.
    """

    def __init__(self, app: ASGIApp, metrics: bool = True, router: Any = None) -> None:
        self.app = app
        self.metrics = request_metrics() if metrics else None
        self.access = AccessLog()
        self.router = router

    def _route(self, scope: Scope) -> str:
        """The template of the route this request reaches (its routing is cached, so the
        router's own lookup that follows costs a dictionary hit)."""
        if self.router is None:  # used as a route's middleware: routing is done
            return str(scope.get("path_template", scope["path"]))
        path = scope["path"]
        root = scope.get("root_path", "")
        if root:
            path = path.split(root, maxsplit=1)[-1]
        try:
            found = self.router.handle_routing(
                path=normalize_path(path), method=scope.get("method")
            )
        except Exception:
            return UNMATCHED
        return str(found[4])

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
        # the label space; every unmatched path shares one label.
        method = str(scope.get("method", "-"))
        path = scope["path"]  # mounted apps (static files) rewrite the scope's path
        route = self._route(scope)
        metrics = self.metrics if route != "/metrics" else None
        if metrics is not None:
            metrics.started(method, route)

        responded = False
        extra = security_headers(path)

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
            # Nothing answered it (the exception handlers inside answer every error).
            if not responded:
                status = status_of(exc)
            raise
        finally:
            elapsed = time.perf_counter() - started
            if metrics is not None:
                metrics.finished(method, route, status, elapsed)
            if self.access.enabled():
                self._log(scope, path, method, status, request_id, elapsed)

    def _log(
        self, scope: Scope, path: str, method: str, status: int, request_id: str, elapsed: float
    ) -> None:
        user = scope.get("user")
        self.access.write(
            f"{method} {redact_tokens(path)} {status}",
            {
                "request_id": request_id,
                "status": status,
                "duration_ms": round(elapsed * 1000, 2),
                "org": getattr(user, "org_slug", None),
            },
        )


# Paths whose second segment is a credential (a customer's link, an unsubscribe link):
# logs show the route, never the token.
_TOKEN_PATH = re.compile(r"^/(c|unsubscribe)/[^/]+")


def redact_tokens(path: str) -> str:
    """``path`` with a link token replaced by ``…`` (``/c/…/preferences``)."""
    return _TOKEN_PATH.sub(lambda m: f"/{m.group(1)}/…", path)


def install(app: Litestar, metrics: bool = True) -> Litestar:
    """Put the request middleware around the whole application, outside its routing and
    exception handling: every response, a route's or an unmatched path's, passes it once."""
    app.asgi_handler = RequestContextMiddleware(app.asgi_handler, metrics, app.asgi_router)
    return app
