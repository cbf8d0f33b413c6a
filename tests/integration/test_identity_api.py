"""Identity API: authentication, roles, tenancy and input errors, through HTTP."""

from __future__ import annotations

from typing import Any

from tests.conftest import Org
from tests.factories import PROBLEM, assert_problem


async def test_me_names_organisation_role_and_credential(client: Any, org: Org) -> None:
    r = await client.get("/api/v1/me", headers=org.auth("staff"))
    assert r.status_code == 200
    body = r.json()
    assert body["organization"]["slug"] == org.slug
    assert body["role"] == "staff" and body["kind"] == "api_key"
    assert body["api_key_id"] == str(org.key_ids["staff"])


async def test_missing_malformed_unknown_and_revoked_keys_are_401(client: Any, org: Org) -> None:
    assert_problem(await client.get("/api/v1/me"), 401)
    body = assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": "Basic abc"}), 401
    )
    assert "Bearer" in body["detail"]
    forged = org.keys["admin"][:-4] + "AAAA"
    assert_problem(
        await client.get("/api/v1/me", headers={"Authorization": f"Bearer {forged}"}), 401
    )
    assert_problem(await client.get("/api/v1/me", headers={"Authorization": "Bearer sg_nope"}), 401)

    r = await client.post(f"/api/v1/api-keys/{org.key_ids['staff']}/revoke", headers=org.auth())
    assert r.status_code == 200 and r.json()["revoked_at"]
    body = assert_problem(await client.get("/api/v1/me", headers=org.auth("staff")), 401)
    assert "revoked" in body["detail"]
    assert (await client.get("/api/v1/me", headers=org.auth("manager"))).status_code == 200


async def test_roles_are_ordered_staff_manager_admin(client: Any, org: Org) -> None:
    body = assert_problem(await client.get("/api/v1/users", headers=org.auth("staff")), 403)
    assert "manager" in body["detail"]
    assert (await client.get("/api/v1/users", headers=org.auth("manager"))).status_code == 200
    assert_problem(await client.get("/api/v1/api-keys", headers=org.auth("manager")), 403)
    assert (await client.get("/api/v1/api-keys", headers=org.auth("admin"))).status_code == 200


async def test_new_key_is_shown_once_and_works(client: Any, org: Org) -> None:
    r = await client.post(
        "/api/v1/api-keys", headers=org.auth(), json={"name": "tablet", "role": "staff"}
    )
    assert r.status_code == 201
    created = r.json()
    assert created["key"].startswith(f"sg_{created['prefix']}_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {created['key']}"})
    assert me.json()["name"] == "tablet"
    listed = (await client.get("/api/v1/api-keys", headers=org.auth())).json()["items"]
    assert created["id"] in [k["id"] for k in listed]
    assert all("key" not in k and "key_hash" not in k for k in listed)
    one = await client.get(f"/api/v1/api-keys/{created['id']}", headers=org.auth())
    assert one.json()["last_used_at"] is not None


async def test_other_organisations_objects_are_not_found(
    client: Any, org: Org, other_org: Org
) -> None:
    key_id = org.key_ids["staff"]
    assert_problem(await client.get(f"/api/v1/api-keys/{key_id}", headers=other_org.auth()), 404)
    assert_problem(
        await client.post(f"/api/v1/api-keys/{key_id}/revoke", headers=other_org.auth()), 404
    )
    user_id = org.users["staff"].id
    assert_problem(await client.get(f"/api/v1/users/{user_id}", headers=other_org.auth()), 404)
    # the key of the first organisation still works: nothing was changed
    assert (await client.get("/api/v1/me", headers=org.auth("staff"))).status_code == 200


