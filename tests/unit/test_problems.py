"""The error map: unexpected errors are a plain 500 problem, logged with the request id."""

from __future__ import annotations

import logging

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from api.observability import RequestContextMiddleware
from api.problems import EXCEPTION_HANDLERS
from core.errors import Conflict, FieldError, Invalid


@get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internals: password=hunter2")


@get("/invalid")
async def invalid() -> None:
    raise Invalid("bad things", [FieldError("behaviours[2].at", "unknown anchor", 14)])


@get("/conflict")
async def conflict() -> None:
    raise Conflict("already there")


def client() -> TestClient[Litestar]:
    app = Litestar(
        [boom, invalid, conflict],
        middleware=[RequestContextMiddleware],
        exception_handlers=EXCEPTION_HANDLERS,
        logging_config=None,
    )
    return TestClient(app)


def test_unexpected_errors_hide_internals_but_log_them(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="slipguard.errors"), client() as c:
        r = c.get("/boom", headers={"X-Request-ID": "req-42"})
    assert r.status_code == 500 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["request_id"] == "req-42" and "hunter2" not in r.text and "Traceback" not in r.text
    assert any(getattr(rec, "request_id", None) == "req-42" for rec in caplog.records)


def test_domain_errors_carry_status_fields_and_lines() -> None:
    with client() as c:
        r = c.get("/invalid")
        assert r.status_code == 422
        assert r.json()["errors"] == [
            {"field": "behaviours[2].at", "message": "unknown anchor", "line": 14}
        ]
        r = c.get("/conflict")
        assert r.status_code == 409 and r.json()["type"].endswith("/conflict")
