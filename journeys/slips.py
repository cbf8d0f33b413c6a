"""Slips: customer errors logged by staff, reported by customers, detected by the system.

Every slip names a journey, a behaviour of it and optionally a failure mode; the stage and
default severity come from the behaviour, the cause and deficit from the failure mode.
Validation collects every problem of an item (names the field and the valid choices),
and a batch stores its valid items even when others fail. A slip ``key`` (an item key, a
CSV row key, ``missed:<step>``) is unique per organisation, so nothing is stored twice.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NamedTuple
from uuid import UUID

from api.db import NewRow, insert_rows, new_id, rows_per_statement, write_transaction
from api.domain import FieldError
from api.tenancy import Tenant
from journeys.definition import Behaviour, JourneyDefinition
from journeys.errors import CustomerNotFound, SlipInvalid, SlipLocked, SlipNotFound
from journeys.services import decoded
from journeys.tables import Customer, Enrollment, Journey, JourneyVersion, Slip, Step
from settings import get_settings

Source = Literal["staff", "system", "customer", "import"]
ROOT_CAUSES = (
    "technology",
    "process",
    "physical_environment",
    "customer",
    "other_customers",
    "employee",
)
DEFICITS = ("role_clarity", "ability", "motivation", "forgetfulness", "financial", "other")
CATALOG_TTL = 5.0  # seconds a journey's current version is cached for validation


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


@dataclass
class Reporter:
    """Who recorded the slip (a staff user, an API key, or neither for system/customer)."""

    user_id: UUID | None = None
    api_key_id: UUID | None = None


@dataclass
class ItemResult:
    """The outcome of one batch item."""

    index: int
    status: Literal["created", "duplicate", "error"]
    slip: Slip | SlipRow | None = None
    errors: list[FieldError] = field(default_factory=list)


@dataclass(frozen=True)
class _Current:
    journey_id: UUID
    version_id: UUID
    definition: JourneyDefinition
    fetched: float


_catalog: dict[tuple[UUID, str], _Current] = {}


async def current_journeys(tenant: Tenant, keys: Iterable[str]) -> dict[str, _Current]:
    """Current definitions by key, cached for a few seconds (versions are immutable)."""
    now = time.monotonic()
    wanted = set(keys)
    out: dict[str, _Current] = {}
    missing = []
    for key in wanted:
        hit = _catalog.get((tenant.org_id, key))
        if hit is not None and now - hit.fetched < CATALOG_TTL:
            out[key] = hit
        else:
            missing.append(key)
    if missing:
        rows = await tenant.select(
            JourneyVersion,
            JourneyVersion.id,
            JourneyVersion.journey,
            JourneyVersion.definition,
            JourneyVersion.journey.key.as_alias("journey_key"),
        ).where(
            JourneyVersion.journey.key.is_in(missing)
            & (JourneyVersion.version == JourneyVersion.journey.current_version)
        )
        for row in rows:
            entry = _Current(row["journey"], row["id"], decoded(row["id"], row["definition"]), now)
            _catalog[(tenant.org_id, row["journey_key"])] = entry
            out[row["journey_key"]] = entry
    return out


async def journey_choices(tenant: Tenant) -> list[str]:
    """Keys of the organisation's journeys (for error messages)."""
    return [r["key"] for r in await tenant.select(Journey, Journey.key).order_by(Journey.key)]


def _choices(options: Iterable[str]) -> str:
    names = list(options)
    return ", ".join(names) if names else "(none defined)"


@dataclass
class _Context:
    """Everything a batch needs from the database, fetched once."""

    journeys: dict[str, _Current]
    journey_keys: list[str]
    customers: dict[UUID, Customer]
    refs: dict[str, Customer]
    steps: dict[UUID, Step]
    enrollments: dict[UUID, Enrollment]


async def _context(tenant: Tenant, items: list[SlipInput]) -> _Context:
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
    return _Context(
        journeys,
        keys,
        {c.id: c for c in customers},
        {str(c.external_ref): c for c in by_ref},
        {s.id: s for s in steps},
        {e.id: e for e in enrollments},
    )


