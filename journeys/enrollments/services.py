"""Enrollments: enroll a customer on a journey's current version, cancel, read; steps:
read and complete."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from core import clock
from core.db import write_transaction
from core.errors import FieldError
from core.pagination import keyset, page
from core.tenancy import Tenant
from journeys import hooks
from journeys.enrollments.planning import (
    DUE_AT,
    OPEN,
    Planned,
    horizon,
    horizon_after,
    plan,
    step_facts,
    write,
)
from journeys.errors import (
    CustomerNotFound,
    EnrollmentInvalid,
    EnrollmentNotFound,
    StepClosed,
    StepNotFound,
)
from journeys.schedule import last_due
from journeys.services import current_definition, parse_anchors, parse_timezone
from journeys.tables import Customer, Enrollment, Step

_random = secrets.SystemRandom()


@dataclass(frozen=True)
class Enrolled:
    """The result of an enrollment."""

    enrollment: Enrollment
    steps_created: int
    past_steps_skipped: int
    past_steps_backfilled: int
    nudges_planned: int  # messages that will be sent (none for a holdout enrollment)
    past_nudges_skipped: int
    nudges_held_out: int = 0  # a holdout's messages, recorded as suppressed and never sent


async def enroll(
    tenant: Tenant,
    customer_id: UUID,
    journey_key: str,
    anchors_in: dict[str, str],
    holdout: bool | None = None,
    backfill: bool = False,
    now: datetime | None = None,
) -> Enrolled:
    """Enroll a customer on a journey's current version and write the first horizon of steps
    with their messages.

    Steps due before now are skipped (and counted) unless ``backfill`` is set; backfilled
    steps are created pending and become missed once their grace has passed.
    """
    now = now or clock.now()
    customer = await tenant.get(Customer, customer_id, CustomerNotFound, "customer")
    if customer.erased_at is not None:
        raise EnrollmentInvalid(
            "customer was erased", [FieldError("customer_id", "this customer's data was erased")]
        )
    journey, version, definition = await current_definition(tenant, journey_key)
    anchors = parse_anchors(definition, anchors_in, now)
    tz = parse_timezone(customer.timezone, "customer.timezone")
    if holdout is None:
        holdout = definition.holdout > 0 and _random.random() < definition.holdout
    end = now + horizon()
    enrollment = tenant.new(
        Enrollment,
        customer=customer.id,
        journey=journey.id,
        journey_version=version.id,
        anchors=json.dumps({k: v.isoformat() for k, v in anchors.items()}),
        timezone=customer.timezone,
        holdout=holdout,
        backfill=backfill,
        ends_at=last_due(definition, anchors, tz),
    )
    ids = (enrollment.organization, enrollment.id, enrollment.customer)
    planned = Planned()
    upcoming = plan(
        planned, ids, definition, step_facts(definition), (None, end), anchors, tz,
        holdout, now, due_from=None if backfill else now,
    )  # fmt: skip
    enrollment.materialised_until = horizon_after(end, upcoming, enrollment.ends_at)
    # Every step already due was walked (its plan_at is before ``end``): skipped, or kept.
    past = sum(s[DUE_AT] < now for s in planned.steps) if backfill else planned.steps_skipped
    async with write_transaction():
        await enrollment.save()
        await write(planned, exclusive=False)
    return Enrolled(
        enrollment,
        steps_created=len(planned.steps),
        past_steps_skipped=0 if backfill else past,
        past_steps_backfilled=past if backfill else 0,
        nudges_planned=0 if holdout else len(planned.nudges),
        past_nudges_skipped=planned.nudges_skipped,
        nudges_held_out=len(planned.nudges) if holdout else 0,
    )


async def get_enrollment(tenant: Tenant, enrollment_id: UUID) -> Enrollment:
    """One enrollment of this organisation."""
    return await tenant.get(Enrollment, enrollment_id, EnrollmentNotFound, "enrollment")


async def cancel_enrollment(
    tenant: Tenant, enrollment_id: UUID, now: datetime | None = None
) -> Enrollment:
    """Stop an enrollment: its pending steps and the messages not yet sent are cancelled
    (idempotent)."""
    now = now or clock.now()
    async with write_transaction():
        enrollment = await get_enrollment(tenant, enrollment_id)
        if enrollment.status != "cancelled":
            await tenant.update(
                Enrollment, {Enrollment.status: "cancelled", Enrollment.cancelled_at: now}
            ).where(Enrollment.id == enrollment_id)
            await tenant.update(Step, {Step.status: "cancelled"}).where(
                (Step.enrollment == enrollment_id) & (Step.status == OPEN)
            )
            await hooks.companion().enrollments_stopped(
                tenant, [enrollment_id], "enrollment_cancelled", now
            )
            enrollment.status, enrollment.cancelled_at = "cancelled", now
    return enrollment


async def steps_of(tenant: Tenant, enrollment_id: UUID) -> list[Step]:
    """An enrollment's materialised steps in due order."""
    await get_enrollment(tenant, enrollment_id)
    return await tenant.objects(Step).where(Step.enrollment == enrollment_id).order_by(Step.due_at)


async def get_step(tenant: Tenant, step_id: UUID) -> Step:
    """One step of this organisation."""
    return await tenant.get(Step, step_id, StepNotFound, "step")


async def complete_step(
    tenant: Tenant, step_id: UUID, via: str, now: datetime | None = None
) -> Step:
    """Mark a step done (also late, after it was missed); its ``unless: confirmed`` messages
    are suppressed. Completing twice changes nothing."""
    now = now or clock.now()
    async with write_transaction():
        step = await get_step(tenant, step_id)
        if step.status in ("cancelled", "excused"):
            raise StepClosed(f"step {step_id} is {step.status} and cannot be completed")
        if step.status != "done":
            await tenant.update(
                Step, {Step.status: "done", Step.completed_at: now, Step.completed_via: via}
            ).where((Step.id == step_id) & (Step.status.is_in([OPEN, "missed"])))
            await hooks.companion().step_completed(tenant, step_id, now)
            step.status, step.completed_at, step.completed_via = "done", now, via
    return step


async def labels(tenant: Tenant, enrollments: list[Enrollment]) -> dict[UUID, tuple[str, int]]:
    """Journey key and pinned version number per enrollment id (one query)."""
    if not enrollments:
        return {}
    rows = await tenant.select(
        Enrollment,
        Enrollment.id,
        Enrollment.journey.key.as_alias("journey_key"),
        Enrollment.journey_version.version.as_alias("version"),
    ).where(Enrollment.id.is_in([e.id for e in enrollments]))
    return {row["id"]: (row["journey_key"], row["version"]) for row in rows}


async def list_enrollments(
    tenant: Tenant,
    customer_id: UUID | None = None,
    journey_key: str | None = None,
    status: str | None = None,
    cursor: str | None = None,
    limit: int = 50,
) -> tuple[list[Enrollment], str | None]:
    """Enrollments, oldest first, filtered; returns the page and the next cursor."""
    query = tenant.objects(Enrollment)
    if customer_id is not None:
        query = query.where(Enrollment.customer == customer_id)
    if journey_key is not None:
        query = query.where(Enrollment.journey.key == journey_key)
    if status is not None:
        query = query.where(Enrollment.status == status)
    rows = await keyset(query, Enrollment, cursor, limit)
    return page(rows, limit)
