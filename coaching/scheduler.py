"""The scheduler loop: periodically claims due work and publishes it to the broker.

Each :func:`tick` materialises steps on the rolling horizon, closes missed steps, follows
up new slips by their cause (coaching.followups), claims
due messages and re-publishes stale claims, and purges what has expired. It is safe to run
several schedulers: every claim is an atomic conditional update in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

import coaching.outbox  # noqa: F401 - installs the step companion the refill job needs
from coaching import dispatch, followups, retention
from core import clock, identity
from core.idempotency import purge
from journeys.enrollments.jobs import materialise_due
from settings import get_settings
from slips.missed import detect_missed

log = logging.getLogger("slipguard.scheduler")

Job = Callable[[], Awaitable[int]]
JOBS: list[Job] = []


def register(job: Job) -> Job:
    """Add a job that :func:`tick` runs each interval; it returns how many items it handled."""
    JOBS.append(job)
    return job


async def tick() -> int:
    """Run every registered job once; a failing job is logged and does not stop the others."""
    handled = 0
    for job in JOBS:
        try:
            handled += await job()
        except Exception:
            log.exception("scheduler job %s failed", getattr(job, "__name__", job))
    return handled


async def run_scheduler(stop: asyncio.Event, interval: float) -> None:
    """Tick every ``interval`` seconds until ``stop`` is set."""
    log.info("scheduler started", extra={"interval_s": interval, "jobs": len(JOBS)})
    while not stop.is_set():
        handled = await tick()
        if handled:
            log.info("scheduler tick", extra={"handled": handled})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval)
    log.info("scheduler stopped")


@register
async def materialise_steps() -> int:
    """Write steps (and their messages) that have come within the rolling horizon."""
    return await materialise_due()


@register
async def detect_missed_steps() -> int:
    """Close steps whose grace has passed without a confirmation, each with its slip."""
    return len(await detect_missed())


@register
async def follow_up_slips() -> int:
    """Answer new slips and missed steps by their cause (coaching.policy): messages, tasks."""
    return len(await followups.follow_up_due())


@register
async def dispatch_due_nudges() -> int:
    """Publish messages that are due, and again those whose claim went stale."""
    from coaching.actors import publish  # the broker is only built where jobs run

    d = get_settings().delivery
    stale = await dispatch.reclaim_stale(
        queued_after=timedelta(seconds=d.stale_queued_seconds),
        sending_after=timedelta(seconds=d.stale_sending_seconds),
        limit=d.claim_batch,
    )
    due = await dispatch.claim_due(limit=d.claim_batch)
    return dispatch.publish_all(stale + due, publish)


@register
async def purge_login_failures() -> int:
    """Forget failed logins older than the throttle window."""
    return await identity.purge_login_failures()


@register
async def purge_idempotency_keys() -> int:
    """Forget idempotency keys past their retention (at least 24 h)."""
    return await purge(get_settings().intake.idempotency_hours)


RETENTION_EVERY = timedelta(minutes=10)
_retention_due = {"at": clock.EARLIEST}


@register
async def enforce_retention() -> int:
    """Blank old message and inbound texts and drop superseded old consent records, per
    organisation in bounded batches; every ten minutes, or on the next tick while some
    organisation has more waiting (coaching.retention)."""
    now = clock.now()
    if now < _retention_due["at"]:
        return 0
    swept = await retention.sweep(now)
    _retention_due["at"] = now if swept.full else now + RETENTION_EVERY
    return swept.total
