"""Authentication (API keys for /api, session cookies for pages) and roles.

The API accepts only ``Authorization: Bearer <key>``; pages accept only the session
cookie. Keeping the two apart is what lets CSRF protection skip /api safely: a browser's
ambient cookie never authenticates an API call.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException, PermissionDeniedException
from litestar.middleware import AbstractAuthenticationMiddleware, AuthenticationResult

from core.errors import InvalidCredentials
from core.identity import ROLES, Principal, authenticate_api_key, principal_for_user

SESSION_USER = "uid"
SESSION_VERSION = "sv"  # the user's session version when the session was opened
# Anchored: the auth middleware skips these, so a role declared on a route they matched
# would never be checked (a test keeps every role-declaring route outside them).
PUBLIC_PATHS = [
    "^/healthz$",
    "^/readyz$",
    "^/metrics$",
    "^/schema(/|$)",
    "^/static/",
    "^/favicon\\.ico$",
    "^/webhooks/",  # verified by the provider's signature instead
    "^/unsubscribe/",  # the signed token in the path is the credential
    "^/c/",  # the customer's own page: its signed token is the credential
]
# Public pages whose forms still carry the CSRF token (a browser holds the link).
CSRF_CHECKED = ["^/c/"]
LOGIN_PATHS = ["^/login$", "^/logout$"]


class LoginRequired(NotAuthorizedException):
    """A page needs a logged-in user; answered with a redirect to /login."""

    response_status = 303  # what the client gets (see api.app), for logs and metrics


class AuthMiddleware(AbstractAuthenticationMiddleware):
    """Resolve the caller to a :class:`Principal` (or None on pages) and enforce the role the
    route asks for with ``opt=requires(role)``.

    Roles are checked here rather than by route guards: Litestar copies the route handler
    for every guard call, which cost a twentieth of a small request.
    """

    async def authenticate_request(
        self, connection: ASGIConnection[Any, Any, Any, Any]
    ) -> AuthenticationResult:
        scope = connection.scope
        role = scope["route_handler"].opt.get(ROLE_OPT)
        if scope["path"].startswith("/api/"):
            principal = await self._api_principal(scope)
            if role is not None and not principal.has_role(role):
                raise _wrong_role(role, principal)
            return AuthenticationResult(user=principal, auth="api_key")
        found = scope.get("session")
        session: dict[str, Any] = found if isinstance(found, dict) else {}
        user_id = session.get(SESSION_USER)
        page_principal: Principal | None = None
        if user_id:
            try:
                version = int(session.get(SESSION_VERSION, 0))
                page_principal = await principal_for_user(UUID(str(user_id)), version)
            except (ValueError, TypeError):
                page_principal = None
        if role is not None:
            if page_principal is None:
                raise LoginRequired("please log in")
            if not page_principal.has_role(role):
                raise _wrong_role(role, page_principal)
        return AuthenticationResult(user=page_principal, auth="session" if page_principal else None)

    @staticmethod
    async def _api_principal(scope: Any) -> Principal:
        header = ""
        for name, value in scope["headers"]:
            if name == b"authorization":
                header = value.decode("latin-1")
                break
        scheme, _, token = header.partition(" ")
        if not header:
            raise NotAuthorizedException(
                "missing credentials: send Authorization: Bearer <API key>"
            )
        if scheme.lower() != "bearer" or not token.strip():
            raise NotAuthorizedException("use Authorization: Bearer <API key>")
        try:
            return await authenticate_api_key(token.strip())
        except InvalidCredentials as exc:
            raise NotAuthorizedException(str(exc)) from None


def _wrong_role(role: str, principal: Principal) -> PermissionDeniedException:
    return PermissionDeniedException(
        f"this needs the {role} role or higher; your role is {principal.role}"
    )


ROLE_OPT = "slipguard_role"


def requires(role: str) -> dict[str, str]:
    """Route options (``opt=requires("manager")``): the caller's role must be at least
    ``role`` (staff < manager < admin); pages without a login redirect to /login."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    return {ROLE_OPT: role}


def principal_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Principal:
    """The authenticated principal of a route that declares a role."""
    principal = connection.scope.get("user")
    if not isinstance(principal, Principal):
        raise NotAuthorizedException("missing credentials")
    return principal