def _build(
    tenant: Tenant,
    item: SlipInput,
    ctx: _Context,
    reporter: Reporter,
    source: Source,
    now: datetime,
) -> tuple[SlipRow | None, list[FieldError]]:
    """Validate one item against the context; a row to insert, or every problem found."""
    errors: list[FieldError] = []
    intake = get_settings().intake
    current = ctx.journeys.get(item.journey)
    behaviour: Behaviour | None = None
    if current is None:
        errors.append(
            FieldError(
                "journey", f"unknown journey {item.journey!r}; valid: {_choices(ctx.journey_keys)}"
            )
        )
    else:
        behaviour = current.definition.behaviour(item.behaviour)
        if behaviour is None:
            valid = _choices(b.key for b in current.definition.behaviours)
            errors.append(
                FieldError(
                    "behaviour",
                    f"unknown behaviour {item.behaviour!r} of {item.journey!r}; valid: {valid}",
                )
            )
    mode = None
    if behaviour is not None and item.failure_mode is not None:
        mode = next((m for m in behaviour.failure_modes if m.key == item.failure_mode), None)
        if mode is None:
            valid = _choices(m.key for m in behaviour.failure_modes)
            errors.append(
                FieldError(
                    "failure_mode",
                    f"unknown failure mode {item.failure_mode!r} of {item.behaviour!r}; "
                    f"valid: {valid}",
                )
            )
    root_cause = item.root_cause or (mode.root_cause if mode else None)
    deficit = item.deficit or (mode.deficit if mode else None)
    if root_cause is not None and root_cause not in ROOT_CAUSES:
        errors.append(
            FieldError(
                "root_cause", f"unknown root cause {root_cause!r}; valid: {_choices(ROOT_CAUSES)}"
            )
        )
    if deficit is not None and deficit not in DEFICITS:
        errors.append(
            FieldError("deficit", f"unknown deficit {deficit!r}; valid: {_choices(DEFICITS)}")
        )
    severity = (
        item.severity if item.severity is not None else (behaviour.importance if behaviour else 5)
    )
    if not 1 <= severity <= 10:
        errors.append(FieldError("severity", "must be between 1 and 10"))
    occurred = item.occurred_at or now
    if occurred.tzinfo is None:
        errors.append(FieldError("occurred_at", "needs a UTC offset (e.g. +00:00 or Z)"))
    elif occurred > now + timedelta(seconds=intake.clock_skew_seconds):
        errors.append(FieldError("occurred_at", "is in the future"))
    elif occurred < now - timedelta(days=intake.max_age_days):
        errors.append(FieldError("occurred_at", f"is more than {intake.max_age_days} days ago"))
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
        elif enrollment is not None:
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
        ),
        [],
    )


async def prepare_slip(
    tenant: Tenant, item: SlipInput, reporter: Reporter, source: Source = "staff"
) -> SlipRow:
    """Validate one slip into the row to store, without storing it (every problem is
    reported at once; another organisation's customer is a 404)."""
    now = datetime.now(UTC)
    ctx = await _context(tenant, [item])
    if item.customer_id is not None and item.customer_id not in ctx.customers:
        raise CustomerNotFound(f"customer {item.customer_id} not found")
    slip, errors = _build(tenant, item, ctx, reporter, source, now)
    if slip is None:
        raise SlipInvalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors)
    return slip


def as_new_row(slip: SlipRow) -> NewRow:
    """A prepared slip as a row for the generic writers (e.g. a keyed create)."""
    return NewRow("slip", SLIP_COLUMNS, SLIP_PG_TYPES, tuple(slip))


async def record_slip(
    tenant: Tenant, item: SlipInput, reporter: Reporter, source: Source = "staff"
) -> Slip | SlipRow:
    """Validate and store one slip (all problems reported at once): the new row, or the slip
    stored first under the same key."""
    slip = await prepare_slip(tenant, item, reporter, source)
    if slip.id not in await insert_new([slip]):
        # Its key was taken (a resend): the slip stored first is the answer.
        existing = await tenant.objects(Slip).where(Slip.idempotency_key == item.key).first()
        assert existing is not None
        return existing
    return slip


