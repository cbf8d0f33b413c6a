"""Customers API: profiles, consent, access export and erasure."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import principal_of, requires
from api.openapi import may_answer
from coaching import privacy
from coaching.schemas import ErasureOut
from core import audit
from core.pagination import DEFAULT_LIMIT
from core.schemas import Page
from journeys.customers import consent
from journeys.customers import records as customers
from journeys.customers.schemas import (
    ConsentIn,
    ConsentOut,
    CustomerDetailOut,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
)

AnyRequest = Request[Any, Any, Any]


async def _detail(request: AnyRequest, customer_id: UUID) -> CustomerDetailOut:
    tenant = principal_of(request).tenant
    customer = await customers.get_customer(tenant, customer_id)
    return CustomerDetailOut.with_consent(
        customer, await consent.current_consent(tenant, customer_id)
    )


class CustomerController(Controller):
    """``/api/v1/customers``: the people who co-produce the service, and their consent."""

    path = "/api/v1/customers"
    tags = ["customers"]

    @post("/", opt=requires("staff") | may_answer(409))
    async def create_customer(
        self, request: AnyRequest, data: JSONBody[CustomerIn]
    ) -> CustomerDetailOut:
        """Create a customer, optionally with the consent they gave; every bad field is listed."""
        customer = await customers.create_customer(principal_of(request).tenant, data)
        return await _detail(request, customer.id)

    @get("/", opt=requires("staff"))
    async def list_customers(
        self,
        request: AnyRequest,
        q: FromQuery[str | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
    ) -> Page[CustomerOut]:
        """Customers, oldest first; ``q`` searches names, external_ref and phone."""
        rows, next_cursor = await customers.list_customers(
            principal_of(request).tenant, q=q, cursor=cursor, limit=limit
        )
        return Page(items=[CustomerOut.of(c) for c in rows], next_cursor=next_cursor)

    @get("/{customer_id:uuid}", opt=requires("staff"))
    async def get_customer(
        self, request: AnyRequest, customer_id: FromPath[UUID]
    ) -> CustomerDetailOut:
        """One customer with their current consent per channel and purpose."""
        return await _detail(request, customer_id)

    @patch("/{customer_id:uuid}", opt=requires("staff") | may_answer(409))
    async def update_customer(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[CustomerPatch]
    ) -> CustomerDetailOut:
        """Change the given fields only; null clears an optional one. Erased customers: 409."""
        await customers.update_customer(principal_of(request).tenant, customer_id, data)
        return await _detail(request, customer_id)

    @post("/{customer_id:uuid}/consents", opt=requires("staff") | may_answer(409))
    async def add_consent(
        self, request: AnyRequest, customer_id: FromPath[UUID], data: JSONBody[ConsentIn]
    ) -> ConsentOut:
        """Record a consent decision; history is append-only and the latest record counts."""
        record = await consent.add_consent(principal_of(request).tenant, customer_id, data)
        return ConsentOut.of(record)

    @get("/{customer_id:uuid}/consents", opt=requires("staff"))
    async def consent_history(
        self, request: AnyRequest, customer_id: FromPath[UUID]
    ) -> Page[ConsentOut]:
        """Every consent record of the customer, oldest first."""
        records = await consent.consent_history(principal_of(request).tenant, customer_id)
        return Page(items=[ConsentOut.of(r) for r in records])

    @get("/{customer_id:uuid}/export", opt=requires("manager"))
    async def export_customer(
        self, request: AnyRequest, customer_id: FromPath[UUID]
    ) -> dict[str, Any]:
        """Everything held about the customer as JSON (GDPR access and portability)."""
        p = principal_of(request)
        return await privacy.export_customer(
            p.tenant, customer_id, audit.actor_of(p.user_id, p.api_key_id)
        )

    @post("/{customer_id:uuid}/erase", opt=requires("admin"), status_code=200)
    async def erase_customer(self, request: AnyRequest, customer_id: FromPath[UUID]) -> ErasureOut:
        """Erase personal data and cancel planned steps; consent proof is kept. Idempotent."""
        p = principal_of(request)
        return ErasureOut.of(
            await privacy.erase_customer(
                p.tenant, customer_id, audit.actor_of(p.user_id, p.api_key_id)
            )
        )
