"""One worker process: a Dramatiq Worker over the configured broker until SIGTERM/SIGINT.

``slipguard worker`` runs several of these under :mod:`coaching.supervisor`, which
restarts any that die (the plain ``dramatiq`` CLI exits when one child is killed).
"""

from __future__ import annotations

import logging
import signal
import sys
import threading

import dramatiq

from core.logs import configure_logging
from settings import get_settings

# How long a stopping worker waits for the messages in hand: less than the supervisor's
# 30 s grace, so it is never killed mid-shutdown. A send still unfinished is left claimed
# and is recovered (looked up at the provider before any resend) like a crashed one.
STOP_TIMEOUT_MS = 20_000


def main(threads: int | None = None) -> int:
    """Run until signalled; returns the exit code."""
    settings = get_settings()
    configure_logging(settings.server)
    if settings.broker.kind == "memory":
        print(
            "error: SLIPGUARD_BROKER_URL is not set; a separate worker needs redis:// or "
            "amqp:// (without it, `slipguard serve` runs the worker in-process)",
            file=sys.stderr,
        )
        return 2
    import coaching.actors  # noqa: F401 - registers the actors on the broker
    from coaching.broker import broker
    from coaching.delivery import use_sender_threads

    broker.emit_after("process_boot")
    count = threads or settings.broker.worker_threads
    use_sender_threads(count)
    worker = dramatiq.Worker(broker, worker_threads=count)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    worker.start()
    logging.getLogger("slipguard.worker").info(
        "worker started", extra={"queues": sorted(broker.get_declared_queues())}
    )
    stop.wait()
    worker.stop(timeout=STOP_TIMEOUT_MS)
    broker.close()
    return 0


if __name__ == "__main__":
    threads = int(sys.argv[1]) if len(sys.argv) > 1 else None
    sys.exit(main(threads))
