"""The one map from errors to HTTP: RFC 9457 ``application/problem+json`` responses.

Domain errors carry a ``kind``; framework errors carry a status. Nothing else decides a
status code, and no stack trace ever reaches a client (unexpected errors are logged with
the request id, which the problem repeats so support can find the log line).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import (
    HTTP_401_UNAUTHORIZED,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from core.errors import DomainError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://slipguard.dev/problems/"
log = logging.getLogger("slipguard.errors")

KIND_STATUS: dict[str, int] = {
    "invalid": HTTP_422_UNPROCESSABLE_ENTITY,
    "not_found": HTTP_404_NOT_FOUND,
    "conflict": HTTP_409_CONFLICT,
    "forbidden": 403,
    "unauthorized": HTTP_401_UNAUTHORIZED,
    "unavailable": HTTP_503_SERVICE_UNAVAILABLE,
    "throttled": 429,
}

STATUS_TITLES: dict[int, str] = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}

_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_MISSING_FIELD = re.compile(r"missing required field `([^`]+)`")
_NAMED_FIELD = re.compile(r"^`([^`]+)` ")  # a message about one field, e.g. from __post_init__


def problem(
    request: Request[Any, Any, Any],
    status: int,
    detail: str,
    *,
    title: str | None = None,
    slug: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response[dict[str, Any]]:
    """Build a problem+json response (an HTML error page for a browser asking for a page)."""
    title = title or STATUS_TITLES.get(status, "Error")
    if _wants_page(request):
        return _page(request, status, title, detail, headers)
    body: dict[str, Any] = {
        "type": TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
    }
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        body["request_id"] = request_id
        # Errors raised by middleware (authentication) are answered outside the request
        # middleware that echoes the id, so the problem carries the header itself.
        headers = {**(headers or {}), "X-Request-ID": request_id}
    if errors:
        body["errors"] = errors
    return Response(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def _wants_page(request: Request[Any, Any, Any]) -> bool:
    """A browser navigating to a page (JSON stays the answer for the API and for clients
    that ask for it)."""
    path = request.scope["path"]
    if path.startswith(("/api/", "/schema", "/static/")):
        return False
    return "text/html" in request.headers.get("accept", "")


def _page(
    request: Request[Any, Any, Any],
    status: int,
    title: str,
    detail: str,
    headers: dict[str, str] | None,
) -> Response[Any]:
    request_id = request.scope.get("state", {}).get("request_id")
    if request_id:
        headers = {**(headers or {}), "X-Request-ID": request_id}
    return Template(
        "error.html",
        context={"title": title, "detail": detail, "request_id": request_id, "principal": None},
        status_code=status,
        headers=headers,
    )


def status_of(exc: BaseException) -> int:
    """The status the handlers answer an exception with (``response_status`` when an error's
    handler answers with something other than its HTTP status, e.g. a login redirect)."""
    answered = getattr(exc, "response_status", None)
    if isinstance(answered, int):
        return answered
    if isinstance(exc, DomainError):
        return KIND_STATUS[exc.kind]
    if isinstance(exc, HTTPException):
        return exc.status_code
    return HTTP_500_INTERNAL_SERVER_ERROR


def _field_errors(extra: Any) -> list[dict[str, Any]]:
    """Litestar/msgspec validation messages → ``[{field, message}]`` naming the real field."""
    out: list[dict[str, Any]] = []
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        message = str(item.get("message", "invalid value"))
        field = str(item.get("key") or "")
        for pattern in (_UNKNOWN_FIELD, _MISSING_FIELD, _NAMED_FIELD):
            match = pattern.search(message)
            if match:
                field = f"{field}.{match.group(1)}" if field and field != "data" else match.group(1)
        field = field.removeprefix("data.") if field != "data" else "body"
        entry: dict[str, Any] = {"field": field or "body", "message": message}
        if item.get("source"):
            entry["source"] = str(item["source"])
        out.append(entry)
    return out


def domain_error_handler(request: Request[Any, Any, Any], exc: DomainError) -> Response[Any]:
    """Domain errors: status from the error's kind."""
    status = KIND_STATUS[exc.kind]
    errors = [
        {"field": e.field, "message": e.message, **({"line": e.line} if e.line else {})}
        for e in exc.errors
    ]
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    retry_after = getattr(exc, "retry_after", None)
    if retry_after is not None:
        headers = {"Retry-After": str(retry_after)}
    slug = re.sub(r"(?<!^)(?=[A-Z])", "-", type(exc).__name__).lower()
    return problem(
        request, status, exc.detail, title=exc.title, slug=slug, errors=errors, headers=headers
    )


def validation_handler(request: Request[Any, Any, Any], exc: ValidationException) -> Response[Any]:
    """Request validation failures are 422 and name each field."""
    errors = _field_errors(exc.extra)
    detail = "; ".join(f"{e['field']}: {e['message']}" for e in errors) or str(exc.detail)
    return problem(request, HTTP_422_UNPROCESSABLE_ENTITY, detail, errors=errors, slug="validation")


def http_error_handler(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    """Framework HTTP errors (401, 403, 404, 405, 413, …) as problems."""
    status = exc.status_code
    detail = str(exc.detail) if exc.detail else STATUS_TITLES.get(status, "Error")
    headers = dict(exc.headers or {})
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    if status == 413:
        detail = "the request body is larger than this server accepts"
    return problem(request, status, detail, headers=headers or None)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Anything unexpected: log it with the request id, tell the client only that it happened."""
    log.exception(
        "unhandled error",
        extra={"request_id": request.scope.get("state", {}).get("request_id")},
    )
    return problem(
        request,
        HTTP_500_INTERNAL_SERVER_ERROR,
        "an unexpected error occurred; quote the request_id when reporting it",
    )


EXCEPTION_HANDLERS: dict[Any, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "problem", "status_of"]
