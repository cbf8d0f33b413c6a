"""``/metrics`` for a set of worker processes: each child counts into files of its own
(Prometheus multi-process mode) and the supervising process serves their sum."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable

from settings import environment_with

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve_worker_metrics(host: str, port: int) -> tuple[dict[str, str], Callable[[], None]]:
    """Start serving the children's metrics on ``host:port``; returns the environment the
    children need and a function that stops serving and removes their files.

    Raises OSError when the port cannot be bound (said before any child starts).
    """
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    directory = tempfile.mkdtemp(prefix="slipguard-worker-metrics-")  # this user only
    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=directory)
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError:
        shutil.rmtree(directory, ignore_errors=True)
        raise

    def stop() -> None:
        server.shutdown()
        thread.join(timeout=5)
        shutil.rmtree(directory, ignore_errors=True)

    return environment_with({MULTIPROC_ENV: directory}), stop
