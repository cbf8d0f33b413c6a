"""A customer's page for staff: who they are, and every message, step and slip of theirs,
the latest first ("did she get the reminder?" answered without the API)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get
from litestar.params import FromPath
from litestar.response import Template

from api.auth import principal_of, requires
from coaching import history, tasks
from journeys.customers import records

AnyRequest = Request[Any, Any, Any]
MESSAGES = 50
RECENT = 20


class CustomerPages(Controller):
    """``/staff/customers/{customer_id}``."""

    path = "/staff/customers"
    opt = requires("staff")
    include_in_schema = False

    @get("/{customer_id:uuid}")
    async def show(self, request: AnyRequest, customer_id: FromPath[UUID]) -> Template:
        """The customer, their messages (text as sent, status, why held or suppressed) and
        their recent steps and slips; another organisation's customer is not found."""
        p = principal_of(request)
        customer = await records.get_customer(p.tenant, customer_id)
        return Template(
            "customer.html",
            context={
                "principal": p,
                "customer": customer,
                "messages": await history.customer_messages(p.tenant, customer_id, MESSAGES),
                "recent": await tasks.customer_history(p.tenant, customer_id, RECENT),
            },
        )
