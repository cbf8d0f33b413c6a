"""Hostile input gets a clear 4xx naming what is wrong, never a stall, a 500 or a
half-written change (on SQLite and PostgreSQL alike)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from slips.tables import Slip
from tests.conftest import Org
from tests.factories import JOURNEY, assert_problem, run

YAML = {"content-type": "application/yaml"}


def alias_bomb(levels: int) -> str:
    """A few hundred bytes that expand tenfold per level when aliases are followed."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * 10)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


HOSTILE_YAML = {
    "alias bomb": (alias_bomb(6), "anchors (&name) and aliases"),
    "recursive alias": ("key: &a [*a]\n", "anchors (&name) and aliases"),
    "complex key": ("? [a, b]\n: c\n", "a key must be plain text"),
    "deep nesting": ("a: " + "[" * 2000 + "]" * 2000 + "\n", "nested more than 32 levels"),
    "too many values": ("a: [" + ", ".join(["1"] * 25_000) + "]\n", "more than 20,000 values"),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_YAML))
async def test_hostile_yaml_is_refused_before_it_is_expanded(
    client: Any, org: Org, name: str
) -> None:
    source, message = HOSTILE_YAML[name]
    r = await client.post(
        "/api/v1/journeys", headers={**org.auth("manager"), **YAML}, content=source
    )
    problem = assert_problem(r, 422)
    [error] = problem["errors"]
    assert error["field"] == "yaml" and message in error["message"] and error["line"] >= 1
    # The service stayed responsive and nothing was loaded.
    assert (await client.get("/healthz")).status_code == 200
    listed = await client.get("/api/v1/journeys", headers=org.auth("staff"))
    assert listed.json()["items"] == []


