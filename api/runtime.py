"""The embedded shape: Dramatiq worker threads and the scheduler loop inside the API process."""

from __future__ import annotations

import asyncio
import logging

import dramatiq

from settings import Settings

log = logging.getLogger("slipguard.runtime")


class EmbeddedRuntime:
    """Starts and stops the in-process worker and scheduler with the app's lifespan."""

    def __init__(self, settings: Settings, scheduler: bool = True) -> None:
        self.settings = settings
        self.with_scheduler = scheduler
        self.worker: dramatiq.Worker | None = None
        self.stop_event = asyncio.Event()
        self.scheduler_task: asyncio.Task[None] | None = None

    async def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Attach the broker to this loop, start worker threads and the scheduler."""
        import coaching.actors  # noqa: F401 - registers actors before the worker starts
        import dashboards.rollups  # noqa: F401 - registers the day-rollup fold job
        from coaching.broker import attach_loop, broker
        from coaching.scheduler import run_scheduler

        attach_loop(broker, loop)
        self.worker = dramatiq.Worker(broker, worker_threads=self.settings.broker.worker_threads)
        self.worker.start()
        if self.with_scheduler:
            self.scheduler_task = asyncio.create_task(
                run_scheduler(self.stop_event, self.settings.scheduler.interval_seconds)
            )
        log.info(
            "embedded worker started",
            extra={"scheduler": "in-process" if self.with_scheduler else "separate"},
        )

    async def stop(self) -> None:
        """Stop the scheduler, then the worker (its threads may be awaiting this loop)."""
        self.stop_event.set()
        if self.scheduler_task:
            await self.scheduler_task
        if self.worker:
            # Worker.stop() joins threads that may be running coroutines on this very loop,
            # so it must not block the loop.
            await asyncio.to_thread(self.worker.stop)
