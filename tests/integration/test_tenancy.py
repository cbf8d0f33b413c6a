"""Every route registered on the app, called with another organisation's admin key.

New routes are covered automatically: a route with a path parameter this test does not
know fails the test until a fixture object is added to OBJECTS below.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

from litestar.routes import HTTPRoute

from journeys.enrollments import services as enrollments
from slips import validation, writes
from tests.conftest import Org

# Pages that show no organisation data (probes, docs, static files, the login pages), and
# the public routes whose credential is not a login but a signature or a signed token
# (provider webhooks, unsubscribe links, customers' own pages):
# test_public_routes_check_their_own_credential and test_customer_links_open_only_their_own.
PUBLIC = re.compile(
    r"^/(healthz|readyz|metrics|schema|static|login|logout|webhooks|unsubscribe|c)(/|$)|^/$"
)

# path parameter name -> an object of the *victim* organisation (see ``victim`` below)
OBJECTS: dict[str, Callable[[Org], Any]] = {
    "key_id": lambda org: org.key_ids["manager"],
    "user_id": lambda org: org.users["manager"].id,
    "customer_id": lambda org: org.extra["customer_id"],
    "journey_key": lambda org: org.extra["journey_key"],
    "enrollment_id": lambda org: org.extra["enrollment_id"],
    "step_id": lambda org: org.extra["step_id"],
    "slip_id": lambda org: org.extra["slip_id"],
    "nudge_id": lambda org: org.extra["nudge_id"],
    "item_id": lambda org: org.extra["inbox_item_id"],
    "countermeasure_id": lambda org: org.extra["countermeasure_id"],
    "task_id": lambda org: org.extra["task_id"],
    "advisory_id": lambda org: org.extra["advisory_id"],
}

# Bodies that pass validation, so a route cannot answer 422 before it checks ownership.
BODIES: dict[tuple[str, str], Any] = {
    ("POST", "/api/v1/slips/{slip_id:uuid}/void"): {"reason": "probe"},
    ("PATCH", "/api/v1/slips/{slip_id:uuid}"): {"note": "probe"},
    ("POST", "/api/v1/countermeasures/{countermeasure_id:uuid}/end"): {},
    ("POST", "/api/v1/tasks/{task_id:uuid}/close"): {"outcome": "probe"},
    ("POST", "/api/v1/customers/{customer_id:uuid}/consents"): {
        "channel": "sms",
        "purpose": "informational",
        "status": "revoked",
        "source": "staff",
    },
}


async def populate(org: Org) -> None:
    """Give the victim one object of every kind a route can name."""
    from journeys import services as journeys
    from journeys.tables import Customer
    from tests.factories import JOURNEY

    tenant = org.tenant
    customer = tenant.new(Customer, first_name="Vic", timezone="Europe/London", pseudonym="v" * 16)
    await customer.save()
    await journeys.load_journey(tenant, JOURNEY)
    done = await enrollments.enroll(tenant, customer.id, "tenancy-check", {})
    steps = await enrollments.steps_of(tenant, done.enrollment.id)
    slip = await writes.record_slip(
        tenant,
        validation.SlipInput(
            journey="tenancy-check", behaviour="check-in", customer_id=customer.id
        ),
        validation.Reporter(),
    )
    from coaching.tables import Nudge

    nudge = await Nudge.select(Nudge.id).where(Nudge.enrollment == done.enrollment.id).first()
    assert nudge is not None
    from coaching import tasks
    from core import clock

    task = await tasks.open_task(
        tenant, key=f"probe:{slip.id}", reason="escalate", title="Call Vic", due_hours=24,
        now=clock.now(), customer=customer.id, slip=slip.id,
    )  # fmt: skip
    from coaching.tables import InboundMessage
    from core.ids import new_id

    item = tenant.new(
        InboundMessage, id=new_id(), provider_id="SM" + uuid.uuid4().hex, sender="+14155550199",
        body="who is this?", outcome="unknown_sender", needs_staff=True,
    )  # fmt: skip
    await item.save()
    from datetime import date
    from zoneinfo import ZoneInfo

    from dashboards import countermeasures
    from dashboards.measure_schemas import CountermeasureIn

    measure = await countermeasures.create(
        tenant,
        CountermeasureIn(
            journey="tenancy-check",
            behaviour="check-in",
            strategy="signage",
            start_date=date(2020, 1, 1),
        ),
        ZoneInfo("UTC"),
    )
    from coaching import advisories

    advisory = await advisories.create_advisory(
        tenant,
        advisories.AdvisoryRequest(
            "tenancy-check", None, "Closed today", "sms", "informational", None
        ),
    )
    org.extra.update(
        advisory_id=advisory.id,
        inbox_item_id=item.id,
        countermeasure_id=measure.id,
        task_id=task,
        nudge_id=nudge["id"],
        slip_id=slip.id,
        customer_id=customer.id,
        journey_key="tenancy-check",
        enrollment_id=done.enrollment.id,
        step_id=steps[0].id,
    )


def api_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        if isinstance(route, HTTPRoute) and route.path.startswith("/api/"):
            for method in sorted(route.methods):
                if method not in ("HEAD", "OPTIONS"):
                    out.append((method, route.path))
    return out


def fill(path: str, victim: Org) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        assert name in OBJECTS, f"route {path} has path parameter {name!r}: add it to OBJECTS"
        return str(OBJECTS[name](victim))

    return re.sub(r"\{(\w+)(?::\w+)?\}", one, path)


def elsewhere(path: str, victim: Org) -> str:
    """The same path with every victim object replaced by one that exists nowhere."""
    for _name, pick in OBJECTS.items():
        try:
            value = str(pick(victim))
        except KeyError:
            continue
        replacement = str(uuid.uuid4()) if len(value) == 36 else f"nowhere-{uuid.uuid4().hex[:8]}"
        path = path.replace(value, replacement)
    return path


def shape(response: Any, path: str) -> tuple[int, str]:
    """Status and body with the requested ids and the request id blanked out."""
    text = response.text.replace(response.headers.get("x-request-id", "-"), "RID")
    for part in path.split("/"):
        if len(part) == 36 or part.startswith("nowhere-") or part == "tenancy-check":
            text = text.replace(part, "ID")
    return response.status_code, text


def victim_ids(victim: Org) -> list[str]:
    ids = [str(v) for v in victim.key_ids.values()] + [str(u.id) for u in victim.users.values()]
    return ids + [str(v) for k, v in victim.extra.items() if k != "journey_key"]


async def test_no_route_reads_or_changes_another_organisations_objects(
    app: Any, client: Any, org: Org, other_org: Org
) -> None:
    await populate(org)
    routes = api_routes(app)
    assert len(routes) >= 9, routes
    attacker = other_org.auth("admin")
    for method, template in routes:
        path = fill(template, org)
        body = BODIES.get((method, template), {} if method in ("POST", "PUT", "PATCH") else None)
        response = await client.request(method, path, headers=attacker, json=body)
        where = f"{method} {template}"
        if "{" in template:
            assert response.status_code == 404, f"{where}: {response.status_code} {response.text}"
            # Indistinguishable from an id that exists nowhere: existence does not leak.
            nowhere = elsewhere(path, org)
            baseline = await client.request(method, nowhere, headers=attacker, json=body)
            assert shape(response, path) == shape(baseline, nowhere), where
        else:
            assert response.status_code < 500, f"{where}: {response.text}"
            for victim_id in victim_ids(org):
                assert victim_id not in response.text, f"{where} leaked {victim_id}"
    # and nothing of the victim's changed: its keys still work
    for role in ("staff", "manager", "admin"):
        assert (await client.get("/api/v1/me", headers=org.auth(role))).status_code == 200


async def test_every_api_route_requires_a_key(app: Any, client: Any, org: Org) -> None:
    await populate(org)
    for method, template in api_routes(app):
        response = await client.request(method, fill(template, org))
        assert response.status_code == 401, f"{method} {template}: {response.status_code}"


def page_routes(app: Any) -> list[tuple[str, str]]:
    out = []
    for route in app.routes:
        path = route.path
        if isinstance(route, HTTPRoute) and not path.startswith("/api/") and not PUBLIC.match(path):
            out += [(m, path) for m in sorted(route.methods) if m not in ("HEAD", "OPTIONS")]
    return out


async def test_no_page_reads_or_changes_another_organisations_objects(
    app: Any, client: Any, org: Org, other_org: Org
) -> None:
    from tests.factories import csrf_token

    await populate(org)
    client.cookies.clear()
    token = csrf_token((await client.get("/login")).text)
    login = {
        "email": other_org.users["admin"].email,
        "password": other_org.password,
        "_csrf_token": token,
    }
    assert (await client.post("/login", data=login, follow_redirects=False)).status_code == 303
    headers = {"x-csrftoken": client.cookies.get("slipguard_csrf", "")}
    try:
        for method, template in page_routes(app):
            path = fill(template, org)
            response = await client.request(method, path, headers=headers, json={})
            where = f"{method} {template}"
            if "{" in template:
                assert response.status_code == 404, (
                    f"{where}: {response.status_code} {response.text}"
                )
            else:
                assert response.status_code < 500, f"{where}: {response.text}"
                for victim_id in victim_ids(org):
                    assert victim_id not in response.text, f"{where} leaked {victim_id}"
    finally:
        client.cookies.clear()


async def test_public_routes_check_their_own_credential(app: Any, client: Any, org: Org) -> None:
    """Webhooks answer only to the provider's signature, unsubscribe links only to a token
    this deployment signed; neither takes a session or an API key instead."""
    from coaching import unsubscribe
    from settings import get_settings

    await populate(org)
    public = [
        (m, p) for m, p in page_routes_all(app) if p.startswith(("/webhooks/", "/unsubscribe/"))
    ]
    assert {p for _, p in public} == {
        "/webhooks/twilio/status",
        "/webhooks/twilio/inbound",
        "/unsubscribe/{token:str}",
    }
    for headers in ({}, org.auth("admin")):
        r = await client.post(
            "/webhooks/twilio/status", data={"MessageSid": "SM1", "MessageStatus": "delivered"},
            headers=headers,
        )  # fmt: skip
        assert r.status_code == 403, r.text
        r = await client.post(
            "/webhooks/twilio/inbound",
            data={"MessageSid": "SM1", "From": "+14155550199", "To": "+15005550006",
                  "Body": "STOP"},
            headers=headers,
        )  # fmt: skip
        assert r.status_code == 403, r.text
    target = unsubscribe.Target(org.extra["customer_id"], "sms", "informational")
    genuine = unsubscribe.make_token(get_settings(), target)
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    for token in (forged, "x" * 46, "not-a-token"):
        for method in ("GET", "POST"):
            r = await client.request(method, f"/unsubscribe/{token}", headers=org.auth("admin"))
            assert r.status_code == 404, (method, token, r.status_code)
    assert (await client.get(f"/unsubscribe/{genuine}")).status_code == 200


def page_routes_all(app: Any) -> list[tuple[str, str]]:
    return [
        (m, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        for m in sorted(route.methods)
        if m not in ("HEAD", "OPTIONS")
    ]


async def test_customer_links_open_only_their_own(
    app: Any, client: Any, org: Org, other_org: Org
) -> None:
    """Every ``/c/`` route: a forged token opens nothing, whatever session or key comes
    with it; another customer's genuine token cannot reach the victim's rows."""
    from coaching import links
    from journeys.tables import Customer
    from settings import get_settings
    from tests.factories import csrf_token

    await populate(org)
    routes = [(m, p) for m, p in page_routes_all(app) if p.startswith("/c/")]
    assert len(routes) >= 10, routes
    settings = get_settings()
    genuine = links.make_token(settings, org.extra["customer_id"])
    forged = genuine[:-4] + ("AAAA" if not genuine.endswith("AAAA") else "BBBB")
    for token in (forged, "x" * 73, "not-a-token"):
        for method, template in routes:
            path = template.replace("{token:str}", token).replace(
                "{step_id:uuid}", str(org.extra["step_id"])
            )
            r = await client.request(method, path, headers=org.auth("admin"))
            # 403: a form post without its CSRF token is refused before the token is read.
            assert r.status_code in (403, 404), (method, template, r.status_code)
            assert "Vic" not in r.text
    # Another organisation's customer, with a genuine link of their own.
    intruder = other_org.tenant.new(Customer, first_name="Ivy", timezone="UTC", pseudonym="i" * 16)
    await intruder.save()
    theirs = links.PATH + links.make_token(settings, intruder.id)
    client.cookies.clear()
    headers = {"x-csrftoken": csrf_token((await client.get(theirs + "/privacy")).text)}
    # Deleting last: until then the intruder's link works, so every refusal is the route's.
    for method, template in sorted(routes, key=lambda r: r == ("POST", "/c/{token:str}/delete")):
        path = template.replace("/c/{token:str}", theirs).replace(
            "{step_id:uuid}", str(org.extra["step_id"])
        )
        r = await client.request(method, path, headers=headers, data={"reason": "probe"})
        if "{step_id" in template:
            assert r.status_code == 404, (method, template, r.status_code, r.text[:300])
        for victim_id in victim_ids(org):
            assert victim_id not in r.text, f"{method} {template} leaked {victim_id}"
    client.cookies.clear()
