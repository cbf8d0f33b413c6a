"""Enrollments and steps API."""

from __future__ import annotations

from typing import Any, Literal
from uuid import UUID

from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from api.auth import principal_of, requires
from api.openapi import may_answer
from coaching import outbox
from coaching.schemas import EnrollmentDetail, NudgeOut
from core.schemas import Page
from journeys.enrollments import services as enrollments
from journeys.schemas import (
    CompleteIn,
    EnrollmentCreated,
    EnrollmentIn,
    EnrollmentOut,
    StepOut,
)
from journeys.tables import Enrollment

AnyRequest = Request[Any, Any, Any]


async def _out(request: AnyRequest, items: list[Enrollment]) -> list[EnrollmentOut]:
    names = await enrollments.labels(principal_of(request).tenant, items)
    return [EnrollmentOut.of(e, *names[e.id]) for e in items]


class EnrollmentController(Controller):
    """``/api/v1/enrollments`` and ``/api/v1/steps``."""

    path = "/api/v1"
    tags = ["enrollments"]

    @post("/enrollments", opt=requires("staff") | may_answer(404, 409))
    async def create(self, request: AnyRequest, data: JSONBody[EnrollmentIn]) -> EnrollmentCreated:
        """Enroll a customer on a journey's current version."""
        result = await enrollments.enroll(
            principal_of(request).tenant,
            data.customer_id,
            data.journey,
            data.anchors,
            holdout=data.holdout,
            backfill=data.backfill,
        )
        (out,) = await _out(request, [result.enrollment])
        return EnrollmentCreated(
            out,
            result.steps_created,
            result.past_steps_skipped,
            result.past_steps_backfilled,
            result.nudges_planned,
            result.past_nudges_skipped,
            result.nudges_held_out,
        )

    @get("/enrollments", opt=requires("staff"))
    async def index(
        self,
        request: AnyRequest,
        customer_id: FromQuery[UUID | None] = None,
        journey: FromQuery[str | None] = None,
        status: FromQuery[Literal["active", "completed", "cancelled"] | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int] = 50,
    ) -> Page[EnrollmentOut]:
        """Enrollments, filtered, with cursor pagination."""
        items, next_cursor = await enrollments.list_enrollments(
            principal_of(request).tenant, customer_id, journey, status, cursor, limit
        )
        return Page(items=await _out(request, items), next_cursor=next_cursor)

    @get("/enrollments/{enrollment_id:uuid}", opt=requires("staff"))
    async def detail(self, request: AnyRequest, enrollment_id: FromPath[UUID]) -> EnrollmentDetail:
        """An enrollment with its materialised steps and their messages."""
        tenant = principal_of(request).tenant
        enrollment = await enrollments.get_enrollment(tenant, enrollment_id)
        steps = await enrollments.steps_of(tenant, enrollment_id)
        planned = await outbox.nudges_of(tenant, [enrollment_id])
        (out,) = await _out(request, [enrollment])
        return EnrollmentDetail(
            out, [StepOut.of(s) for s in steps], [NudgeOut.of(n) for n in planned]
        )

    @post("/enrollments/{enrollment_id:uuid}/cancel", opt=requires("staff"), status_code=200)
    async def cancel(self, request: AnyRequest, enrollment_id: FromPath[UUID]) -> EnrollmentOut:
        """Cancel an enrollment, its pending steps and its messages not yet sent."""
        enrollment = await enrollments.cancel_enrollment(
            principal_of(request).tenant, enrollment_id
        )
        (out,) = await _out(request, [enrollment])
        return out

    @get("/steps/{step_id:uuid}", opt=requires("staff"))
    async def step(self, request: AnyRequest, step_id: FromPath[UUID]) -> StepOut:
        """One step."""
        return StepOut.of(await enrollments.get_step(principal_of(request).tenant, step_id))

    @post(
        "/steps/{step_id:uuid}/complete", opt=requires("staff") | may_answer(409), status_code=200
    )
    async def complete(
        self, request: AnyRequest, step_id: FromPath[UUID], data: JSONBody[CompleteIn]
    ) -> StepOut:
        """Confirm a step (late confirmations of missed steps count too)."""
        step = await enrollments.complete_step(principal_of(request).tenant, step_id, data.via)
        return StepOut.of(step)
