"""Log lines are structured and never carry credentials."""

from __future__ import annotations

import json
import logging

from core.logs import JsonFormatter, TextFormatter


def record(msg: str, *args: object, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("slipguard.test", logging.INFO, __file__, 1, msg, args, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_json_lines_carry_extras() -> None:
    line = JsonFormatter().format(
        record("GET %s %s", "/healthz", 200, request_id="abc", status=200)
    )
    entry = json.loads(line)
    assert entry["msg"] == "GET /healthz 200"
    assert entry["request_id"] == "abc" and entry["status"] == 200
    assert entry["level"] == "info" and entry["logger"] == "slipguard.test"


def test_api_keys_and_bearer_tokens_are_masked() -> None:
    key = "sg_0123456789_" + "s3cr3t" * 7
    for formatter in (JsonFormatter(), TextFormatter()):
        out = formatter.format(record("got %s and Bearer abc.def", key))
        assert "s3cr3t" not in out and "abc.def" not in out
        assert "sg_0123456789_***" in out