async def record_batch(
    tenant: Tenant, items: list[SlipInput], reporter: Reporter, source: Source = "staff"
) -> list[ItemResult]:
    """Store every valid item once; report created, duplicate (same key) or error per item."""
    now = datetime.now(UTC)
    ctx = await _context(tenant, items)
    results: list[ItemResult] = []
    rows: list[tuple[int, SlipRow]] = []
    keys_seen: dict[str, int] = {}
    for index, item in enumerate(items):
        slip, errors = _build(tenant, item, ctx, reporter, source, now)
        if slip is None:
            results.append(ItemResult(index, "error", errors=errors))
            continue
        if item.key is not None and item.key in keys_seen:
            results.append(ItemResult(index, "duplicate"))
            continue
        if item.key is not None:
            keys_seen[item.key] = index
        results.append(ItemResult(index, "created", slip))
        rows.append((index, slip))
    created_ids = await insert_new([slip for _, slip in rows])
    keyed_dupes = [slip.idempotency_key for _, slip in rows if slip.id not in created_ids]
    existing = {
        s.idempotency_key: s
        for s in (
            await tenant.objects(Slip).where(Slip.idempotency_key.is_in(keyed_dupes))
            if keyed_dupes
            else []
        )
    }
    for result in results:
        if (
            result.status == "created"
            and result.slip is not None
            and result.slip.id not in created_ids
        ):
            result.status = "duplicate"
            result.slip = existing.get(str(result.slip.idempotency_key))
        elif result.status == "duplicate":
            first = results[keys_seen[str(items[result.index].key)]]
            result.slip = (
                first.slip
                if first.slip and first.slip.id in created_ids
                else existing.get(str(items[result.index].key))
            )
    return results


# --- reading, correcting, voiding -----------------------------------------------------------


async def check_batch(tenant: Tenant, items: list[SlipInput]) -> list[list[FieldError]]:
    """Validate items without writing anything: the problems of each item (empty = valid)."""
    now = datetime.now(UTC)
    ctx = await _context(tenant, items)
    return [_build(tenant, item, ctx, Reporter(), "import", now)[1] for item in items]


SLIP_COLUMNS = SlipRow._fields
SLIP_PG_TYPES = (
    "uuid", "uuid", "uuid", "uuid", "varchar", "varchar", "varchar", "varchar", "varchar",
    "int", "varchar", "uuid", "uuid", "uuid", "uuid", "uuid", "varchar", "varchar", "text",
    "timestamptz", "timestamptz", "timestamptz", "varchar",
)  # fmt: skip


async def insert_new(values: list[SlipRow]) -> set[UUID]:
    """Insert slips, skipping those whose key exists; returns the ids actually inserted."""
    if len(values) <= rows_per_statement(len(SLIP_COLUMNS)):
        # One statement is atomic on its own: no BEGIN/COMMIT round trips for a single slip.
        inserted = await insert_rows("slip", SLIP_COLUMNS, SLIP_PG_TYPES, values, returning="id")
    else:
        async with write_transaction():
            inserted = await insert_rows(
                "slip", SLIP_COLUMNS, SLIP_PG_TYPES, values, returning="id"
            )
    # SQLite hands back ids as text; PostgreSQL as UUIDs.
    return {i if isinstance(i, UUID) else UUID(str(i)) for i in inserted}


@dataclass
class SlipFilter:
    """List filters (all optional)."""

    journey: str | None = None
    behaviour: str | None = None
    failure_mode: str | None = None
    root_cause: str | None = None
    site: str | None = None
    source: str | None = None
    reporter_user: UUID | None = None
    reporter_key: UUID | None = None
    customer_id: UUID | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_voided: bool = False


