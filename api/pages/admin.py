"""``/admin/keys``: an admin lists, creates and revokes the organisation's API keys in the
browser (the secret of a new key is shown once, on the page that created it)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, URLEncodedBody
from litestar.response import Redirect, Response, Template

from api.auth import principal_of, requires
from core import identity as services
from core.errors import DomainError, IdentityError

AnyRequest = Request[Any, Any, Any]


async def _page(
    request: AnyRequest,
    *,
    created: tuple[Any, str] | None = None,
    errors: list[str] | None = None,
    revoked: bool = False,
    status: int = 200,
) -> Template:
    p = principal_of(request)
    keys = await services.list_api_keys(p.tenant)
    return Template(
        "keys.html",
        context={
            "principal": p,
            "keys": sorted(keys, key=lambda k: (k.revoked_at is not None, k.created_at)),
            "roles": list(services.ROLES),
            "created": created,
            "errors": errors or [],
            "revoked": revoked,
        },
        status_code=status,
        headers={"Cache-Control": "no-store"},  # the page may show a new key's secret
    )


class AdminPages(Controller):
    """The admin's pages."""

    path = "/admin"
    include_in_schema = False
    opt = requires("admin")

    @get("/keys")
    async def keys(self, request: AnyRequest, revoked: FromQuery[bool] = False) -> Template:
        """Every key: name, role, when made and last used, revoked or not."""
        return await _page(request, revoked=revoked)

    @post("/keys")
    async def create_key(
        self, request: AnyRequest, data: URLEncodedBody[dict[str, str]]
    ) -> Template:
        """Create a key and show its secret this once."""
        p = principal_of(request)
        name = (data.get("name") or "").replace("\x00", "")
        role = data.get("role") or ""
        try:
            made = await services.create_api_key(p.tenant, name, role, p.user_id)
        except IdentityError as exc:
            messages = [f"{e.field.capitalize()}: {e.message}." for e in exc.errors]
            return await _page(request, errors=messages or [exc.detail], status=422)
        return await _page(request, created=made, status=201)

    @post("/keys/{key_id:uuid}/revoke")
    async def revoke_key(self, request: AnyRequest, key_id: FromPath[UUID]) -> Response[Any]:
        """Revoke a key at once (not the organisation's last admin key)."""
        try:
            await services.revoke_api_key(principal_of(request).tenant, key_id)
        except DomainError as exc:
            if getattr(exc, "kind", "") == "not_found":
                raise
            return await _page(request, errors=[exc.detail[:1].upper() + exc.detail[1:] + "."],
                               status=409)  # fmt: skip
        return Redirect("/admin/keys?revoked=true", status_code=303)
