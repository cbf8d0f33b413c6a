"""Session login for the pages: CSRF-protected form, redirects, logout."""

from __future__ import annotations

from typing import Any

from tests.conftest import Org
from tests.factories import csrf_token


async def test_pages_redirect_to_login_when_logged_out(client: Any) -> None:
    r = await client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/"


async def test_login_home_and_logout(client: Any, org: Org) -> None:
    client.cookies.clear()
    form = await client.get("/login?next=/")
    token = csrf_token(form.text)
    r = await client.post(
        "/login",
        data={
            "email": org.users["manager"].email,
            "password": org.password,
            "next": "/",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    # managers land on the dashboards; the home page's links stay one click away
    assert r.status_code == 303 and r.headers["location"] == "/dashboards"
    home = await client.get("/")
    assert home.status_code == 200 and "Alpha Test" in home.text and "manager" in home.text
    r = await client.post(
        "/logout", data={"_csrf_token": csrf_token(home.text)}, follow_redirects=False
    )
    assert r.status_code == 303
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    client.cookies.clear()


async def test_wrong_password_shows_one_message_and_no_session(client: Any, org: Org) -> None:
    client.cookies.clear()
    token = csrf_token((await client.get("/login")).text)
    for email in (org.users["staff"].email, "nobody@nowhere.test"):
        r = await client.post(
            "/login", data={"email": email, "password": "wrong password!", "_csrf_token": token}
        )
        assert r.status_code == 401 and "Wrong email or password." in r.text
    assert (await client.get("/", follow_redirects=False)).status_code == 303
    client.cookies.clear()


async def test_login_without_csrf_token_is_refused(client: Any, org: Org) -> None:
    client.cookies.clear()
    await client.get("/login")
    r = await client.post(
        "/login", data={"email": org.users["staff"].email, "password": org.password}
    )
    assert r.status_code == 403
    client.cookies.clear()


async def test_login_never_redirects_off_site(client: Any, org: Org) -> None:
    client.cookies.clear()
    token = csrf_token((await client.get("/login")).text)
    r = await client.post(
        "/login",
        data={
            "email": org.users["staff"].email,
            "password": org.password,
            "next": "//evil.example/x",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.headers["location"] == "/"
    client.cookies.clear()


async def test_session_cookie_does_not_authenticate_the_api(client: Any, org: Org) -> None:
    client.cookies.clear()
    token = csrf_token((await client.get("/login")).text)
    await client.post(
        "/login",
        data={"email": org.users["admin"].email, "password": org.password, "_csrf_token": token},
    )
    assert (await client.get("/", follow_redirects=False)).status_code == 200
    assert (await client.get("/api/v1/me")).status_code == 401
    client.cookies.clear()
