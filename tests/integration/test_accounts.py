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
    answer.session = jar(client)
    client.cookies.clear()
    return answer


def jar(client: Any) -> dict[str, str]:
    """The client's cookies by name (the last one set wins)."""
    return {cookie.name: cookie.value for cookie in client.cookies.jar}


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


async def change_password(client: Any, cookies: dict[str, str], **form: str) -> Any:
    """Post the password form with the session's CSRF token."""
    client.cookies.update(cookies)
    page = await client.get("/account/password")
    assert page.status_code == 200, page.text
    answer = await client.post(
        "/account/password",
        data={"_csrf_token": csrf_token(page.text), **form},
        follow_redirects=False,
    )
    answer.session = jar(client)
    client.cookies.clear()
    return answer


async def page_status(client: Any, cookies: dict[str, str], path: str = "/staff") -> int:
    client.cookies.update(cookies)
    r = await client.get(path, follow_redirects=False)
    client.cookies.clear()
    return int(r.status_code)


async def test_changing_the_password_ends_every_other_session(client: Any, org: Org) -> None:
    email = org.users["manager"].email
    phone = (await login(client, email, org.password)).session
    desk = (await login(client, email, org.password)).session
    changed = await change_password(
        client,
        desk,
        current_password=org.password,
        new_password="a brand new password",
        confirm_password="a brand new password",
    )
    assert (
        changed.status_code == 303 and changed.headers["location"] == "/account/password?done=true"
    )
    # The session that made the change carries on; the other one has ended.
    assert await page_status(client, changed.session) == 200
    assert "has been changed" in (await _get(client, changed.session, changed.headers["location"]))
    assert await page_status(client, phone) == 303
    assert (await login(client, email, org.password)).status_code == 401
    assert (await login(client, email, "a brand new password")).status_code == 303


async def _get(client: Any, cookies: dict[str, str], path: str) -> str:
    client.cookies.update(cookies)
    r = await client.get(path)
    client.cookies.clear()
    return str(r.text)


async def test_a_bad_password_change_names_each_problem_and_changes_nothing(
    client: Any, org: Org
) -> None:
    email = org.users["staff"].email
    session = (await login(client, email, org.password)).session
    r = await change_password(
        client, session, current_password=org.password, new_password="short", confirm_password="x"
    )
    assert r.status_code == 422
    assert "at least 10 characters" in r.text and "does not match" in r.text
    r = await change_password(
        client,
        session,
        current_password=org.password,
        new_password=org.password,
        confirm_password=org.password,
    )
    assert r.status_code == 422 and "must differ" in r.text
    assert await page_status(client, session) == 200  # nothing ended
    assert (await login(client, email, org.password)).status_code == 303


async def test_the_password_form_needs_a_session_and_its_csrf_token(client: Any, org: Org) -> None:
    assert await page_status(client, {}, "/account/password") == 303
    session = (await login(client, org.users["staff"].email, org.password)).session
    client.cookies.update(session)
    forged = await client.post(
        "/account/password",
        data={
            "current_password": org.password,
            "new_password": "x" * 12,
            "confirm_password": "x" * 12,
        },
        follow_redirects=False,
    )
    client.cookies.clear()
    assert forged.status_code == 403
    assert (await login(client, org.users["staff"].email, org.password)).status_code == 303


async def test_guessing_the_current_password_is_throttled_like_a_login(
    client: Any, org: Org
) -> None:
    from core.identity import MAX_ACCOUNT_FAILURES
    from core.tables import LoginFailure

    email = org.users["admin"].email
    session = (await login(client, email, org.password)).session
    guess = {"new_password": "x" * 12, "confirm_password": "x" * 12}
    for i in range(MAX_ACCOUNT_FAILURES):
        r = await change_password(client, session, current_password=f"guess {i}", **guess)
        assert r.status_code == 422 and "not your current password" in r.text
    blocked = await change_password(client, session, current_password=org.password, **guess)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # The login form is throttled by the same failures.
    assert (await login(client, email, org.password)).status_code == 429
    await LoginFailure.delete().where(LoginFailure.email == email)
    assert await page_status(client, session) == 200