def test_the_cli_refuses_the_same_files_with_file_and_line(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(alias_bomb(7))
    result = run("journeys", "validate", str(bomb))
    assert result.returncode == 1
    assert f"{bomb}:1:" in result.stdout + result.stderr
    assert "aliases" in result.stdout + result.stderr and "Traceback" not in result.stderr


async def test_nul_characters_are_refused_everywhere_and_named(client: Any, org: Org) -> None:
    h = org.auth("manager")
    await client.post("/api/v1/journeys", headers={**h, **YAML}, content=JOURNEY.encode())
    slip = {"journey": "tenancy-check", "behaviour": "check-in", "note": "a\u0000b"}
    problem = assert_problem(await client.post("/api/v1/slips", headers=h, json=slip), 422)
    assert [e["field"] for e in problem["errors"]] == ["note"]
    batch = {"items": [{**slip, "note": "fine"}, {**slip, "site": "x\u0000"}]}
    problem = assert_problem(await client.post("/api/v1/slips/batch", headers=h, json=batch), 422)
    assert problem["errors"][0]["field"] == "items[1].site"
    person = {"first_name": "Ada\u0000", "consent": []}
    problem = assert_problem(await client.post("/api/v1/customers", headers=h, json=person), 422)
    assert [e["field"] for e in problem["errors"]] == ["first_name"]
    anchors = {"customer_id": "00000000-0000-0000-0000-000000000000", "journey": "x",
               "anchors": {"start\u0000": "now"}}  # fmt: skip
    problem = assert_problem(await client.post("/api/v1/enrollments", headers=h, json=anchors), 422)
    assert problem["errors"][0]["field"] == "anchors"
    for url, field in (
        ("/api/v1/customers?q=a%00b", "query.q"),
        ("/api/v1/slips?site=x%00", "query.site"),
        ("/api/v1/slips?journey=%00", "query.journey"),
        ("/api/v1/journeys/a%00b", "path"),
    ):
        problem = assert_problem(await client.get(url, headers=h), 422)
        assert [e["field"] for e in problem["errors"]] == [field], url
    assert await Slip.count().where(Slip.organization == org.id) == 0


async def test_a_nul_in_a_login_is_a_failed_login(client: Any, org: Org) -> None:
    r = await _login(client, "admin\u0000@x.test", "p\u0000")
    assert r.status_code in (200, 401) and "Traceback" not in r.text
    assert "wrong email or password" in r.text.lower() or r.status_code == 401


async def test_bodies_that_are_not_json_get_400_or_415(client: Any, org: Org) -> None:
    h = org.auth("staff")
    json_type = {**h, "content-type": "application/json"}
    for body in (
        b'{"journey": "\xff\xfe", "behaviour": "x"}',  # not UTF-8 inside a string
        b'{"a":' * 1200 + b"1" + b"}" * 1200,  # nested deeper than any decoder allows
        b"[" * 1500 + b"]" * 1500,
    ):
        problem = assert_problem(
            await client.post("/api/v1/slips", headers=json_type, content=body), 400
        )
        assert "not valid JSON" in problem["detail"]
    truncated = await client.post("/api/v1/slips", headers=json_type, content=b'{"journey": ')
    assert_problem(truncated, 400)
    body = b'{"journey": "x", "behaviour": "y"}'
    for kind in ("text/plain", "application/xml", "application/x-www-form-urlencoded", None):
        headers = {**h, "content-type": kind} if kind else dict(h)
        problem = assert_problem(
            await client.post("/api/v1/slips", headers=headers, content=body), 415
        )
        assert "application/json" in problem["detail"]
    manager = org.auth("manager")
    r = await client.post("/api/v1/journeys", headers=manager, content=JOURNEY.encode())
    assert_problem(r, 415)


OUT_OF_RANGE = ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00")


@pytest.mark.parametrize("stamp", OUT_OF_RANGE)
async def test_times_out_of_range_are_named_not_500(client: Any, org: Org, stamp: str) -> None:
    import base64
    import json

    h = org.auth("manager")
    raw = json.dumps([stamp, "00000000-0000-0000-0000-000000000000"]).encode()
    cursor = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    for path in ("/api/v1/slips", "/api/v1/customers", "/api/v1/enrollments"):
        r = await client.get(path, headers=h, params={"cursor": cursor})
        assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["cursor"], path
    for name in ("since", "until"):
        r = await client.get("/api/v1/slips", headers=h, params={name: stamp})
        assert [e["field"] for e in assert_problem(r, 422)["errors"]] == [name]
    await client.post("/api/v1/journeys", headers={**h, **YAML}, content=JOURNEY.encode())
    r = await client.get(
        "/api/v1/journeys/tenancy-check/preview", headers=h, params={"start": stamp}
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "query.start"
    person = await client.post("/api/v1/customers", headers=h, json={"first_name": "Ada"})
    enrol = {
        "customer_id": person.json()["id"],
        "journey": "tenancy-check",
        "anchors": {"start": stamp},
    }
    r = await client.post("/api/v1/enrollments", headers=h, json=enrol)
    assert assert_problem(r, 422)["errors"][0]["field"] == "anchors.start"


async def test_any_cursor_of_the_documented_form_is_a_position(client: Any, org: Org) -> None:
    import base64

    from core.pagination import CURSOR_PATTERN

    h = org.auth("manager")
    await client.post("/api/v1/customers", headers=h, json={"first_name": "Ada"})
    first = await client.get("/api/v1/customers", headers=h, params={"limit": 1})
    assert first.status_code == 200
    # Far before and far after every row: the first page and an empty one, never a 422.
    for raw, found in ((b"\x80" + b"\x00" * 23, True), (b"\x7f" + b"\xff" * 23, False)):
        cursor = base64.urlsafe_b64encode(raw).decode()
        assert re.fullmatch(CURSOR_PATTERN, cursor)
        r = await client.get("/api/v1/customers", headers=h, params={"cursor": cursor})
        assert r.status_code == 200 and bool(r.json()["items"]) is found
    for bad in ("1e100", "A" * 31 + "=", "A" * 33, "+" * 32):
        r = await client.get("/api/v1/customers", headers=h, params={"cursor": bad})
        assert [e["field"] for e in assert_problem(r, 422)["errors"]] == ["cursor"], bad


@pytest.mark.parametrize("stamp", ["1900-01-01T00:00:00+14:00", "2199-12-31T23:59:59-14:00"])
async def test_times_in_the_accepted_years_are_accepted_at_any_offset(
    client: Any, org: Org, stamp: str
) -> None:
    r = await client.get("/api/v1/slips", headers=org.auth(), params={"since": stamp})
    assert r.status_code == 200, r.text


async def test_readyz_checks_at_most_every_few_seconds(client: Any, monkeypatch: Any) -> None:
    import asyncio

    from api.controllers import health
    from core import db

    calls = []
    real = db.ping

    async def counted() -> None:
        calls.append(1)
        await real()

    monkeypatch.setattr(db, "ping", counted)
    monkeypatch.setitem(health._ready, "until", 0.0)
    answers = await asyncio.gather(*(client.get("/readyz") for _ in range(20)))
    assert {r.status_code for r in answers} == {200} and len(calls) == 1
    assert len({r.text for r in answers}) == 1
    monkeypatch.setitem(health._ready, "until", 0.0)  # the interval has passed
    assert (await client.get("/readyz")).status_code == 200 and len(calls) == 2


def test_text_logs_cannot_be_forged_with_newlines() -> None:
    import logging

    from core.logs import TextFormatter

    record = logging.LogRecord("slipguard.access", logging.INFO, "", 0, "GET %s 404", ("/x\n"
        "ERROR slipguard.auth: admin logged in\x1b[2J",), None)  # fmt: skip
    record.org = "acme\r\nfake"
    line = TextFormatter().format(record)
    assert "\n" not in line and "\r" not in line and "\x1b" not in line
    assert "/x\\nERROR" in line and "acme\\r\\nfake" in line


async def test_the_data_directory_and_database_are_private(tmp_path: Path) -> None:
    import stat

    from core.db import make_engine, prepare_sqlite
    from settings import DatabaseSettings

    data = tmp_path / "fresh" / "slipguard"
    settings = DatabaseSettings(url=f"sqlite:///{data / 'x.sqlite3'}")
    make_engine(settings)
    prepare_sqlite(settings)
    assert stat.S_IMODE(data.stat().st_mode) == 0o700
    for made in data.iterdir():
        assert stat.S_IMODE(made.stat().st_mode) == 0o600, made


async def test_pages_carry_security_headers_and_the_api_stays_json(client: Any, org: Org) -> None:
    page = await client.get("/login")
    policy = page.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["x-frame-options"] == "DENY" and page.headers["referrer-policy"]
    api = await client.get("/api/v1/me", headers=org.auth())
    assert api.headers["x-content-type-options"] == "nosniff"
    assert "content-security-policy" not in api.headers


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/no-such-page", 404),
        ("GET", "/api/v1/no-such-thing", 404),
        ("DELETE", "/healthz", 405),
    ],
)
async def test_unmatched_paths_carry_the_request_id_and_security_headers(
    client: Any, method: str, path: str, status: int
) -> None:
    r = await client.request(method, path, headers={"X-Request-ID": "trace-unmatched"})
    body = assert_problem(r, status)
    assert r.headers.get_list("x-request-id") == ["trace-unmatched"]
    assert body["request_id"] == "trace-unmatched"
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["referrer-policy"]
    if not path.startswith("/api/"):
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
    made = await client.request(method, path)
    assert made.headers["x-request-id"] == made.json()["request_id"]
    text = (await client.get("/metrics")).text
    assert 'path="<unmatched>"' in text and "no-such" not in text


