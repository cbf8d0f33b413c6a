"""Staff accounts across organisations, and password changes."""

from __future__ import annotations

import secrets
from typing import Any

from tests.conftest import Org
from tests.factories import assert_problem, csrf_token


async def login(client: Any, email: str, password: str, **extra: str) -> Any:
    """Post the login form; the shared client keeps no cookie afterwards."""
    page = await client.get("/login")
    answer = await client.post(
        "/login",
        data={"email": email, "password": password, "_csrf_token": csrf_token(page.text), **extra},
        follow_redirects=False,
    )
    answer.session = dict(client.cookies)
    client.cookies.clear()
    return answer


async def whoami(client: Any, cookies: dict[str, str]) -> str:
    """The organisation the home page names for a session ("" when it asks to log in)."""
    client.cookies.update(cookies)
    page = await client.get("/", follow_redirects=False)
    client.cookies.clear()
    return page.text if page.status_code == 200 else ""


def new_user(email: str, password: str, role: str = "staff") -> dict[str, str]:
    return {"email": email, "role": role, "password": password, "name": "Pat"}


async def test_an_email_used_by_another_organisation_is_not_revealed(
    client: Any, org: Org, other_org: Org
) -> None:
    taken = org.users["staff"].email
    # The other organisation learns nothing: the address is simply free there.
    r = await client.post(
        "/api/v1/users", headers=other_org.auth(), json=new_user(taken, "another password 1")
    )
    assert r.status_code == 201, r.text
    assert r.json()["email"] == taken
    # Inside one organisation an email is still one user.
    again = await client.post(
        "/api/v1/users", headers=other_org.auth(), json=new_user(taken.upper(), "x" * 12)
    )
    body = assert_problem(again, 409)
    assert "this organisation" in body["detail"]


async def test_one_email_in_two_organisations_logs_in_to_the_matching_one(
    client: Any, org: Org, other_org: Org
) -> None:
    email = f"both-{secrets.token_hex(3)}@example.test"
    for o, password in ((org, "first password 1"), (other_org, "second password 2")):
        r = await client.post("/api/v1/users", headers=o.auth(), json=new_user(email, password))
        assert r.status_code == 201
    first = await login(client, email, "first password 1")
    assert first.status_code == 303 and "Alpha Test" in await whoami(client, first.session)
    second = await login(client, email, "second password 2")
    assert second.status_code == 303 and "Beta Test" in await whoami(client, second.session)
    assert (await login(client, email, "neither password")).status_code == 401


async def test_the_same_password_in_two_organisations_asks_which_one(
    client: Any, org: Org, other_org: Org
) -> None:
    email = f"same-{secrets.token_hex(3)}@example.test"
    for o in (org, other_org):
        r = await client.post(
            "/api/v1/users", headers=o.auth(), json=new_user(email, "shared password")
        )
        assert r.status_code == 201
    asked = await login(client, email, "shared password")
    assert asked.status_code == 401 and 'name="organization"' in asked.text
    assert "more than one organisation" in asked.text
    chosen = await login(client, email, "shared password", organization=other_org.slug)
    assert chosen.status_code == 303 and "Beta Test" in await whoami(client, chosen.session)
    # Naming an organisation the password does not open is a plain failed login.
    wrong = await login(client, email, "wrong password", organization=org.slug)
    assert wrong.status_code == 401 and "Wrong email or password" in wrong.text
