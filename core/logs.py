"""Log configuration for every process (API, worker, scheduler, CLI): JSON lines or text
on stderr, with secrets masked whatever a log call passes."""

from __future__ import annotations

import json
import logging
import re
import sys
import time
from typing import Any

from settings import ServerSettings

# Attributes every LogRecord has; anything else was passed with ``extra=`` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {
    "message", "asctime", "taskName", "color_message",  # uvicorn's ANSI duplicate of msg
}  # fmt: skip
# Belt and braces: whatever a log call passes, bearer tokens and API keys are masked.
_TOKEN = re.compile(r"(sg_[0-9a-f]{10}_)[A-Za-z0-9_-]+|(Bearer\s+)\S+", re.IGNORECASE)


def mask(text: str) -> str:
    return _TOKEN.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any ``extra`` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": mask(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = mask(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class TextFormatter(logging.Formatter):
    """Readable single lines for a terminal, with extras as key=value."""

    def format(self, record: logging.LogRecord) -> str:
        extras = " ".join(
            f"{k}={v}"
            for k, v in vars(record).items()
            if k not in _STANDARD and not k.startswith("_")
        )
        line = f"{record.levelname:<7} {record.name}: {mask(record.getMessage())} {extras}"
        if record.exc_info:
            line += "\n" + mask(self.formatException(record.exc_info))
        return line.rstrip()


def configure_logging(server: ServerSettings) -> None:
    """Send every log record to stderr, JSON or text per settings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if server.log_json else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(server.log_level)
    for noisy in ("uvicorn.access", "pika", "dramatiq.worker.ConsumerThread"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