async def test_unknown_fields_and_wrong_types_are_422_naming_the_field(
    client: Any, org: Org
) -> None:
    r = await client.post(
        "/api/v1/api-keys", headers=org.auth(), json={"name": "x", "role": "staff", "colour": 1}
    )
    body = assert_problem(r, 422)
    assert body["errors"][0]["field"] == "colour"
    r = await client.post("/api/v1/api-keys", headers=org.auth(), json={"name": 5, "role": "staff"})
    assert assert_problem(r, 422)["errors"][0]["field"] == "name"
    r = await client.post(
        "/api/v1/api-keys", headers=org.auth(), json={"name": "x", "role": "owner"}
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "role"
    r = await client.post("/api/v1/api-keys", headers=org.auth(), json={"name": "x"})
    assert assert_problem(r, 422)["errors"][0]["field"] == "role"
    r = await client.post(
        "/api/v1/api-keys", headers={**org.auth(), "content-type": "application/json"}, content=b"{"
    )
    assert r.status_code in (400, 422) and r.headers["content-type"].startswith(PROBLEM)


async def test_oversized_body_is_413(client: Any, org: Org, settings: Any) -> None:
    big = b'{"name": "' + b"x" * (settings.server.max_body_bytes + 10) + b'", "role": "staff"}'
    r = await client.post(
        "/api/v1/api-keys", headers={**org.auth(), "content-type": "application/json"}, content=big
    )
    assert_problem(r, 413)


async def test_users_created_by_admin_can_be_listed_and_duplicates_conflict(
    client: Any, org: Org
) -> None:
    payload = {"email": f"new@{org.slug}.test", "role": "staff", "password": "long enough password"}
    r = await client.post("/api/v1/users", headers=org.auth(), json=payload)
    assert r.status_code == 201 and "password" not in r.text and "hash" not in r.text
    assert_problem(await client.post("/api/v1/users", headers=org.auth(), json=payload), 409)
    short = {**payload, "email": f"short@{org.slug}.test", "password": "short"}
    body = assert_problem(await client.post("/api/v1/users", headers=org.auth(), json=short), 422)
    assert body["errors"][0]["field"] == "password"
    emails = [
        u["email"] for u in (await client.get("/api/v1/users", headers=org.auth())).json()["items"]
    ]
    assert payload["email"] in emails


async def test_request_id_is_echoed_or_made(client: Any) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces"})
    assert (
        r.headers["x-request-id"] != "bad id with spaces" and len(r.headers["x-request-id"]) == 32
    )


async def test_unknown_route_and_method_are_problems(client: Any, org: Org) -> None:
    assert_problem(await client.get("/api/v1/nothing-here", headers=org.auth()), 404)
    assert_problem(await client.delete("/api/v1/me", headers=org.auth()), 405)


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one Prometheus sample (0 when absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def test_metrics_count_requests_by_route_template_and_status(client: Any, org: Org) -> None:
    route = "/api/v1/slips/{slip_id}"
    before = (await client.get("/metrics")).text
    missing = "/api/v1/slips/00000000-0000-4000-8000-000000000000"
    for _ in range(4):
        r = await client.get(missing, headers=org.auth("staff"))
        assert r.status_code == 404 and len(r.headers.get_list("x-request-id")) == 1
    text = (await client.get("/metrics")).text
    # Labelled by the route's template, never by the id in the URL.
    assert "00000000-0000-4000-8000-000000000000" not in text
    count = _sample(text, "slipguard_requests_total", path=route, status_code="404")
    assert count - _sample(before, "slipguard_requests_total", path=route, status_code="404") == 4
    hist = _sample(text, "slipguard_request_duration_seconds_count", path=route, method="GET")
    assert hist >= 4
    assert _sample(text, "slipguard_requests_in_progress", path=route) == 0
    # The scrape itself is not counted.
    assert 'path="/metrics"' not in text
    # A 401 raised by authentication (outside the route) is counted as 401, not 500, and
    # still carries the request id.
    before = text
    r = await client.get(missing, headers={"X-Request-ID": "trace-401"})
    assert r.status_code == 401 and r.headers["x-request-id"] == "trace-401"
    text = (await client.get("/metrics")).text
    for status, added in (("401", 1), ("500", 0)):
        now = _sample(text, "slipguard_requests_total", path=route, status_code=status)
        assert (
            now - _sample(before, "slipguard_requests_total", path=route, status_code=status)
            == added
        )
    # A page without a login is answered with a redirect, and counted as one.
    page = await client.get("/staff", follow_redirects=False)
    assert page.status_code == 303 and page.headers["location"].startswith("/login")
    after = (await client.get("/metrics")).text
    assert _sample(after, "slipguard_requests_total", path="/staff", status_code="303") >= 1
    assert _sample(after, "slipguard_requests_total", path="/staff", status_code="401") == 0


def test_every_api_route_and_page_declares_the_role_it_needs(app: Any) -> None:
    """Roles are route options checked by the auth middleware: a route without one would
    be open to any authenticated caller, so each must say which role it needs."""
    import re

    from api.auth import LOGIN_PATHS, PUBLIC_PATHS, ROLE_OPT

    # The auth middleware skips these paths, so a role declared under one is never checked.
    public = re.compile("|".join([*PUBLIC_PATHS, *LOGIN_PATHS]))
    missing, unchecked = [], []
    for route in app.routes:
        for handler in getattr(route, "route_handlers", []):
            name = f"{sorted(handler.http_methods)} {route.path}"
            if public.match(route.path):
                if ROLE_OPT in handler.opt:
                    unchecked.append(name)
            elif ROLE_OPT not in handler.opt and handler.http_methods != {"OPTIONS"}:
                missing.append(name)
    assert not missing, f"routes that declare no role: {missing}"
    assert not unchecked, f"roles the auth middleware would never check: {unchecked}"
    # Prefixes of public paths are not public.
    for path in ("/login-as", "/metrics-x", "/healthzz", "/schemas"):
        assert not public.match(path), path
