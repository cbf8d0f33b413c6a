"""The Dramatiq broker, chosen from settings, with the middleware every actor relies on.

* no ``SLIPGUARD_BROKER_URL``: an in-process StubBroker; its workers run inside the API
  process and async actors run on the API's own event loop (so they share its database
  pool; an asyncpg pool belongs to one loop);
* ``redis://``: RedisBroker with a short heartbeat, so a crashed worker's messages come
  back in seconds rather than minutes;
* ``amqp://``: RabbitmqBroker.

Separate worker processes get Dramatiq's AsyncIO loop thread plus :class:`DatabasePool`,
which opens the database pool on that loop after boot.
"""

from __future__ import annotations

import asyncio
import logging
import threading

import dramatiq
from dramatiq.asyncio import EventLoopThread, get_event_loop_thread, set_event_loop_thread
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import AsyncIO, Middleware

from core.db import close_pool, start_pool
from settings import BrokerSettings, get_settings

log = logging.getLogger("slipguard.broker")


class AppLoopThread(EventLoopThread):
    """Dramatiq's loop-thread interface over a loop that someone else runs (the API's)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        threading.Thread.__init__(self, daemon=True)
        self.loop = loop
        self.logger = log
        self.interrupt_check_ival = 0.1

    def start(self, *, timeout: float | None = None) -> None:
        """Nothing to start: the owner runs the loop."""

    def stop(self) -> None:
        """Nothing to stop: the owner closes the loop."""


class AppLoop(Middleware):
    """Run async actors on a loop attached with :func:`attach_loop` (in-process mode)."""

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def before_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        if self.loop is None:
            raise RuntimeError("in-process worker started before attach_loop() was called")
        set_event_loop_thread(AppLoopThread(self.loop))

    def after_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        set_event_loop_thread(None)


class DatabasePool(Middleware):
    """Open the database pool on the worker's own event loop (after AsyncIO has made it)."""

    def after_worker_boot(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(start_pool(get_settings().database))

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        thread = get_event_loop_thread()
        if thread is not None:
            thread.run_coroutine(close_pool())


def build_broker(settings: BrokerSettings) -> dramatiq.Broker:
    """A broker for the given settings, with our middleware installed."""
    broker: dramatiq.Broker
    if settings.kind == "memory":
        broker = StubBroker()
        broker.add_middleware(AppLoop())
        return broker
    if settings.kind == "redis":
        from dramatiq.brokers.redis import RedisBroker

        broker = RedisBroker(
            url=settings.url,
            heartbeat_timeout=settings.heartbeat_timeout_ms,
            # Maintenance (moving a dead worker's unacked messages back) runs on every
            # command instead of 0.1% of them, so redelivery waits on the heartbeat only.
            maintenance_chance=1_000_000,
            socket_timeout=10,
            socket_connect_timeout=5,
        )
    else:
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        broker = RabbitmqBroker(url=settings.url, confirm_delivery=True)
    broker.add_middleware(AsyncIO())
    broker.add_middleware(DatabasePool())
    return broker


def attach_loop(broker: dramatiq.Broker, loop: asyncio.AbstractEventLoop) -> None:
    """Make an in-process broker's async actors run on ``loop``."""
    for middleware in broker.middleware:
        if isinstance(middleware, AppLoop):
            middleware.loop = loop
            return
    raise RuntimeError("this broker is not in-process; its workers run their own loop")


broker = build_broker(get_settings().broker)
dramatiq.set_broker(broker)