async def test_a_browser_gets_an_error_page_and_a_client_a_problem(client: Any) -> None:
    html = await client.get("/no-such-page", headers={"accept": "text/html,*/*;q=0.8"})
    assert html.status_code == 404 and html.headers["content-type"].startswith("text/html")
    assert "Not found" in html.text and "<h1" in html.text
    assert "Traceback" not in html.text and "{" not in html.text.split("<main>")[1][:200]
    plain = await client.get("/no-such-page")
    assert_problem(plain, 404)
    api = await client.get("/api/v1/no-such-thing", headers={"accept": "text/html"})
    assert api.status_code == 401 or api.headers["content-type"].startswith("application/problem")


async def _login(client: Any, email: str, password: str) -> Any:
    from tests.factories import csrf_token

    page = await client.get("/login")
    answer = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf_token(page.text)},
        follow_redirects=False,
    )
    client.cookies.clear()  # the client is shared: leave no session behind
    return answer


async def test_password_guessing_is_throttled_per_account(client: Any, org: Org) -> None:
    from core.identity import MAX_ACCOUNT_FAILURES
    from core.tables import LoginFailure

    email = org.users["staff"].email
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert (await _login(client, email, "not the password")).status_code == 401
    # Now even the right password waits: the guesser cannot tell which try was right.
    blocked = await _login(client, email, org.password)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    assert "too many failed logins for this account" in blocked.text.lower()
    # Another account from the same address is not locked out by this one's failures.
    assert (await _login(client, org.users["manager"].email, org.password)).status_code == 303
    # Once the failures have aged out of the window, the right password works and clears them.
    await LoginFailure.delete().where(LoginFailure.email == email)
    assert (await _login(client, email, org.password)).status_code == 303


async def test_password_checks_run_off_the_event_loop(
    client: Any, org: Org, monkeypatch: Any
) -> None:
    import threading

    from core import identity

    threads: list[str] = []
    real = identity._verify

    def watched(password_hash: str, password: str) -> bool:
        threads.append(threading.current_thread().name)
        return real(password_hash, password)

    monkeypatch.setattr(identity, "_verify", watched)
    assert (await _login(client, org.users["admin"].email, org.password)).status_code == 303
    assert (await _login(client, "nobody@example.test", "whatever")).status_code == 401
    assert len(threads) == 2 and all(t.startswith("argon2") for t in threads)


async def _session(client: Any, email: str, password: str) -> dict[str, str]:
    """Log in and return the session cookies (the shared client keeps none)."""
    from tests.factories import csrf_token

    page = await client.get("/login")
    r = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf_token(page.text)},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    cookies = dict(client.cookies)
    client.cookies.clear()
    return cookies


