"""Log configuration for every process (API, worker, scheduler, CLI): JSON lines or text
on stderr, with secrets masked whatever a log call passes."""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
from abc import ABC, abstractmethod
from typing import Any

import msgspec

from settings import ServerSettings

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message",  # uvicorn's ANSI duplicate of msg
}  # fmt: skip
# Belt and braces: whatever a log call passes, bearer tokens and API keys are masked.
_TOKEN = re.compile(r"(sg_[0-9a-f]{10}_)[A-Za-z0-9_-]+|(Bearer\s+)\S+", re.IGNORECASE)


# Control characters in text lines, written escaped (\n, \x1b, ...).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _escape(match: re.Match[str]) -> str:
    return repr(match.group())[1:-1]


# Values JSON cannot hold (ids, times, exceptions) are written as their text.
_encode = msgspec.json.Encoder(enc_hook=str).encode


def mask(text: str) -> str:
    """``text`` with API keys and bearer tokens reduced to their public prefix."""
    return _TOKEN.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """What the log call passed with ``extra=``."""
    fields = record.__dict__
    return {k: fields[k] for k in fields if k not in _STANDARD and k[0] != "_"}


class LineFormatter(logging.Formatter, ABC):
    """A formatter whose line can also be rendered without a LogRecord (the access log)."""

    @abstractmethod
    def render(
        self, created: float, level: str, name: str, message: str, extras: dict[str, Any]
    ) -> str:
        """One line; an ``exc`` extra (a traceback) is part of it."""

    def format(self, record: logging.LogRecord) -> str:
        extras = _extras(record)
        if record.exc_info:
            extras["exc"] = self.formatException(record.exc_info)
        return self.render(
            record.created, record.levelname, record.name, record.getMessage(), extras
        )


class JsonFormatter(LineFormatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields.

    Every request writes one of these (the access log), so it is built cheaply: the
    timestamp's seconds are formatted once per second and msgspec encodes the line.
    """

    def __init__(self) -> None:
        super().__init__()
        self._second = -1
        self._stamp = ""

    def render(
        self, created: float, level: str, name: str, message: str, extras: dict[str, Any]
    ) -> str:
        second = int(created)
        if second != self._second:
            self._second = second
            self._stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        entry: dict[str, Any] = {
            "ts": f"{self._stamp}.{int((created - second) * 1000):03d}Z",
            "level": level.lower(),
            "logger": name,
            "msg": mask(message),
        }
        for key, value in extras.items():
            entry[key] = mask(value) if isinstance(value, str) else value
        return _encode(entry).decode()


class TextFormatter(LineFormatter):
    """Readable single lines for a terminal, with extras as key=value."""

    def render(
        self, created: float, level: str, name: str, message: str, extras: dict[str, Any]
    ) -> str:
        trace = extras.pop("exc", None)
        pairs = " ".join(f"{k}={v}" for k, v in extras.items())
        # One record, one line: a newline in a path (%0A) must not forge a second record.
        line = _CONTROL.sub(_escape, f"{level:<7} {name}: {mask(message)} {mask(pairs)}".rstrip())
        return f"{line}\n{mask(trace)}" if trace else line


# The handler configure_logging installed, which the access log writes to directly.
_handler: list[logging.StreamHandler[Any]] = []


class AccessLog:
    """One line per request, in the format of every other line.

    Written straight to the stream :func:`configure_logging` set up: a LogRecord, the
    handler chain and the generic formatter cost a tenth of a small request
    (docs/benchmarks.md). When logging is configured otherwise (tests capturing logs, an
    embedding application), lines go through the logging module as usual.
    """

    def __init__(self) -> None:
        self.logger = logging.getLogger("slipguard.access")

    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)

    def write(self, message: str, extras: dict[str, Any]) -> None:
        handler = _handler[0] if _handler else None
        formatter = handler.formatter if handler is not None else None
        if (
            handler is None
            or not isinstance(formatter, LineFormatter)
            or logging.getLogger().handlers != _handler
            or self.logger.handlers
        ):
            self.logger.info(message, extra=extras)
            return
        line = formatter.render(time.time(), "INFO", self.logger.name, message, extras)
        with handler.lock or contextlib.nullcontext():
            handler.stream.write(line + "\n")
            handler.stream.flush()


def configure_logging(server: ServerSettings) -> None:
    """Send every log record to stderr, JSON or text per settings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if server.log_json else TextFormatter())
    # No log line shows the thread, process or process name, so records need not look them
    # up: a third of building one, on every request.
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _handler[:] = [handler]
    root.setLevel(server.log_level)
    # The Twilio SDK writes eight INFO lines per API call, a list call's query (the
    # customer's number) among them: a privacy leak, and a fifth of a worker's busy time.
    for noisy in ("uvicorn.access", "pika", "dramatiq.worker.ConsumerThread", "twilio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
