"""Log lines are structured and never carry credentials."""

from __future__ import annotations

import json
import logging
from typing import Any

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


def test_extras_are_masked_and_written_as_text_when_json_cannot_hold_them() -> None:
    import uuid
    from datetime import UTC, datetime

    key = "sg_0123456789_" + "s3cr3t" * 7
    ident = uuid.uuid4()
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    line = JsonFormatter().format(record("call", header=f"Bearer {key}", who=ident, at=moment, n=3))
    assert "s3cr3t" not in line
    entry = json.loads(line)
    assert entry["header"] == "Bearer ***" and entry["n"] == 3
    assert entry["who"] == str(ident) and entry["at"].startswith("2026-01-02")


def test_timestamps_follow_the_record_across_seconds() -> None:
    formatter = JsonFormatter()
    first, second = record("a"), record("b")
    first.created, first.msecs = 1_800_000_000.25, 250
    second.created, second.msecs = 1_800_000_001.5, 500
    stamps = [json.loads(formatter.format(r))["ts"] for r in (first, second, first)]
    assert stamps == [
        "2027-01-15T08:00:00.250Z",
        "2027-01-15T08:00:01.500Z",
        "2027-01-15T08:00:00.250Z",
    ]


def test_the_access_log_writes_lines_like_every_other_and_masks_them(
    capsys: Any, caplog: Any
) -> None:
    from core.logs import AccessLog, configure_logging
    from settings import ServerSettings

    saved = logging.getLogger().handlers[:], logging.getLogger().level
    try:
        for as_json in (True, False):
            configure_logging(ServerSettings(log_json=as_json, log_level="INFO"))
            AccessLog().write("GET /x 200", {"request_id": "sg_0123456789_s3cr3t", "status": 200})
            line = capsys.readouterr().err.strip()
            assert "s3cr3t" not in line and "sg_0123456789_***" in line
            if as_json:
                entry = json.loads(line)
                assert entry["logger"] == "slipguard.access" and entry["msg"] == "GET /x 200"
                assert entry["status"] == 200 and entry["level"] == "info"
            else:
                assert line.startswith("INFO    slipguard.access: GET /x 200 request_id=")
        # Logging configured otherwise (here: captured), the lines go through it as usual.
        logging.getLogger().addHandler(caplog.handler)
        AccessLog().write("GET /y 404", {"status": 404})
        assert [r.getMessage() for r in caplog.records] == ["GET /y 404"]
        assert caplog.records[0].status == 404
    finally:
        logging.getLogger().handlers[:], level = saved
        logging.getLogger().setLevel(level)
