"""The demo organisation's data: the journey library, a simulated 90-day history of about
2,000 customers (see docs/demo.md and ``api.demo.model``), and a few live deliveries whose
texts go out within a minute of loading.

The demo lives in api/ because it uses every context: journeys (library, planner),
coaching (the outbox rows) and slips. The history is written by bulk inserts in one
transaction, in the tables' own column orders, every row owned by the demo organisation.
"""

from __future__ import annotations

import random
from datetime import datetime
from pathlib import Path
from typing import Protocol

import coaching.outbox  # noqa: F401 - installs the outbox as the planner's step companion
from api.demo import model, store
from api.demo.live import daytime_zones, live_deliveries
from api.demo.simulate import JourneyRef, Simulation
from core import clock
from core import identity as accounts
from core.tenancy import Tenant
from dashboards import countermeasures
from dashboards import services as dashboard_services
from dashboards.measure_schemas import CountermeasureIn
from journeys import services

LIBRARY = Path(services.__file__).parent / "library"
SLUG = "demo"
NAME = "Demo Clinic"
ADMIN = "admin@demo.example"
MANAGER = "manager@demo.example"
STAFF = "staff@demo.example"

__all__ = ["LIBRARY", "Progress", "create", "daytime_zones", "seed"]


class Progress(Protocol):
    """Something that shows how far a long phase has got (a terminal progress bar)."""

    def start(self, label: str, total: int) -> None:
        """A phase of ``total`` units begins."""

    def advance(self, units: int) -> None:
        """``units`` more are done."""

    def finish(self) -> None:
        """The phase is over."""


async def create(
    customers: int = model.DEFAULT_CUSTOMERS,
    progress: Progress | None = None,
    slug: str = SLUG,
) -> tuple[accounts.Bootstrap, dict[str, int]]:
    """Create the demo organisation (its admin, a manager and a front-desk user, all with
    the admin's generated password) and its data. Raises ``OrganizationExists`` when it
    is already there, so running the demo twice adds nothing."""
    made = await accounts.bootstrap(slug, NAME, ADMIN, None)
    tenant = Tenant(made.organization.id)
    password = made.password or ""
    await accounts.create_user(tenant, MANAGER, "manager", password, "Clinic manager")
    await accounts.create_user(tenant, STAFF, "staff", password, "Front desk")
    return made, await seed(tenant, customers, progress=progress)


async def _record_countermeasure(tenant: Tenant, started: datetime) -> None:
    """The change the simulation makes half-way (model.CHANGED), as a manager would have
    recorded it: the countermeasures page then shows its before/after comparison."""
    changed = model.CHANGED
    tz = await dashboard_services.organization_timezone(tenant)
    await countermeasures.create(
        tenant,
        CountermeasureIn(
            journey=changed.journey,
            behaviour=changed.behaviour,
            failure_mode=changed.failure_mode,
            strategy=changed.strategy,
            start_date=started.astimezone(tz).date(),
            owner="Clinic manager",
            note=changed.title,
        ),
        tz,
    )


async def load_library(tenant: Tenant) -> dict[str, JourneyRef]:
    """Load every library journey (an unchanged file makes no new version)."""
    out = {}
    for path in sorted(LIBRARY.glob("*.yaml")):
        await services.load_journey(tenant, path.read_text(encoding="utf-8"), path.name)
        journey, version, definition = await services.current_definition(tenant, path.stem)
        out[definition.key] = JourneyRef(journey.id, version.id, definition)
    return out


async def seed(
    tenant: Tenant,
    customers: int = model.DEFAULT_CUSTOMERS,
    seed_value: int = 7,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> dict[str, int]:
    """Create the demo history for ``customers`` simulated customers, then the live
    deliveries; returns what was made, by name (call once per organisation)."""
    now = now or clock.now()
    rng = random.Random(seed_value)
    journeys = await load_library(tenant)
    simulation = Simulation(tenant.org_id, journeys, now, rng)
    if progress is not None:
        progress.start("simulating customers", customers)
    rows = simulation.run(customers, progress.advance if progress is not None else None)
    if progress is not None:
        progress.finish()
        progress.start("writing rows", rows.total())
    await store.write(rows, progress.advance if progress is not None else None)
    if progress is not None:
        progress.finish()
    await _record_countermeasure(tenant, simulation.changed_at)
    live = await live_deliveries(tenant, now, rng)
    return {
        "journeys": len(journeys),
        "customers": len(rows.customers) + live,
        "enrollments": len(rows.enrollments) + live,
        "steps": len(rows.steps),
        "messages": len(rows.nudges),
        "slips": len(rows.slips),
        "texts due within a minute": live,
    }