async def list_slips(
    tenant: Tenant, f: SlipFilter, cursor: str | None, limit: int
) -> tuple[list[Slip], str | None]:
    """Slips, oldest first, filtered, with a keyset cursor."""
    from api.pagination import keyset, page

    query = tenant.objects(Slip)
    if f.journey is not None:
        query = query.where(Slip.journey.key == f.journey)
    simple: list[tuple[Any, Any]] = [
        (Slip.behaviour, f.behaviour),
        (Slip.failure_mode, f.failure_mode),
        (Slip.root_cause, f.root_cause),
        (Slip.site, f.site),
        (Slip.source, f.source),
        (Slip.reporter_user, f.reporter_user),
        (Slip.reporter_key, f.reporter_key),
        (Slip.customer, f.customer_id),
    ]
    for column, value in simple:
        if value is not None:
            query = query.where(column == value)
    if f.since is not None:
        query = query.where(Slip.occurred_at >= f.since)
    if f.until is not None:
        query = query.where(Slip.occurred_at < f.until)
    if not f.include_voided:
        query = query.where(Slip.voided_at.is_null())
    rows = await keyset(query, Slip, cursor, limit)
    return page(rows, limit)


async def get_slip(tenant: Tenant, slip_id: UUID) -> Slip:
    """One slip of this organisation."""
    return await tenant.get(Slip, slip_id, SlipNotFound, "slip")


def _may_change(slip: Slip, reporter: Reporter, is_manager: bool, now: datetime) -> None:
    if is_manager:
        return
    own = (reporter.user_id is not None and slip.reporter_user == reporter.user_id) or (
        reporter.api_key_id is not None and slip.reporter_key == reporter.api_key_id
    )
    if not own:
        raise SlipLocked("staff may change only slips they logged themselves")
    window = timedelta(minutes=get_settings().intake.edit_window_minutes)
    if now - slip.created_at > window:
        raise SlipLocked(
            f"slips can be changed for {window.total_seconds() / 60:.0f} minutes after logging; "
            "ask a manager"
        )


async def correct_slip(
    tenant: Tenant, slip_id: UUID, changes: dict[str, Any], reporter: Reporter, is_manager: bool
) -> Slip:
    """Correct fields of a slip (re-validated as a whole); staff only their own, in the window."""
    now = datetime.now(UTC)
    async with write_transaction():
        slip = await get_slip(tenant, slip_id)
        if slip.voided_at is not None:
            raise SlipLocked("the slip was voided")
        _may_change(slip, reporter, is_manager, now)
        journey = await tenant.objects(Journey).where(Journey.id == slip.journey).first()
        assert journey is not None
        merged = SlipInput(
            journey=changes.get("journey", journey.key),
            behaviour=changes.get("behaviour", slip.behaviour),
            failure_mode=changes.get("failure_mode", slip.failure_mode),
            root_cause=changes.get(
                "root_cause", slip.root_cause if "failure_mode" not in changes else None
            ),
            deficit=changes.get("deficit", slip.deficit if "failure_mode" not in changes else None),
            customer_id=changes.get("customer_id", slip.customer),
            severity=changes.get("severity", slip.severity),
            site=changes.get("site", slip.site),
            channel=changes.get("channel", slip.channel),
            note=changes.get("note", slip.note),
            occurred_at=changes.get("occurred_at", slip.occurred_at),
            step_id=slip.step,
            enrollment_id=slip.enrollment,
        )
        ctx = await _context(tenant, [merged])
        fresh, errors = _build(tenant, merged, ctx, reporter, slip.source, now)
        if fresh is None:
            raise SlipInvalid("; ".join(f"{e.field}: {e.message}" for e in errors), errors)
        values = {
            Slip.journey: fresh.journey,
            Slip.journey_version: fresh.journey_version,
            Slip.behaviour: fresh.behaviour,
            Slip.failure_mode: fresh.failure_mode,
            Slip.root_cause: fresh.root_cause,
            Slip.deficit: fresh.deficit,
            Slip.stage: fresh.stage,
            Slip.severity: fresh.severity,
            Slip.customer: fresh.customer,
            Slip.site: fresh.site,
            Slip.channel: fresh.channel,
            Slip.note: fresh.note,
            Slip.occurred_at: fresh.occurred_at,
            Slip.updated_at: now,
        }
        await tenant.update(Slip, values).where(Slip.id == slip_id)
    return await get_slip(tenant, slip_id)


