"""Slip validation: one item checked against its journey, customer, enrollment and step.

Every problem of an item is collected (each names its field and the valid choices), so a
caller hears about all of them at once; nothing here writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple
from uuid import UUID

from core import clock
from core.errors import FieldError
from core.ids import new_id
from core.tenancy import Tenant
from journeys.definition import Behaviour, FailureMode
from journeys.tables import Customer, Enrollment, Step
from journeys.vocabulary import DEFICITS, ROOT_CAUSES, SLIP_KINDS, SlipSource
from settings import get_settings
from slips.catalogue import Current, choices, current_journeys, journey_choices

Source = SlipSource


class SlipRow(NamedTuple):
    """A slip ready to insert, in table column order (far cheaper than a table object,
    which matters when a batch builds a thousand of them)."""

    id: UUID
    organization: UUID
    journey: UUID
    journey_version: UUID
    behaviour: str
    failure_mode: str | None
    root_cause: str | None
    deficit: str | None
    stage: str
    severity: int
    source: str
    customer: UUID | None
    enrollment: UUID | None
    step: UUID | None
    reporter_user: UUID | None
    reporter_key: UUID | None
    site: str | None
    channel: str | None
    note: str
    occurred_at: datetime
    created_at: datetime
    updated_at: datetime
    idempotency_key: str | None
    kind: str = "error"


@dataclass
class SlipInput:
    """One slip as given by a caller (API item, CSV row, customer reply)."""

    journey: str
    behaviour: str
    failure_mode: str | None = None
    root_cause: str | None = None
    deficit: str | None = None
    customer_id: UUID | None = None
    customer_ref: str | None = None
    enrollment_id: UUID | None = None
    step_id: UUID | None = None
    severity: int | None = None
    site: str | None = None
    channel: str | None = None
    note: str = ""
    occurred_at: datetime | None = None
    key: str | None = None
    kind: str = "error"


@dataclass
class Reporter:
    """Who recorded the slip (a staff user, an API key, or neither for system/customer)."""

    user_id: UUID | None = None
    api_key_id: UUID | None = None


@dataclass
class Context:
    """Everything a batch needs from the database, fetched once."""

    journeys: dict[str, Current]
    journey_keys: list[str]
    customers: dict[UUID, Customer]
    refs: dict[str, Customer]
    steps: dict[UUID, Step]
    enrollments: dict[UUID, Enrollment]


async def load_context(tenant: Tenant, items: list[SlipInput]) -> Context:
    journeys = await current_journeys(tenant, {i.journey for i in items if i.journey})
    keys = await journey_choices(tenant) if len(journeys) < len({i.journey for i in items}) else []
    customer_ids = list({i.customer_id for i in items if i.customer_id})
    refs = list({i.customer_ref for i in items if i.customer_ref})
    step_ids = list({i.step_id for i in items if i.step_id})
    enrollment_ids = list({i.enrollment_id for i in items if i.enrollment_id})
    customers = (
        await tenant.objects(Customer).where(Customer.id.is_in(customer_ids))
        if customer_ids
        else []
    )
    by_ref = await tenant.objects(Customer).where(Customer.external_ref.is_in(refs)) if refs else []
    steps = await tenant.objects(Step).where(Step.id.is_in(step_ids)) if step_ids else []
    enrollments = (
        await tenant.objects(Enrollment).where(Enrollment.id.is_in(enrollment_ids))
        if enrollment_ids
        else []
    )
    return Context(
        journeys,
        keys,
        {c.id: c for c in customers},
        {str(c.external_ref): c for c in by_ref},
        {s.id: s for s in steps},
        {e.id: e for e in enrollments},
    )


def _behaviour(item: SlipInput, ctx: Context, errors: list[FieldError]) -> Behaviour | None:
    """The item's journey and behaviour, or errors naming the valid choices."""
    current = ctx.journeys.get(item.journey)
    if current is None:
        valid = choices(ctx.journey_keys)
        errors.append(FieldError("journey", f"unknown journey {item.journey!r}; valid: {valid}"))
        return None
    behaviour = current.definition.behaviour(item.behaviour)
    if behaviour is None:
        valid = choices(b.key for b in current.definition.behaviours)
        errors.append(
            FieldError(
                "behaviour",
                f"unknown behaviour {item.behaviour!r} of {item.journey!r}; valid: {valid}",
            )
        )
    return behaviour


def _failure_mode(
    item: SlipInput, behaviour: Behaviour | None, errors: list[FieldError]
) -> FailureMode | None:
    if behaviour is None or item.failure_mode is None:
        return None
    mode = next((m for m in behaviour.failure_modes if m.key == item.failure_mode), None)
    if mode is None:
        valid = choices(m.key for m in behaviour.failure_modes)
        errors.append(
            FieldError(
                "failure_mode",
                f"unknown failure mode {item.failure_mode!r} of {item.behaviour!r}; valid: {valid}",
            )
        )
    return mode


