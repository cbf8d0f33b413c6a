"""The seam through which a higher context acts on a journey's steps, in their transaction.

Journeys knows nothing of messages. A behaviour's ``nudges`` are planned, an enrollment's
unsent messages stopped and a confirmed step's follow-ups suppressed by the coaching
context, which installs its :class:`StepCompanion` here when ``coaching.outbox`` is
imported (every entry point does: the app, the CLI, the worker and the scheduler).

Step writes call the companion inside the same transaction, so a step never exists
without its messages. Writing a step whose behaviour has nudges with no companion
installed is a programming error and raises, rather than silently planning nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from core.tenancy import Tenant
from journeys.definition import Behaviour


class StepCompanion(Protocol):
    """Rows another context writes with each step, and what it does when steps change."""

    table: str
    columns: tuple[str, ...]
    pg_types: tuple[str, ...]
    step_column: int  # where a row holds its step's id (rows of steps not written are dropped)

    def prepare(self, behaviour: Behaviour) -> Any:
        """What :meth:`plan` needs for every step of this behaviour, worked out once per
        definition (None or empty: nothing to plan)."""
        ...

    def plan(
        self,
        out: list[tuple[Any, ...]],
        ids: tuple[UUID, UUID, UUID, UUID],
        due: datetime,
        prepared: Any,
        tz: ZoneInfo,
        now: datetime,
        holdout: bool,
    ) -> int:
        """Append the rows of one step (``ids``: organisation, enrollment, customer, step)
        to ``out``; returns how many were left out because their time had passed."""
        ...

    async def enrollments_stopped(
        self, tenant: Tenant, enrollment_ids: list[UUID], reason: str, now: datetime
    ) -> int:
        """The enrollments were cancelled: stop what is planned for them."""
        ...

    async def step_completed(self, tenant: Tenant, step_id: UUID, now: datetime) -> int:
        """The step was confirmed: drop what was only meant for an unconfirmed step."""
        ...


_installed: list[StepCompanion] = []


def install(companion: StepCompanion) -> None:
    """Make ``companion`` the one that step writes call (installing twice replaces it)."""
    _installed[:] = [companion]


def companion() -> StepCompanion:
    """The installed companion; raises when none is (nothing would plan the messages)."""
    if not _installed:
        raise RuntimeError(
            "no step companion installed: import coaching.outbox before writing steps"
        )
    return _installed[0]
