"""``slipguard serve`` as a user runs it: the embedded shape in one process."""

from __future__ import annotations

import json
import time
import urllib.request
from typing import Any

from tests.conftest import LiveServer


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers=headers or {})
    with urllib.request.urlopen(request, timeout=5) as r:
        return r.status, json.loads(r.read())


def test_serve_answers_health_schema_and_processes_pings(live_server: LiveServer) -> None:
    status, body = get(live_server.url + "/healthz")
    assert (status, body) == (200, {"status": "ok"})
    status, schema = get(live_server.url + "/schema/openapi.json")
    assert status == 200
    assert {"/api/v1/me", "/api/v1/api-keys", "/healthz", "/readyz"} <= set(schema["paths"])
    # /readyz sends a ping through the in-process broker; the embedded worker answers it
    # on the app's own loop and records a heartbeat.
    get(live_server.url + "/readyz")
    deadline = time.monotonic() + 10
    workers: list[Any] = []
    while time.monotonic() < deadline and not workers:
        status, ready = get(live_server.url + "/readyz")
        assert status == 200 and ready["checks"]["database"] == "ok"
        workers = [w for w in ready["checks"]["workers"] if w["seen_seconds_ago"] < 10]
        time.sleep(0.2)
    assert workers, live_server.output()


def test_metrics_are_prometheus_text(live_server: LiveServer) -> None:
    get(live_server.url + "/healthz")
    with urllib.request.urlopen(live_server.url + "/metrics", timeout=5) as r:
        text = r.read().decode()
    assert r.headers["content-type"].startswith("text/plain")
    assert "slipguard_requests_total" in text and 'path="/healthz"' in text
