"""Keeping one organisation's bad row from stopping another's background work.

Scheduler jobs work in batches across organisations. When a row cannot be handled (a
stored definition that no longer decodes, a zone name the system no longer knows, an
organisation whose writes fail), the job sets it aside in a :class:`Quarantine`, logs it
once, and goes on with the rest. Set-aside keys are left out of the job's next claims, so
they cannot starve others by always sorting first, and are tried again after a while (a
fix or a deploy may have mended them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Hashable
from typing import Generic, TypeVar

log = logging.getLogger("slipguard.jobs")
K = TypeVar("K", bound=Hashable)


class Quarantine(Generic[K]):
    """Keys a job could not handle, set aside for ``seconds``; each is logged once per spell."""

    def __init__(self, job: str, what: str, seconds: float = 900.0) -> None:
        self.job = job
        self.what = what
        self.seconds = seconds
        self._until: dict[K, float] = {}

    def add(self, key: K, error: BaseException) -> None:
        """Set ``key`` aside after ``error`` (logged with its traceback on first sight)."""
        if key not in self.active():
            log.error(
                "%s: set aside %s %s for %.0f s after an error; other work goes on",
                self.job,
                self.what,
                key,
                self.seconds,
                exc_info=error,
                extra={"job": self.job, "key": str(key)},
            )
        self._until[key] = time.monotonic() + self.seconds

    def active(self) -> list[K]:
        """The keys currently set aside (expired ones are forgotten)."""
        moment = time.monotonic()
        for key in [k for k, until in self._until.items() if until <= moment]:
            del self._until[key]
        return list(self._until)

    def clear(self) -> None:
        """Forget every key (tests, or an operator's retry)."""
        self._until.clear()
