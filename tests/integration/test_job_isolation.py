"""Scheduler jobs work across organisations, but one organisation's bad row never stops
another's work: what cannot be handled is set aside and logged, and the rest goes on."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from journeys import services
from journeys.enrollments import jobs
from journeys.enrollments import services as enrollments
from journeys.tables import Enrollment, JourneyVersion, Step
from slips import missed
from slips.tables import Slip
from tests.conftest import Org
from tests.factories import JOURNEY, customer


@pytest.fixture(autouse=True)
def fresh_quarantines() -> Iterator[None]:
    yield
    for quarantine in (
        jobs.BAD_VERSIONS,
        jobs.BAD_ENROLLMENTS,
        missed.BAD_VERSIONS,
        missed.BAD_ORGANIZATIONS,
    ):
        quarantine.clear()


async def _overdue_enrollment(org: Org) -> Enrollment:
    """An enrollment on the daily check-in whose first steps are already past their grace."""
    await services.load_journey(org.tenant, JOURNEY)
    c = await customer(org, "UTC")
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    done = await enrollments.enroll(
        org.tenant, c.id, "tenancy-check", {"start": start}, backfill=True
    )
    return done.enrollment


async def _break_definition(enrollment: Enrollment) -> None:
    """Store a definition this release cannot decode (as a future schema change might)."""
    version = enrollment.journey_version
    await JourneyVersion.update({JourneyVersion.definition: '{"key": 7}'}).where(
        JourneyVersion.id == version
    )
    services._decoded.pop(version, None)


async def _statuses(org: Org) -> list[str]:
    rows = await Step.select(Step.status).where(Step.organization == org.id)
    return sorted({r["status"] for r in rows})


async def test_a_bad_definition_stops_only_its_own_missed_steps(
    org: Org, other_org: Org, caplog: Any
) -> None:
    broken = await _overdue_enrollment(org)
    await _break_definition(broken)
    healthy = await _overdue_enrollment(other_org)
    with caplog.at_level(logging.ERROR, logger="slipguard.jobs"):
        newly_missed = await missed.detect_missed()  # every organisation, as the scheduler runs it
        again = await missed.detect_missed()
    theirs = await Step.select(Step.id).where(
        (Step.enrollment == healthy.id) & (Step.status == "missed")
    )
    assert len(theirs) >= 2
    assert {r["id"] for r in theirs} <= set(newly_missed)
    assert await Slip.count().where(Slip.organization == other_org.id) == len(theirs)
    # The broken organisation's steps wait, untouched, with no half-written slips...
    assert "missed" not in await _statuses(org)
    assert await Slip.count().where(Slip.organization == org.id) == 0
    # ...and the error is logged once, not on every tick.
    logged = [r for r in caplog.records if str(broken.journey_version) in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info is not None
    assert again == []


async def test_a_bad_definition_or_row_stops_only_its_own_refills(
    org: Org, other_org: Org, caplog: Any
) -> None:
    broken = await _overdue_enrollment(org)
    await _break_definition(broken)
    healthy = await _overdue_enrollment(other_org)
    bad_row = await _overdue_enrollment(other_org)
    await Enrollment.update({Enrollment.anchors: "not json"}).where(Enrollment.id == bad_row.id)
    before = {
        e: await Step.count().where(Step.enrollment == e)
        for e in (broken.id, healthy.id, bad_row.id)
    }
    later = datetime.now(UTC) + timedelta(days=4)
    with caplog.at_level(logging.ERROR, logger="slipguard.jobs"):
        while await jobs.materialise_due(now=later):  # every organisation
            pass
    assert await Step.count().where(Step.enrollment == healthy.id) > before[healthy.id]
    assert await Step.count().where(Step.enrollment == broken.id) == before[broken.id]
    assert await Step.count().where(Step.enrollment == bad_row.id) == before[bad_row.id]
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert str(broken.journey_version) in messages and str(bad_row.id) in messages
    # Once mended, the set-aside rows are picked up again.
    jobs.BAD_ENROLLMENTS.clear()
    await Enrollment.update({Enrollment.anchors: healthy.anchors}).where(
        Enrollment.id == bad_row.id
    )
    await jobs.materialise_due(now=later, organization=other_org.id)
    assert await Step.count().where(Step.enrollment == bad_row.id) > before[bad_row.id]
