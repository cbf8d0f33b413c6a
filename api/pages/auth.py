"""Login, logout and the signed-in home page."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.params import FromQuery, URLEncodedBody
from litestar.response import Redirect, Template

from api.auth import SESSION_USER, SESSION_VERSION, principal_of, requires
from core import identity as services
from core.errors import (
    IdentityError,
    InvalidCredentials,
    OrganizationNeeded,
    TooManyAttempts,
)

AnyRequest = Request[Any, Any, Any]
DASHBOARDS = "/dashboards"


def safe_next(target: str | None) -> str:
    """Only same-site relative paths may follow a login (no open redirects)."""
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return "/"


class AuthPages(Controller):
    """Session login for the pages."""

    include_in_schema = False

    @get("/login")
    async def login_form(self, request: AnyRequest, next: FromQuery[str] = "/") -> Template:
        """The login form."""
        return Template(
            "login.html",
            context={"next": safe_next(next), "email": "", "error": None, "ask_org": False},
        )

    @post("/login")
    async def login(
        self,
        request: AnyRequest,
        data: URLEncodedBody[dict[str, str]],
    ) -> Response[Any]:
        """Check the password and start a session; the same message for any mismatch."""
        email = data.get("email", "").strip()
        client = request.client.host if request.client else ""
        try:
            principal = await services.authenticate_password(
                email, data.get("password", ""), client, data.get("organization", "")
            )
        except TooManyAttempts as exc:
            return Template(
                "login.html",
                context={
                    "next": safe_next(data.get("next")),
                    "email": email,
                    "error": exc.detail[:1].upper() + exc.detail[1:] + ".",
                    "ask_org": bool(data.get("organization")),
                },
                status_code=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        except InvalidCredentials as exc:
            several = isinstance(exc, OrganizationNeeded)
            return Template(
                "login.html",
                context={
                    "next": safe_next(data.get("next")),
                    "email": email,
                    "error": (
                        "You work for more than one organisation: enter the one to open."
                        if several
                        else "Wrong email or password."
                    ),
                    "ask_org": several or bool(data.get("organization")),
                },
                status_code=401,
            )
        request.set_session(
            {SESSION_USER: str(principal.user_id), SESSION_VERSION: principal.session_version}
        )
        target = safe_next(data.get("next"))
        if target == "/" and principal.has_role("manager"):
            target = DASHBOARDS  # managers start where the rankings are
        return Redirect(target, status_code=303)

    @post("/logout", status_code=303)
    async def logout(self, request: AnyRequest) -> Redirect:
        """End the session, and every other session of the user: a copy of the cookie taken
        before logging out no longer logs in."""
        # /logout is outside the auth middleware (it must work with any cookie): read the
        # session here, and end the user's sessions only if this one is still valid.
        session = request.session if isinstance(request.session, dict) else {}
        try:
            valid = await services.principal_for_user(
                UUID(str(session.get(SESSION_USER))), int(session.get(SESSION_VERSION, 0))
            )
        except (ValueError, TypeError):
            valid = None
        if valid is not None and valid.user_id is not None:
            await services.end_sessions(valid.user_id)
        request.clear_session()
        return Redirect("/login", status_code=303)

    @get("/", opt=requires("staff"))
    async def home(self, request: AnyRequest) -> Template:
        """Landing page after login."""
        principal = principal_of(request)
        org = await services.organization_by_id(principal.org_id)
        return Template("home.html", context={"principal": principal, "organization": org})


class AccountPages(Controller):
    """``/account``: the signed-in user's own account."""

    path = "/account"
    include_in_schema = False
    opt = requires("staff")

    @get("/password")
    async def password_form(self, request: AnyRequest, done: FromQuery[bool] = False) -> Template:
        """The form to change one's password."""
        return _password_page(request, [], done=done)

    @post("/password")
    async def change_password(
        self, request: AnyRequest, data: URLEncodedBody[dict[str, str]]
    ) -> Response[Any]:
        """Check the current password, set the new one and end every other session; this
        session carries on with the new session version."""
        principal = principal_of(request)
        assert principal.user_id is not None  # pages are only ever a user's
        client = request.client.host if request.client else ""
        try:
            changed = await services.change_password(
                principal.user_id,
                data.get("current_password", ""),
                data.get("new_password", ""),
                data.get("confirm_password", ""),
                client,
            )
        except TooManyAttempts as exc:
            return _password_page(
                request,
                [exc.detail[:1].upper() + exc.detail[1:] + "."],
                status=429,
                headers={"Retry-After": str(exc.retry_after)},
            )
        except IdentityError as exc:
            messages = [f"{_LABELS.get(e.field, e.field)}: {e.message}." for e in exc.errors]
            return _password_page(request, messages or [exc.detail], status=422)
        request.set_session(
            {SESSION_USER: str(changed.user_id), SESSION_VERSION: changed.session_version}
        )
        return Redirect("/account/password?done=true", status_code=303)


_LABELS = {
    "current_password": "Current password",
    "new_password": "New password",
    "confirm_password": "New password again",
}


def _password_page(
    request: AnyRequest,
    errors: list[str],
    *,
    done: bool = False,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Template:
    return Template(
        "password.html",
        context={
            "principal": principal_of(request),
            "errors": errors,
            "done": done,
            "min_length": services.MIN_PASSWORD_LENGTH,
        },
        status_code=status,
        headers=headers,
    )
