"""Who answers for each error source: set by a manager, shown in the ranking."""

from __future__ import annotations

from typing import Any

from core import clock
from core.db import write_transaction
from core.errors import FieldError
from core.ids import as_uuid
from core.tenancy import Tenant
from dashboards import queries
from dashboards.errors import DashboardInvalid, SourceJourneyNotFound
from dashboards.measure_schemas import OwnerIn, OwnerOut, SourceRef
from dashboards.queries import SourceKey
from dashboards.tables import SourceOwner


async def resolve(tenant: Tenant, ref: SourceRef) -> SourceKey:
    """The source key for a reference by keys; the journey must be the organisation's
    (else not found) and the behaviour (and failure mode, when named) defined in one of
    its versions (else invalid)."""
    journeys = await queries.journeys(tenant)
    found = [(jid, j) for jid, j in journeys.items() if j.key == ref.journey]
    if not found:
        raise SourceJourneyNotFound(f"journey {ref.journey!r} not found")
    journey_id, info = found[0]
    behaviour = info.behaviours.get(ref.behaviour)
    if behaviour is None:
        raise DashboardInvalid(
            "unknown behaviour", [FieldError("behaviour", f"not a behaviour of {ref.journey!r}")]
        )
    if ref.failure_mode is not None and ref.failure_mode not in behaviour.modes:
        raise DashboardInvalid(
            "unknown failure mode",
            [FieldError("failure_mode", f"not a failure mode of {ref.behaviour!r}")],
        )
    return journey_id, ref.behaviour, ref.failure_mode


def _where(key: SourceKey) -> Any:
    journey_id, behaviour, mode = key
    return (
        (SourceOwner.journey == journey_id)
        & (SourceOwner.behaviour == behaviour)
        & (SourceOwner.failure_mode == (mode or ""))
    )


async def set_owner(tenant: Tenant, data: OwnerIn) -> OwnerOut | None:
    """Set the source's owner (replacing any), or clear it when ``owner`` is None."""
    key = await resolve(tenant, data)
    now = clock.now()
    async with write_transaction():
        if data.owner is None:
            await tenant.delete(SourceOwner).where(_where(key))
            return None
        row = tenant.new(
            SourceOwner,
            journey=key[0],
            behaviour=key[1],
            failure_mode=key[2] or "",
            owner=data.owner,
            updated_at=now,
        )
        # One owner per source (a unique index): a second setter replaces the first.
        await SourceOwner.insert(row).on_conflict(
            target=(
                SourceOwner.organization,
                SourceOwner.journey,
                SourceOwner.behaviour,
                SourceOwner.failure_mode,
            ),
            action="DO UPDATE",
            values=[SourceOwner.owner, SourceOwner.updated_at],
        )
    return OwnerOut(
        journey=data.journey,
        behaviour=data.behaviour,
        failure_mode=data.failure_mode,
        owner=data.owner,
        updated_at=now,
    )


async def owners_by_source(tenant: Tenant) -> dict[SourceKey, str]:
    """Every owner set in the organisation, by source key."""
    rows = await tenant.select(
        SourceOwner,
        SourceOwner.journey,
        SourceOwner.behaviour,
        SourceOwner.failure_mode,
        SourceOwner.owner,
    )
    return {
        (as_uuid(r["journey"]), r["behaviour"], r["failure_mode"] or None): r["owner"] for r in rows
    }


async def list_owners(tenant: Tenant) -> list[OwnerOut]:
    """Every owner set, by journey, behaviour and failure mode."""
    journeys = await queries.journeys(tenant)
    rows = await tenant.select(
        SourceOwner,
        SourceOwner.journey,
        SourceOwner.behaviour,
        SourceOwner.failure_mode,
        SourceOwner.owner,
        SourceOwner.updated_at,
    )
    out = [
        OwnerOut(
            journey=journeys[jid].key if (jid := as_uuid(r["journey"])) in journeys else "?",
            behaviour=r["behaviour"],
            failure_mode=r["failure_mode"] or None,
            owner=r["owner"],
            updated_at=clock.as_utc(r["updated_at"]),
        )
        for r in rows
    ]
    return sorted(out, key=lambda o: (o.journey, o.behaviour, o.failure_mode or ""))
