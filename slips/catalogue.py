"""The journeys slips are checked against: current definitions by key, cached briefly.

Versions are immutable, so a cached decoded definition is never stale; only *which*
version is current may change, and that is re-read after ``CATALOG_TTL`` seconds.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from uuid import UUID

from core.tenancy import Tenant
from journeys.definition import JourneyDefinition
from journeys.services import decoded
from journeys.tables import Journey, JourneyVersion

CATALOG_TTL = 5.0  # seconds a journey's current version is cached for validation


@dataclass(frozen=True)
class Current:
    """A journey's current version, decoded."""

    journey_id: UUID
    version_id: UUID
    definition: JourneyDefinition
    fetched: float


_catalog: dict[tuple[UUID, str], Current] = {}


async def current_journeys(tenant: Tenant, keys: Iterable[str]) -> dict[str, Current]:
    """Current definitions by key, cached for a few seconds (versions are immutable)."""
    now = time.monotonic()
    wanted = set(keys)
    out: dict[str, Current] = {}
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
            entry = Current(row["journey"], row["id"], decoded(row["id"], row["definition"]), now)
            _catalog[(tenant.org_id, row["journey_key"])] = entry
            out[row["journey_key"]] = entry
    return out


async def journey_choices(tenant: Tenant) -> list[str]:
    """Keys of the organisation's journeys (for error messages)."""
    return [r["key"] for r in await tenant.select(Journey, Journey.key).order_by(Journey.key)]


def choices(options: Iterable[str]) -> str:
    names = list(options)
    return ", ".join(names) if names else "(none defined)"
