"""Integration tests for coaching.supervisor using real (dummy) child processes."""

from __future__ import annotations

import itertools
import logging
import os
import signal
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

from coaching.supervisor import Supervisor, SupervisorConfig, SupervisorError

T = TypeVar("T")

# Each child records "<slot> <start time>" in <dir>/<pid>.start (atomically, and only after
# its signal handling is set up, so the test never signals a half-initialised child).
# Modes: "sleep" exits 0 on SIGTERM after writing <pid>.stopped, "crash" exits 3 at once,
# "stubborn" ignores SIGTERM.
CHILD = textwrap.dedent(
    """
    import os, signal, sys, time
    out, mode = sys.argv[1], sys.argv[2]
    pid = os.getpid()

    def on_term(signum, frame):
        open(os.path.join(out, f"{pid}.stopped"), "w").close()
        sys.exit(0)

    if mode == "stubborn":
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    else:
        signal.signal(signal.SIGTERM, on_term)
    tmp = os.path.join(out, f"{pid}.tmp")
    with open(tmp, "w") as f:
        f.write(f"{os.environ['SLIPGUARD_WORKER_SLOT']} {time.time()}")
    os.replace(tmp, os.path.join(out, f"{pid}.start"))
    if mode == "crash":
        sys.exit(3)
    while True:
        time.sleep(60)
    """
)


@dataclass(frozen=True)
class Start:
    pid: int
    slot: int
    at: float


def make_config(
    tmp_path: Path, mode: str = "sleep", processes: int = 2, **timings: float
) -> SupervisorConfig:
    return SupervisorConfig(
        command=[sys.executable, "-c", CHILD, str(tmp_path), mode],
        processes=processes,
        env=None,
        **timings,
    )


def starts(tmp_path: Path) -> list[Start]:
    """All child starts recorded so far, oldest first."""
    found = []
    for path in tmp_path.glob("*.start"):
        slot, at = path.read_text().split()
        found.append(Start(int(path.stem), int(slot), float(at)))
    return sorted(found, key=lambda s: s.at)


def stopped(tmp_path: Path, pid: int) -> bool:
    return (tmp_path / f"{pid}.stopped").exists()


def wait_for(predicate: Callable[[], T | None], timeout: float = 5.0) -> T:
    """Poll until predicate returns something truthy, failing after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := predicate():
            return result
        time.sleep(0.02)
    raise AssertionError(f"condition not met within {timeout}s")


@contextmanager
def supervising(config: SupervisorConfig) -> Iterator[tuple[Supervisor, Future[int]]]:
    """Run a Supervisor in a background thread; always stop it (and its children) on exit."""
    supervisor = Supervisor(config)
    with ThreadPoolExecutor(max_workers=1) as pool:
        future = pool.submit(supervisor.run)
        try:
            yield supervisor, future
        finally:
            supervisor.request_stop()
            future.result(timeout=10)


def slots_started(tmp_path: Path, count: int) -> list[Start] | None:
    found = starts(tmp_path)
    return found if len(found) >= count else None


def test_killed_child_is_restarted_in_same_slot(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="coaching.supervisor")
    config = make_config(tmp_path, restart_backoff_initial=0.1)
    with supervising(config) as (supervisor, _):
        first = wait_for(lambda: slots_started(tmp_path, 2))
        assert sorted(s.slot for s in first) == [0, 1]
        assert sorted(supervisor.children()) == sorted(s.pid for s in first)

        victim = next(s for s in first if s.slot == 0)
        survivor = next(s for s in first if s.slot == 1)
        os.kill(victim.pid, signal.SIGKILL)

        replacement = wait_for(lambda: slots_started(tmp_path, 3))[-1]
        assert replacement.slot == 0
        assert replacement.pid != victim.pid
        assert supervisor.restarts == 1
        assert sorted(supervisor.children()) == sorted([replacement.pid, survivor.pid])

    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(
        f"slot 0 (pid {victim.pid})" in m and "SIGKILL" in m and "restarting in 0.1s" in m
        for m in messages
    ), messages


def test_crashing_child_restarts_with_growing_backoff(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="coaching.supervisor")
    config = make_config(
        tmp_path, "crash", processes=1, restart_backoff_initial=0.3, restart_backoff_max=1.2
    )
    with supervising(config) as (supervisor, _):
        found = wait_for(lambda: slots_started(tmp_path, 5), timeout=20)
        restarts = supervisor.restarts

    assert restarts >= 4
    assert {s.slot for s in found} == {0}
    # Backoff delays run 0.3, 0.6, 1.2, 1.2 (capped); each interval also includes the
    # child's start-up and up to one poll interval, which vary by a few hundred ms on a
    # busy machine: the delays are long enough for their growth to show through that.
    gaps = [b.at - a.at for a, b in itertools.pairwise(found)][:4]
    assert gaps[0] < gaps[1] < gaps[2], gaps
    assert gaps[2] - gaps[0] >= 0.6, gaps
    assert gaps[3] < gaps[2] + 0.9, gaps  # capped: uncapped would add another 1.2 s
    assert any("exited with exit code 3" in r.getMessage() for r in caplog.records)


def test_request_stop_terminates_children_gracefully(tmp_path: Path) -> None:
    with supervising(make_config(tmp_path)) as (supervisor, future):
        pids = [s.pid for s in wait_for(lambda: slots_started(tmp_path, 2))]
        supervisor.request_stop()
        assert future.result(timeout=5) == 0

    assert all(stopped(tmp_path, pid) for pid in pids)
    assert supervisor.children() == []
    assert supervisor.restarts == 0


def test_sigterm_to_supervisor_stops_children(tmp_path: Path) -> None:
    original = signal.getsignal(signal.SIGTERM)

    def send_sigterm_when_ready() -> None:
        wait_for(lambda: slots_started(tmp_path, 2))
        # Children only exist once run() has installed its handler, so this cannot hit
        # pytest's default SIGTERM disposition.
        assert signal.getsignal(signal.SIGTERM) is not original
        os.kill(os.getpid(), signal.SIGTERM)

    sender = threading.Thread(target=send_sigterm_when_ready, daemon=True)
    sender.start()
    assert Supervisor(make_config(tmp_path)).run() == 0  # in the main thread
    sender.join(timeout=5)

    assert all(stopped(tmp_path, s.pid) for s in starts(tmp_path))
    assert signal.getsignal(signal.SIGTERM) is original


def test_child_ignoring_sigterm_is_killed_after_timeout(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="coaching.supervisor")
    config = make_config(tmp_path, "stubborn", processes=1, shutdown_timeout=0.5)
    with supervising(config) as (supervisor, future):
        (child,) = wait_for(lambda: slots_started(tmp_path, 1))
        began = time.monotonic()
        supervisor.request_stop()
        assert future.result(timeout=5) == 0
        elapsed = time.monotonic() - began

    assert 0.5 <= elapsed < 2.0
    assert not stopped(tmp_path, child.pid)
    assert supervisor.children() == []
    assert any(f"pid {child.pid} ignored SIGTERM" in r.getMessage() for r in caplog.records)


def test_missing_command_raises(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-worker")
    supervisor = Supervisor(SupervisorConfig(command=[missing, "--flag"], processes=2, env=None))
    original = signal.getsignal(signal.SIGTERM)
    with pytest.raises(SupervisorError, match="no-such-worker"):
        supervisor.run()
    assert signal.getsignal(signal.SIGTERM) is original