async def void_slip(
    tenant: Tenant, slip_id: UUID, reason: str, reporter: Reporter, is_manager: bool
) -> Slip:
    """Void a slip: it stays for audit but leaves every count. Voiding twice is harmless."""
    now = datetime.now(UTC)
    async with write_transaction():
        slip = await get_slip(tenant, slip_id)
        if slip.voided_at is None:
            _may_change(slip, reporter, is_manager, now)
            await tenant.update(
                Slip, {Slip.voided_at: now, Slip.void_reason: reason[:200], Slip.updated_at: now}
            ).where(Slip.id == slip_id)
    return await get_slip(tenant, slip_id)


# --- system and customer sources -----------------------------------------------------------


async def record_missed_steps(step_ids: list[UUID]) -> int:
    """One ``system`` slip per missed step, exactly once (key ``missed:<step id>``)."""
    if not step_ids:
        return 0
    rows = await Step.select(
        Step.id,
        Step.organization,
        Step.customer,
        Step.enrollment,
        Step.behaviour,
        Step.due_at,
        Step.enrollment.journey.as_alias("journey"),
        Step.enrollment.journey_version.as_alias("version"),
        Step.enrollment.journey_version.definition.as_alias("definition"),  # type: ignore[union-attr]
    ).where(Step.id.is_in(step_ids))
    slips = []
    now = datetime.now(UTC)
    for row in rows:
        definition = decoded(row["version"], row["definition"])
        behaviour = definition.behaviour(row["behaviour"])
        if behaviour is None:  # pragma: no cover - steps come from their own definition
            continue
        slips.append(
            SlipRow(
                id=new_id(),
                organization=row["organization"],
                journey=row["journey"],
                journey_version=row["version"],
                behaviour=behaviour.key,
                failure_mode=None,
                root_cause=None,
                deficit=None,
                stage=behaviour.stage,
                severity=behaviour.importance,
                source="system",
                customer=row["customer"],
                enrollment=row["enrollment"],
                step=row["id"],
                reporter_user=None,
                reporter_key=None,
                site=None,
                channel=None,
                note="step not confirmed before its grace period ended",
                occurred_at=row["due_at"],
                created_at=now,
                updated_at=now,
                idempotency_key=f"missed:{row['id']}",
            )
        )
    return len(await insert_new(slips))


def match_failure_mode(behaviour: Behaviour, text: str) -> str | None:
    """The failure mode a customer's words name: a reply keyword, or the mode's key/title."""
    words = text.strip().upper().split()
    first = words[0] if words else ""
    for mode in behaviour.failure_modes:
        if first in {k.upper() for k in mode.reply}:
            return mode.key
    lowered = text.lower()
    for mode in behaviour.failure_modes:
        names = {mode.key.replace("-", " "), mode.title.lower()} - {""}
        if any(name in lowered for name in names):
            return mode.key
    return None


async def record_customer_report(
    tenant: Tenant, customer_id: UUID, journey: str, behaviour: str, text: str,
    step_id: UUID | None = None, channel: str | None = None, key: str | None = None,
) -> Slip | SlipRow:  # fmt: skip
    """A customer's own account of a slip (SMS reply, self-service page), reason mapped
    to a failure mode when it matches; the free text is always kept as the note."""
    current = (await current_journeys(tenant, [journey])).get(journey)
    definition_behaviour = current.definition.behaviour(behaviour) if current else None
    mode = match_failure_mode(definition_behaviour, text) if definition_behaviour else None
    if key is not None:
        existing = await tenant.objects(Slip).where(Slip.idempotency_key == key).first()
        if existing is not None:
            return existing
    item = SlipInput(
        journey=journey,
        behaviour=behaviour,
        failure_mode=mode,
        customer_id=customer_id,
        step_id=step_id,
        channel=channel,
        note=text[:2000],
        key=key,
    )
    return await record_slip(tenant, item, Reporter(), source="customer")