async def _staff_page(client: Any, cookies: dict[str, str]) -> int:
    client.cookies.update(cookies)
    r = await client.get("/staff", follow_redirects=False)
    client.cookies.clear()
    return int(r.status_code)


async def test_logout_ends_the_session_even_for_a_copied_cookie(client: Any, org: Org) -> None:
    from tests.factories import csrf_token

    email = org.users["staff"].email
    stolen = await _session(client, email, org.password)
    assert await _staff_page(client, stolen) == 200
    client.cookies.update(stolen)
    home = await client.get("/")
    out = await client.post(
        "/logout", data={"_csrf_token": csrf_token(home.text)}, follow_redirects=False
    )
    client.cookies.clear()
    assert out.status_code == 303
    assert await _staff_page(client, stolen) == 303  # the copy taken before logout is dead
    again = await _session(client, email, org.password)  # logging in again works
    assert await _staff_page(client, again) == 200


async def test_deactivating_a_user_ends_their_sessions(client: Any, org: Org) -> None:
    user = org.users["manager"]
    session = await _session(client, user.email, org.password)
    r = await client.post(f"/api/v1/users/{user.id}/deactivate", headers=org.auth("admin"))
    assert r.status_code == 200 and r.json()["active"] is False
    assert await _staff_page(client, session) == 303
    assert (await _login(client, user.email, org.password)).status_code == 401
    # Staff may not deactivate anyone, and another organisation's user is not found.
    r = await client.post(f"/api/v1/users/{user.id}/deactivate", headers=org.auth("staff"))
    assert r.status_code == 403


async def test_the_last_admin_key_cannot_be_revoked(client: Any, org: Org) -> None:
    from core import identity
    from core.errors import LastAdminKey

    h = org.auth("admin")
    last = org.key_ids["admin"]
    with pytest.raises(LastAdminKey):  # as the CLI would
        await identity.revoke_api_key(org.tenant, last)
    spare = await client.post(
        "/api/v1/api-keys", headers=h, json={"name": "spare", "role": "admin"}
    )
    assert spare.status_code == 201
    other = {"Authorization": f"Bearer {spare.json()['key']}"}
    assert (await client.post(f"/api/v1/api-keys/{last}/revoke", headers=other)).status_code == 200
    with pytest.raises(LastAdminKey):
        await identity.revoke_api_key(org.tenant, spare.json()["id"])


async def test_a_key_cannot_revoke_itself(client: Any, org: Org) -> None:
    h = org.auth("admin")
    spare = await client.post(
        "/api/v1/api-keys", headers=h, json={"name": "spare", "role": "admin"}
    )
    own = await client.post(f"/api/v1/api-keys/{org.key_ids['admin']}/revoke", headers=h)
    assert "cannot revoke itself" in assert_problem(own, 409)["detail"]
    assert (await client.get("/api/v1/me", headers=h)).status_code == 200
    other = {"Authorization": f"Bearer {spare.json()['key']}"}
    r = await client.post(f"/api/v1/api-keys/{org.key_ids['admin']}/revoke", headers=other)
    assert r.status_code == 200


async def test_json_bodies_are_read_strictly_as_their_schema_says(client: Any, org: Org) -> None:
    h = org.auth("staff")
    # A number is not a time, text is not a number: 422 naming the field, nothing stored.
    for body, field in (
        ({"journey": "j", "behaviour": "b", "occurred_at": 0}, "occurred_at"),
        ({"journey": "j", "behaviour": "b", "severity": "5"}, "severity"),
        ({"items": [{"journey": "j", "behaviour": "b", "occurred_at": 0}]}, "items[0].occurred_at"),
    ):
        path = "/api/v1/slips/batch" if "items" in body else "/api/v1/slips"
        problem = assert_problem(await client.post(path, headers=h, json=body), 422)
        assert [e["field"] for e in problem["errors"]] == [field], problem


async def test_null_is_not_a_value_of_a_typed_query_parameter(client: Any, org: Org) -> None:
    h = org.auth("staff")
    for path, name in (
        ("/api/v1/slips", "reporter_user"),
        ("/api/v1/enrollments", "customer_id"),
        ("/api/v1/enrollments", "status"),
    ):
        r = await client.get(path, headers=h, params={name: "null"})
        assert [e["field"] for e in assert_problem(r, 422)["errors"]] == [f"query.{name}"]
    # Text may say null: it is a search like any other.
    assert (
        await client.get("/api/v1/customers", headers=h, params={"q": "null"})
    ).status_code == 200
    for value in ("0.5", "2026-01-01T00:00:00", "1e9"):
        r = await client.get("/api/v1/slips", headers=h, params={"until": value})
        assert_problem(r, 422)
