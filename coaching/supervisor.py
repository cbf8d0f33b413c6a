"""A small process supervisor that keeps N copies of a worker command running.

The stock ``dramatiq`` master process exits as soon as one of its children is SIGKILLed
(e.g. by the OOM killer), so ``slipguard worker`` runs its workers under this supervisor
instead: it restarts crashed children with per-slot exponential backoff and shuts them
all down cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import contextlib
import logging
import shlex
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from types import FrameType
from typing import Any

from settings import WORKER_SLOT, worker_environment

logger = logging.getLogger(__name__)

POLL_INTERVAL = 0.2
"""Upper bound, in seconds, on how long a child exit or a stop request goes unnoticed."""

SLOT_ENV_VAR = WORKER_SLOT


class SupervisorError(RuntimeError):
    """Raised when the child command cannot be started at all."""


@dataclass
class SupervisorConfig:
    """What to run and how to restart and stop it.

    ``env`` has :class:`subprocess.Popen` semantics: ``None`` inherits this process's
    environment; ``SLIPGUARD_WORKER_SLOT`` is always added on top.
    """

    command: list[str]
    processes: int
    env: dict[str, str] | None = None
    restart_backoff_initial: float = 0.5
    restart_backoff_max: float = 30.0
    stable_after: float = 10.0
    shutdown_timeout: float = 30.0


@dataclass
class _Slot:
    index: int
    delay: float
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float | None = None


class Supervisor:
    """Runs ``config.processes`` children of ``config.command`` until asked to stop."""

    def __init__(self, config: SupervisorConfig) -> None:
        if config.processes < 1:
            raise ValueError(f"processes must be >= 1, got {config.processes}")
        self.config = config
        self.restarts = 0
        self._slots = [_Slot(i, config.restart_backoff_initial) for i in range(config.processes)]
        # A plain flag rather than threading.Event: Event.set() takes a non-reentrant lock,
        # which can deadlock when called from a signal handler that interrupted Event.wait().
        self._stopping = False

    def children(self) -> list[int]:
        """Pids of the children that are currently running."""
        return [s.proc.pid for s in self._slots if s.proc is not None and s.proc.returncode is None]

    def request_stop(self) -> None:
        """Ask :meth:`run` to stop its children and return; safe from any thread."""
        self._stopping = True

    def run(self) -> int:
        """Start the children and supervise them until stopped; returns the exit status (0)."""
        previous: dict[signal.Signals, Any] = {}
        # Signal handlers can only be installed from the main thread; embedders and tests
        # running us in another thread use request_stop() instead.
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, self._on_signal)
        try:
            for slot in self._slots:
                self._spawn(slot)
            while not self._stopping:
                time.sleep(self._check(time.monotonic()))
        finally:
            # Also reached when a (re)start fails, so no child outlives the supervisor.
            self._shutdown()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return 0

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.request_stop()

    def _spawn(self, slot: _Slot) -> int:
        env = worker_environment(slot.index, self.config.env)
        try:
            slot.proc = subprocess.Popen(self.config.command, env=env)
        except OSError as exc:
            cmd = shlex.join(self.config.command)
            raise SupervisorError(f"cannot start worker command {cmd!r}: {exc}") from exc
        slot.started_at = time.monotonic()
        slot.restart_at = None
        return slot.proc.pid

    def _check(self, now: float) -> float:
        """Reap exited children, restart due ones; return how long to sleep."""
        cfg = self.config
        for slot in self._slots:
            if slot.proc is not None and (code := slot.proc.poll()) is not None:
                if now - slot.started_at >= cfg.stable_after:
                    slot.delay = cfg.restart_backoff_initial
                slot.restart_at = now + slot.delay
                logger.warning(
                    "worker slot %d (pid %d) exited with %s; restarting in %.1fs",
                    slot.index,
                    slot.proc.pid,
                    _describe(code),
                    slot.delay,
                )
                slot.delay = min(slot.delay * 2, cfg.restart_backoff_max)
                slot.proc = None
            elif slot.restart_at is not None and now >= slot.restart_at:
                pid = self._spawn(slot)
                self.restarts += 1
                logger.warning("worker slot %d restarted as pid %d", slot.index, pid)
        # Wake early for a pending restart so the backoff delays stay accurate.
        pending = [s.restart_at - now for s in self._slots if s.restart_at is not None]
        return max(0.0, min([POLL_INTERVAL, *pending]))

    def _shutdown(self) -> None:
        procs = [s.proc for s in self._slots if s.proc is not None and s.proc.poll() is None]
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):  # exited since poll()
                proc.terminate()
        deadline = time.monotonic() + self.config.shutdown_timeout
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                logger.warning("worker pid %d ignored SIGTERM; sending SIGKILL", proc.pid)
                proc.kill()
                proc.wait()


def _describe(returncode: int) -> str:
    """Human-readable exit status: Popen reports death-by-signal as a negative code."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"
