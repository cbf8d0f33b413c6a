"""Authentication (API keys for /api, session cookies for pages) and role guards.

The API accepts only ``Authorization: Bearer <key>``; pages accept only the session
cookie. Keeping the two apart is what lets CSRF protection skip /api safely: a browser's
ambient cookie never authenticates an API call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.handlers.base import BaseRouteHandler
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from api.errors import InvalidCredentials
from api.services import ROLES, Principal, authenticate_api_key, principal_for_user

SESSION_USER = "uid"
PUBLIC_PATHS = [
    "^/healthz",
    "^/readyz",
    "^/metrics",
    "^/schema",
    "^/static/",
    "^/favicon.ico",
]


class LoginRequired(NotAuthorizedException):
    """A page needs a logged-in user; answered with a redirect to /login."""


class AuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the caller to a :class:`Principal` (or None on pages)."""

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        if connection.scope["path"].startswith("/api/"):
            header = connection.headers.get("authorization", "")
            scheme, _, token = header.partition(" ")
            if not header:
                raise NotAuthorizedException(
                    "missing credentials: send Authorization: Bearer <API key>"
                )
            if scheme.lower() != "bearer" or not token.strip():
                raise NotAuthorizedException("use Authorization: Bearer <API key>")
            try:
                principal = await authenticate_api_key(token.strip())
            except InvalidCredentials as exc:
                raise NotAuthorizedException(str(exc)) from None
            return AuthenticationResult(user=principal, auth="api_key")
        session = connection.scope.get("session") or {}
        user_id = session.get(SESSION_USER) if isinstance(session, dict) else None
        page_principal: Principal | None = None
        if user_id:
            try:
                page_principal = await principal_for_user(UUID(str(user_id)))
            except ValueError:
                page_principal = None
        return AuthenticationResult(user=page_principal, auth="session" if page_principal else None)


def requires(
    role: str,
) -> Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]:
    """Guard: the caller's role must be at least ``role`` (staff < manager < admin)."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")

    # An async guard: Litestar runs sync guards in a thread pool on every request.
    async def guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        principal = connection.scope.get("user")
        if not isinstance(principal, Principal):
            if connection.scope["path"].startswith("/api/"):
                raise NotAuthorizedException("missing credentials")
            raise LoginRequired("please log in")
        if not principal.has_role(role):
            raise PermissionDeniedException(
                f"this needs the {role} role or higher; your role is {principal.role}"
            )

    guard.__name__ = f"requires_{role}"
    return guard


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated principal of a guarded route."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise NotAuthorizedException("missing credentials")
    return principal
