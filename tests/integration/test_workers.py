"""Separate, supervised worker processes on real Redis and RabbitMQ brokers."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import slipguard_bin
from tests.support.services import amqp_url, redis_url, require


async def wait_heartbeat(token: str, timeout: float = 30) -> dict[str, Any]:
    from coaching.services import heartbeats

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = await heartbeats(token)
        if rows:
            return rows[0]
        await asyncio.sleep(0.2)
    raise AssertionError(f"no worker answered ping {token} within {timeout}s")


@pytest.mark.parametrize("kind", ["redis", "rabbitmq"])
async def test_supervised_worker_answers_pings_and_survives_sigkill(kind: str, client: Any) -> None:
    from coaching.actors import ping
    from coaching.broker import build_broker
    from settings import BrokerSettings

    url = require(redis_url if kind == "redis" else amqp_url)
    env = dict(os.environ, SLIPGUARD_BROKER_URL=url, SLIPGUARD_BROKER_HEARTBEAT_TIMEOUT_MS="2000")
    log = tempfile.NamedTemporaryFile(  # noqa: SIM115 - the child writes to it
        prefix=f"slipguard-worker-{kind}-", suffix=".log", delete=False
    )
    supervisor = subprocess.Popen(
        [slipguard_bin(), "worker", "--processes", "1", "--threads", "2"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    sender = build_broker(BrokerSettings(url=url, heartbeat_timeout_ms=2000))
    sender.declare_queue("default")
    try:
        first = secrets.token_hex(6)
        await asyncio.to_thread(sender.enqueue, ping.message(first))
        row = await wait_heartbeat(first)
        pid = int(str(row["worker"]).split(":")[1].split("/")[0])
        assert pid != supervisor.pid

        os.kill(pid, signal.SIGKILL)
        second = secrets.token_hex(6)
        await asyncio.to_thread(sender.enqueue, ping.message(second))
        row = await wait_heartbeat(second)
        assert int(str(row["worker"]).split(":")[1].split("/")[0]) != pid
        assert supervisor.poll() is None, "the supervisor keeps running after a child dies"
    finally:
        sender.close()
        supervisor.send_signal(signal.SIGTERM)
        try:
            code = supervisor.wait(timeout=30)
        finally:
            output = Path(log.name).read_text(errors="replace")
            Path(log.name).unlink(missing_ok=True)
    assert code == 0, output
    assert "SIGKILL" in output and "restart" in output, output
