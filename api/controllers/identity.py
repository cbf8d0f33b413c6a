"""Identity API: who am I, API keys and staff users of the caller's organisation."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, JSONBody

from api.auth import principal_of, requires
from api.openapi import may_answer
from api.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    MeOut,
    OrganizationOut,
    OrganizationPatch,
    UserIn,
    UserOut,
)
from core import identity as services
from core.schemas import Page

AnyRequest = Request[Any, Any, Any]


class IdentityController(Controller):
    """``/api/v1``: me, organization, api-keys, users."""

    path = "/api/v1"
    tags = ["identity"]

    @get("/me", opt=requires("staff"))
    async def me(self, request: AnyRequest) -> MeOut:
        """The caller: organisation, role and credential."""
        p = principal_of(request)
        org = await services.organization_by_id(p.org_id)
        return MeOut(
            organization=OrganizationOut.of(org),
            role=p.role,
            kind="api_key" if p.api_key_id else "user",
            name=p.name,
            user_id=p.user_id,
            api_key_id=p.api_key_id,
        )

    @get("/organization", opt=requires("staff"))
    async def organization(self, request: AnyRequest) -> OrganizationOut:
        """The caller's organisation."""
        return OrganizationOut.of(await services.organization_by_id(principal_of(request).org_id))

    @patch("/organization", opt=requires("admin"))
    async def update_organization(
        self, request: AnyRequest, data: JSONBody[OrganizationPatch]
    ) -> OrganizationOut:
        """Change the organisation's name, SMS sender, contact details and the service
        standard for staff tasks (``task_due_hours``, ``task_target_percent``)."""
        org = await services.update_organization(principal_of(request).org_id, data.changes())
        return OrganizationOut.of(org)

    @get("/api-keys", opt=requires("admin"))
    async def list_keys(self, request: AnyRequest) -> Page[ApiKeyOut]:
        """All API keys of the organisation (secrets are never returned)."""
        keys = await services.list_api_keys(principal_of(request).tenant)
        return Page(items=[ApiKeyOut.of(k) for k in keys])

    @post("/api-keys", opt=requires("admin"))
    async def create_key(self, request: AnyRequest, data: JSONBody[ApiKeyIn]) -> ApiKeyCreated:
        """Create a key; the response is the only time the secret is shown."""
        p = principal_of(request)
        key, token = await services.create_api_key(p.tenant, data.name, data.role, p.user_id)
        out = ApiKeyOut.of(key)
        return ApiKeyCreated(**{f: getattr(out, f) for f in out.__struct_fields__}, key=token)

    @get("/api-keys/{key_id:uuid}", opt=requires("admin"))
    async def get_key(self, request: AnyRequest, key_id: FromPath[UUID]) -> ApiKeyOut:
        """One API key."""
        return ApiKeyOut.of(await services.get_api_key(principal_of(request).tenant, key_id))

    @post(
        "/api-keys/{key_id:uuid}/revoke",
        opt=requires("admin") | may_answer(409),
        status_code=200,
    )
    async def revoke_key(self, request: AnyRequest, key_id: FromPath[UUID]) -> ApiKeyOut:
        """Revoke a key at once; requests with it get 401 from now on. A key cannot revoke
        itself, nor the organisation's last admin key (409)."""
        p = principal_of(request)
        return ApiKeyOut.of(await services.revoke_api_key(p.tenant, key_id, p.api_key_id))

    @get("/users", opt=requires("manager"))
    async def list_users(self, request: AnyRequest) -> Page[UserOut]:
        """Staff users of the organisation."""
        users = await services.list_users(principal_of(request).tenant)
        return Page(items=[UserOut.of(u) for u in users])

    @post("/users", opt=requires("admin") | may_answer(409))
    async def create_user(self, request: AnyRequest, data: JSONBody[UserIn]) -> UserOut:
        """Create a staff user who can log in to the pages."""
        user = await services.create_user(
            principal_of(request).tenant, data.email, data.role, data.password, data.name
        )
        return UserOut.of(user)

    @post("/users/{user_id:uuid}/deactivate", opt=requires("admin"), status_code=200)
    async def deactivate_user(self, request: AnyRequest, user_id: FromPath[UUID]) -> UserOut:
        """Stop a user logging in and end their sessions at once. API keys belong to the
        organisation and keep working: revoke them separately."""
        return UserOut.of(await services.deactivate_user(principal_of(request).tenant, user_id))

    @get("/users/{user_id:uuid}", opt=requires("manager"))
    async def get_user(self, request: AnyRequest, user_id: FromPath[UUID]) -> UserOut:
        """One staff user."""
        return UserOut.of(await services.get_user(principal_of(request).tenant, user_id))