def _causes(
    item: SlipInput, mode: FailureMode | None, errors: list[FieldError]
) -> tuple[str | None, str | None]:
    """Root cause and deficit: as given, else the failure mode's."""
    root_cause = item.root_cause or (mode.root_cause if mode else None)
    deficit = item.deficit or (mode.deficit if mode else None)
    if root_cause is not None and root_cause not in ROOT_CAUSES:
        errors.append(
            FieldError(
                "root_cause", f"unknown root cause {root_cause!r}; valid: {choices(ROOT_CAUSES)}"
            )
        )
    if deficit is not None and deficit not in DEFICITS:
        errors.append(
            FieldError("deficit", f"unknown deficit {deficit!r}; valid: {choices(DEFICITS)}")
        )
    return root_cause, deficit


def _occurred(item: SlipInput, now: datetime, errors: list[FieldError]) -> datetime:
    """When it happened: now by default, never in the future or older than the limit."""
    intake = get_settings().intake
    occurred = item.occurred_at or now
    if occurred.tzinfo is None:
        errors.append(FieldError("occurred_at", "needs a UTC offset (e.g. +00:00 or Z)"))
    elif occurred > now + timedelta(seconds=intake.clock_skew_seconds):
        errors.append(FieldError("occurred_at", "is in the future"))
    elif occurred < now - timedelta(days=intake.max_age_days):
        errors.append(FieldError("occurred_at", f"is more than {intake.max_age_days} days ago"))
    return occurred


def _links(
    item: SlipInput, ctx: Context, current: Current | None, errors: list[FieldError]
) -> tuple[UUID | None, UUID | None]:
    """The customer and enrollment the slip is about: given directly, by external ref, or
    through the enrollment or step; every pair must agree."""
    customer_id: UUID | None = None
    if item.customer_id is not None:
        if item.customer_id not in ctx.customers:
            errors.append(FieldError("customer_id", "no such customer"))
        customer_id = item.customer_id
    if item.customer_ref is not None:
        by_ref = ctx.refs.get(item.customer_ref)
        if by_ref is None:
            errors.append(
                FieldError("customer_ref", f"no customer with external_ref {item.customer_ref!r}")
            )
        elif customer_id is not None and by_ref.id != customer_id:
            errors.append(FieldError("customer_ref", "names a different customer than customer_id"))
        else:
            customer_id = by_ref.id
    enrollment_id = item.enrollment_id
    if enrollment_id is not None:
        enrollment = ctx.enrollments.get(enrollment_id)
        if enrollment is None:
            errors.append(FieldError("enrollment_id", "no such enrollment"))
        elif current is not None and enrollment.journey != current.journey_id:
            errors.append(FieldError("enrollment_id", f"is not an enrollment on {item.journey!r}"))
        elif customer_id is not None and enrollment.customer != customer_id:
            errors.append(FieldError("enrollment_id", "belongs to another customer"))
        else:
            customer_id = enrollment.customer
    if item.step_id is not None:
        step = ctx.steps.get(item.step_id)
        if step is None:
            errors.append(FieldError("step_id", "no such step"))
        elif step.behaviour != item.behaviour:
            errors.append(
                FieldError("step_id", f"is a step of {step.behaviour!r}, not {item.behaviour!r}")
            )
        else:
            enrollment_id = enrollment_id or step.enrollment
            customer_id = customer_id or step.customer
    return customer_id, enrollment_id


def build(
    tenant: Tenant,
    item: SlipInput,
    ctx: Context,
    reporter: Reporter,
    source: Source,
    now: datetime,
) -> tuple[SlipRow | None, list[FieldError]]:
    """Validate one item against the context: a row to insert, or every problem found."""
    errors: list[FieldError] = []
    current = ctx.journeys.get(item.journey)
    behaviour = _behaviour(item, ctx, errors)
    mode = _failure_mode(item, behaviour, errors)
    root_cause, deficit = _causes(item, mode, errors)
    severity = (
        item.severity if item.severity is not None else (behaviour.importance if behaviour else 5)
    )
    if not 1 <= severity <= 10:
        errors.append(FieldError("severity", "must be between 1 and 10"))
    if item.kind not in SLIP_KINDS:
        errors.append(
            FieldError("kind", f"unknown kind {item.kind!r}; valid: {choices(SLIP_KINDS)}")
        )
    occurred = _occurred(item, now, errors)
    customer_id, enrollment_id = _links(item, ctx, current, errors)
    if errors or current is None or behaviour is None:
        return None, errors
    return (
        SlipRow(
            id=new_id(),
            organization=tenant.org_id,
            journey=current.journey_id,
            journey_version=current.version_id,
            behaviour=behaviour.key,
            failure_mode=item.failure_mode,
            root_cause=root_cause,
            deficit=deficit,
            stage=behaviour.stage,
            severity=severity,
            source=source,
            customer=customer_id,
            enrollment=enrollment_id,
            step=item.step_id,
            reporter_user=reporter.user_id,
            reporter_key=reporter.api_key_id,
            site=item.site,
            channel=item.channel,
            note=item.note,
            occurred_at=occurred.astimezone(UTC),
            created_at=now,
            updated_at=now,
            idempotency_key=item.key,
            kind=item.kind,
        ),
        [],
    )


async def check_batch(tenant: Tenant, items: list[SlipInput]) -> list[list[FieldError]]:
    """Validate items without writing anything: the problems of each item (empty = valid)."""
    now = clock.now()
    ctx = await load_context(tenant, items)
    return [build(tenant, item, ctx, Reporter(), "import", now)[1] for item in items]
