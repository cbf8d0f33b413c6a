"""Steps the customer did not confirm in time: each becomes ``missed`` with one ``system``
slip (key ``missed:<step id>``), in one transaction, so a step is never missed without its
slip and never gets two. Steps that expect no confirmation are excused instead.

The job works across organisations but commits per organisation, and sets aside what it
cannot handle (a version whose definition does not decode, an organisation whose writes
fail) so the rest goes on: one organisation's bad row never stops another's detection.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any
from uuid import UUID

from core import clock
from core.db import write_transaction
from core.ids import new_id
from core.isolation import Quarantine
from core.tenancy import Tenant
from journeys.definition import Behaviour
from journeys.enrollments.jobs import close_overdue, overdue_steps
from journeys.services import definitions_by_version
from slips.validation import SlipRow
from slips.writes import insert_new

BAD_VERSIONS: Quarantine[UUID] = Quarantine("detect missed steps", "journey version")
BAD_ORGANIZATIONS: Quarantine[UUID] = Quarantine("detect missed steps", "organisation")


async def detect_missed(
    now: datetime | None = None, limit: int = 5000, organization: UUID | None = None
) -> list[UUID]:
    """Close overdue steps (of one ``organization``, or all); returns the newly missed ones."""
    now = now or clock.now()
    rows = await overdue_steps(
        now, limit, organization, BAD_VERSIONS.active(), BAD_ORGANIZATIONS.active()
    )
    if not rows:
        return []
    behaviours = await _behaviours({row["version"] for row in rows})
    by_org: dict[UUID, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        if row["version"] in behaviours:
            by_org[row["organization"]].append(row)
    missed: list[UUID] = []
    for org_id, org_rows in by_org.items():
        try:
            missed += await _close(Tenant(org_id), org_rows, behaviours, now)
        except Exception as exc:
            BAD_ORGANIZATIONS.add(org_id, exc)
    return missed


async def _close(
    tenant: Tenant,
    rows: list[dict[str, Any]],
    behaviours: dict[UUID, dict[str, Behaviour]],
    now: datetime,
) -> list[UUID]:
    async with write_transaction():
        missed = set(await close_overdue(tenant, [row["id"] for row in rows]))
        slips = [
            _system_slip(row, behaviour, now)
            for row in rows
            if UUID(str(row["id"])) in missed
            and (behaviour := behaviours[row["version"]].get(row["behaviour"])) is not None
        ]
        await insert_new(slips)
    return list(missed)


async def _behaviours(version_ids: set[UUID]) -> dict[UUID, dict[str, Behaviour]]:
    """Behaviours by key for each version; a version that cannot be decoded is set aside."""
    definitions, failed = await definitions_by_version(version_ids)
    for version, exc in failed.items():
        BAD_VERSIONS.add(version, exc)
    return {v: {b.key: b for b in d.behaviours} for v, d in definitions.items()}


def _system_slip(row: dict[str, Any], behaviour: Behaviour, now: datetime) -> SlipRow:
    return SlipRow(
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
