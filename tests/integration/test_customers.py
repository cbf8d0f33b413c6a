"""Customers API: validation, consent history, search, paging, tenancy, export and erasure."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from litestar.routes import HTTPRoute

from core.tables import Organization
from core.tenancy import Tenant
from journeys import services
from journeys.customers import consent
from journeys.enrollments import services as enrollments
from journeys.tables import ConsentRecord, Customer, Enrollment, Step
from tests.conftest import Org
from tests.factories import assert_problem

BASE = "/api/v1/customers"


async def create(client: Any, org: Org, **fields: Any) -> dict[str, Any]:
    body = {"first_name": "Ada", **fields}
    r = await client.post(BASE, headers=org.auth("staff"), json=body)
    assert r.status_code == 201, r.text
    return r.json()


async def count_rows(org: Org) -> tuple[int, int]:
    return (
        await Customer.count().where(Customer.organization == org.id),
        await ConsentRecord.count().where(ConsentRecord.organization == org.id),
    )


def fields_of(problem: dict[str, Any]) -> set[str]:
    return {e["field"] for e in problem["errors"]}


def granted(channel: str = "sms", purpose: str = "informational", **extra: Any) -> dict[str, Any]:
    return {"channel": channel, "purpose": purpose, "status": "granted", "source": "staff", **extra}


async def test_create_normalises_contact_data_and_records_inline_consent(
    client: Any, org: Org
) -> None:
    await Organization.update({Organization.timezone: "Europe/Lisbon"}).where(
        Organization.id == org.id
    )
    body = await create(
        client,
        org,
        last_name="Lovelace",
        external_ref="P-1001",
        phone="(415) 555-0132",
        email="Ada.Lovelace@Example.COM",
        locale="en_gb",
        send_window_start="7:30",
        consent=[
            granted(text_shown="We will text you reminders.", evidence="signed at desk 3"),
            {**granted("email", "marketing"), "status": "revoked"},
        ],
    )
    assert body["phone"] == "+14155550132"
    assert body["email"] == "Ada.Lovelace@example.com"  # the mailbox name keeps its case
    assert body["locale"] == "en-GB" and body["send_window_start"] == "07:30"
    assert body["send_window_end"] == "21:00"
    assert body["timezone"] == "Europe/Lisbon"  # the organisation's zone by default
    assert re.fullmatch(r"[0-9a-f]{16}", body["pseudonym"])
    assert body["created_at"].endswith("Z") and body["erased_at"] is None
    assert {(c["channel"], c["purpose"], c["status"]) for c in body["consent"]} == {
        ("sms", "informational", "granted"),
        ("email", "marketing", "revoked"),
    }
    history = await client.get(f"{BASE}/{body['id']}/consents", headers=org.auth("staff"))
    items = history.json()["items"]
    assert len(items) == 2 and items[0]["evidence"] == "signed at desk 3"
    assert all(i["customer_id"] == body["id"] and i["recorded_at"].endswith("Z") for i in items)

    got = await client.get(f"{BASE}/{body['id']}", headers=org.auth("staff"))
    assert got.status_code == 200 and got.json() == body


async def test_phone_numbers_with_a_country_code_keep_it(client: Any, org: Org) -> None:
    uk = await create(client, org, phone="+44 20 7946 0958")
    assert uk["phone"] == "+442079460958"
    explicit = await create(client, org, phone="+1 415 555 0132", timezone="America/Los_Angeles")
    assert explicit["phone"] == "+14155550132"
    assert explicit["timezone"] == "America/Los_Angeles"


async def test_every_invalid_field_is_listed_and_nothing_is_written(client: Any, org: Org) -> None:
    before = await count_rows(org)
    payload = {
        "first_name": "  ",
        "phone": "12",
        "email": "ada@@example",
        "timezone": "Mars/Olympus_Mons",
        "locale": "english please",
        "send_window_start": "25:00",
        "send_window_end": "9pm",
        "external_ref": "x" * 129,
        "consent": [granted(), granted("email", "marketing")],
    }
    r = await client.post(BASE, headers=org.auth("staff"), json=payload)
    problem = assert_problem(r, 422)
    assert fields_of(problem) == {
        "first_name",
        "phone",
        "email",
        "timezone",
        "locale",
        "send_window_start",
        "send_window_end",
        "external_ref",
    }
    assert all(e["message"] for e in problem["errors"])
    assert await count_rows(org) == before


async def test_consent_needs_the_channels_address_and_fails_the_whole_create(
    client: Any, org: Org
) -> None:
    before = await count_rows(org)
    payload = {
        "first_name": "Ada",
        "email": "ada@example.com",
        "consent": [granted("email"), granted("sms"), granted("email")],
    }
    problem = assert_problem(await client.post(BASE, headers=org.auth("staff"), json=payload), 422)
    assert fields_of(problem) == {"consent[1].channel", "consent[2].purpose"}
    assert await count_rows(org) == before


async def test_an_empty_sending_window_is_rejected(client: Any, org: Org) -> None:
    r = await client.post(
        BASE,
        headers=org.auth("staff"),
        json={"first_name": "Ada", "send_window_start": "09:00", "send_window_end": "9:00"},
    )
    assert fields_of(assert_problem(r, 422)) == {"send_window_end"}


async def test_duplicate_external_ref_is_409_within_an_organisation_only(
    client: Any, org: Org, other_org: Org
) -> None:
    first = await create(client, org, external_ref="P-7")
    r = await client.post(
        BASE, headers=org.auth("staff"), json={"first_name": "Bob", "external_ref": "P-7"}
    )
    assert fields_of(assert_problem(r, 409)) == {"external_ref"}
    assert (await count_rows(org))[0] == 1
    # Another organisation's numbering is its own.
    await create(client, other_org, external_ref="P-7")
    second = await create(client, org, external_ref="P-8")
    r = await client.patch(
        f"{BASE}/{second['id']}", headers=org.auth("staff"), json={"external_ref": "P-7"}
    )
    assert fields_of(assert_problem(r, 409)) == {"external_ref"}
    # Re-saving one's own ref is not a conflict.
    r = await client.patch(
        f"{BASE}/{first['id']}", headers=org.auth("staff"), json={"external_ref": "P-7"}
    )
    assert r.status_code == 200, r.text


async def test_unknown_fields_are_422_naming_them(client: Any, org: Org) -> None:
    r = await client.post(
        BASE, headers=org.auth("staff"), json={"first_name": "Ada", "favourite_colour": "red"}
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "favourite_colour"
    r = await client.post(
        BASE,
        headers=org.auth("staff"),
        json={"first_name": "Ada", "phone": "+14155550132", "consent": [granted(colour=1)]},
    )
    assert "colour" in assert_problem(r, 422)["errors"][0]["field"]
    customer = await create(client, org)
    r = await client.patch(f"{BASE}/{customer['id']}", headers=org.auth("staff"), json={"nick": 1})
    assert assert_problem(r, 422)["errors"][0]["field"] == "nick"
    r = await client.post(
        f"{BASE}/{customer['id']}/consents",
        headers=org.auth("staff"),
        json={**granted("email"), "extra": True},
    )
    assert assert_problem(r, 422)["errors"][0]["field"] == "extra"
    assert (await count_rows(org))[0] == 1


async def test_patch_changes_only_given_fields_with_the_same_validation(
    client: Any, org: Org
) -> None:
    customer = await create(client, org, last_name="Lovelace", email="ada@example.com")
    url = f"{BASE}/{customer['id']}"
    r = await client.patch(
        url, headers=org.auth("staff"), json={"phone": "415.555.0199", "email": None}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["phone"] == "+14155550199" and body["email"] is None
    assert body["last_name"] == "Lovelace" and body["first_name"] == "Ada"
    assert body["updated_at"] > customer["updated_at"]

    bad = {"phone": "nope", "timezone": "Nowhere", "send_window_end": "24:00", "first_name": ""}
    problem = assert_problem(await client.patch(url, headers=org.auth("staff"), json=bad), 422)
    assert fields_of(problem) == {"phone", "timezone", "send_window_end", "first_name"}
    assert (await client.get(url, headers=org.auth("staff"))).json()["phone"] == "+14155550199"
    # The window is checked against the value already stored.
    r = await client.patch(url, headers=org.auth("staff"), json={"send_window_start": "21:00"})
    assert fields_of(assert_problem(r, 422)) == {"send_window_start"}
    unchanged = await client.patch(url, headers=org.auth("staff"), json={})
    assert unchanged.status_code == 200 and unchanged.json()["updated_at"] == body["updated_at"]


async def test_consent_history_is_appended_and_the_latest_record_counts(
    client: Any, org: Org
) -> None:
    customer = await create(client, org, phone="+14155550132", consent=[granted()])
    cid = customer["id"]
    tenant = Tenant(org.id)
    assert await consent.may_contact(tenant, UUID(cid), "sms", "informational")
    assert not await consent.may_contact(tenant, UUID(cid), "sms", "marketing")

    revoke = {**granted(), "status": "revoked", "source": "sms_keyword", "evidence": "STOP"}
    r = await client.post(f"{BASE}/{cid}/consents", headers=org.auth("staff"), json=revoke)
    assert r.status_code == 201, r.text
    record = r.json()
    assert record["status"] == "revoked" and record["source"] == "sms_keyword"
    current = (await client.get(f"{BASE}/{cid}", headers=org.auth("staff"))).json()["consent"]
    assert [(c["channel"], c["purpose"], c["status"]) for c in current] == [
        ("sms", "informational", "revoked")
    ]
    assert current[0]["recorded_at"] == record["recorded_at"]
    assert not await consent.may_contact(tenant, UUID(cid), "sms", "informational")

    r = await client.post(f"{BASE}/{cid}/consents", headers=org.auth("staff"), json=granted())
    assert r.status_code == 201
    assert await consent.may_contact(tenant, UUID(cid), "sms", "informational")
    history = (await client.get(f"{BASE}/{cid}/consents", headers=org.auth("staff"))).json()
    statuses = [i["status"] for i in history["items"]]
    assert statuses == ["granted", "revoked", "granted"]
    stamps = [i["recorded_at"] for i in history["items"]]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3

    # Email consent needs an email address on file.
    r = await client.post(
        f"{BASE}/{cid}/consents", headers=org.auth("staff"), json=granted("email")
    )
    assert fields_of(assert_problem(r, 422)) == {"channel"}
    assert await ConsentRecord.count().where(ConsentRecord.customer == UUID(cid)) == 3

    # Without the phone there is no one to text, whatever the consent says.
    await client.patch(f"{BASE}/{cid}", headers=org.auth("staff"), json={"phone": None})
    assert not await consent.may_contact(tenant, UUID(cid), "sms", "informational")


async def test_search_matches_names_ref_and_phone_case_insensitively(
    client: Any, org: Org, other_org: Org
) -> None:
    ada = await create(
        client, org, last_name="Lovelace", external_ref="CRM-001", phone="4155550132"
    )
    grace = await create(
        client, org, first_name="Grace", last_name="Hopper", external_ref="crm_002"
    )
    await create(client, other_org, first_name="Adalbert", phone="4155550132")

    async def search(q: str) -> list[str]:
        r = await client.get(BASE, headers=org.auth("staff"), params={"q": q})
        assert r.status_code == 200, r.text
        return [c["id"] for c in r.json()["items"]]

    assert await search("ADA") == [ada["id"]]
    assert await search("hopp") == [grace["id"]]
    assert await search("crm") == [ada["id"], grace["id"]]
    assert await search("CRM_") == [grace["id"]]  # "_" is a character, not a wildcard
    assert await search("%") == []
    assert await search("(415) 555-01") == [ada["id"]]
    assert await search("+1415555") == [ada["id"]]
    assert await search("nobody") == []
    every = (await client.get(BASE, headers=org.auth("staff"))).json()["items"]
    assert [c["id"] for c in every] == [ada["id"], grace["id"]]


async def test_pagination_returns_every_customer_exactly_once(client: Any, org: Org) -> None:
    made = [(await create(client, org, first_name=f"Pat{i}"))["id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        r = await client.get(BASE, headers=org.auth("staff"), params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        pages += 1
        assert len(body["items"]) <= 2
        seen += [c["id"] for c in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3 and seen == made

    r = await client.get(BASE, headers=org.auth("staff"), params={"q": "pat", "limit": 4})
    assert len(r.json()["items"]) == 4 and r.json()["next_cursor"]
    bad = await client.get(BASE, headers=org.auth("staff"), params={"cursor": "garbage"})
    assert fields_of(assert_problem(bad, 422)) == {"cursor"}
    bad = await client.get(BASE, headers=org.auth("staff"), params={"limit": 0})
    assert fields_of(assert_problem(bad, 422)) == {"limit"}


async def test_another_organisations_customer_is_not_found_on_every_route(
    app: Any, client: Any, org: Org, other_org: Org
) -> None:
    victim = await create(client, org, phone="+14155550132", email="v@example.com")
    bodies = {
        "PATCH": {"first_name": "Mallory"},
        "POST": {**granted(), "status": "revoked"},
    }
    routes = [
        (method, route.path)
        for route in app.routes
        if isinstance(route, HTTPRoute)
        and route.path.startswith("/api/")  # the staff page's own test: test_delivery
        and "{customer_id" in route.path
        for method in sorted(route.methods - {"HEAD", "OPTIONS"})
    ]
    assert len(routes) == 6, routes
    attacker = other_org.auth("admin")
    for method, template in routes:
        path = re.sub(r"\{customer_id(:\w+)?\}", victim["id"], template)
        r = await client.request(method, path, headers=attacker, json=bodies.get(method))
        assert_problem(r, 404)
        # Indistinguishable from an id that exists nowhere: existence does not leak.
        nowhere = str(uuid4())
        baseline = await client.request(
            method, path.replace(victim["id"], nowhere), headers=attacker, json=bodies.get(method)
        )
        assert baseline.status_code == 404
        assert r.json()["detail"] == baseline.json()["detail"].replace(nowhere, victim["id"])
    listed = (await client.get(BASE, headers=attacker)).json()["items"]
    assert victim["id"] not in [c["id"] for c in listed]
    after = (await client.get(f"{BASE}/{victim['id']}", headers=org.auth("staff"))).json()
    assert after == victim  # nothing changed, nothing erased, no consent added


async def test_staff_cannot_export_and_only_admins_erase(client: Any, org: Org) -> None:
    cid = (await create(client, org))["id"]
    assert_problem(await client.get(f"{BASE}/{cid}/export", headers=org.auth("staff")), 403)
    assert_problem(await client.post(f"{BASE}/{cid}/erase", headers=org.auth("staff")), 403)
    assert_problem(await client.post(f"{BASE}/{cid}/erase", headers=org.auth("manager")), 403)
    assert (
        await client.get(f"{BASE}/{cid}/export", headers=org.auth("manager"))
    ).status_code == 200
    still = (await client.get(f"{BASE}/{cid}", headers=org.auth("staff"))).json()
    assert still["erased_at"] is None and still["first_name"] == "Ada"


TABLET = """\
key: bp-tablet
title: Take your tablet
anchors: [start]
behaviours:
  - key: tablet
    title: Take your tablet
    stage: post_encounter
    importance: 9
    schedule: {every: 1d, from: start, for: 3d}
    confirm: {reply: [DONE], grace: 2h}
"""


async def enroll(org: Org, customer_id: str) -> tuple[UUID, list[UUID], datetime]:
    """An active enrollment with one step done and two pending, made through the services:
    a daily tablet whose first dose was due an hour ago."""
    await services.load_journey(org.tenant, TABLET)
    start = datetime.now(UTC) - timedelta(hours=1)
    done = await enrollments.enroll(
        org.tenant, UUID(customer_id), "bp-tablet", {"start": start.isoformat()}, backfill=True
    )
    steps = await enrollments.steps_of(org.tenant, done.enrollment.id)
    assert [s.status for s in steps] == ["pending"] * 3
    await enrollments.complete_step(org.tenant, steps[0].id, "staff")
    return done.enrollment.id, [s.id for s in steps], start


async def test_export_holds_profile_consent_history_enrollments_and_steps(
    client: Any, org: Org
) -> None:
    customer = await create(
        client, org, phone="+14155550132", consent=[granted(evidence="form 12")]
    )
    cid = customer["id"]
    await client.post(
        f"{BASE}/{cid}/consents", headers=org.auth("staff"), json={**granted(), "status": "revoked"}
    )
    enrollment_id, step_ids, start = await enroll(org, cid)
    r = await client.get(f"{BASE}/{cid}/export", headers=org.auth("manager"))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["customer"]["id"] == cid and data["customer"]["phone"] == "+14155550132"
    assert [c["status"] for c in data["consent_history"]] == ["granted", "revoked"]
    assert data["consent_history"][0]["evidence"] == "form 12"
    assert data["current_consent"][0]["status"] == "revoked"
    [enrollment] = data["enrollments"]
    assert enrollment["id"] == str(enrollment_id) and enrollment["journey_key"] == "bp-tablet"
    assert enrollment["journey_version"] == 1
    assert enrollment["anchors"] == {"start": start.isoformat()}
    assert [s["id"] for s in enrollment["steps"]] == [str(s) for s in step_ids]
    first = enrollment["steps"][0]
    assert first["due_at"].endswith("Z") and datetime.fromisoformat(first["due_at"]) == start
    assert first["status"] == "done"
    assert "organization" not in data["customer"]


async def test_erasure_blanks_personal_data_keeps_consent_and_cancels_plans(
    client: Any, org: Org
) -> None:
    customer = await create(
        client,
        org,
        last_name="Lovelace",
        external_ref="P-42",
        phone="+14155550132",
        email="ada@example.com",
        consent=[granted(evidence="ip 203.0.113.9"), granted("email", "marketing")],
    )
    cid = customer["id"]
    enrollment_id, step_ids, _ = await enroll(org, cid)

    r = await client.post(f"{BASE}/{cid}/erase", headers=org.auth("admin"))
    assert r.status_code == 200, r.text
    result = r.json()
    erased = result["customer"]
    assert (erased["first_name"], erased["last_name"]) == ("", "")
    assert erased["phone"] is None and erased["email"] is None and erased["external_ref"] is None
    assert erased["erased_at"] and erased["pseudonym"] == customer["pseudonym"]
    assert result["enrollments_cancelled"] == 1 and result["steps_cancelled"] == 2
    assert result["consent_records_kept"] == 2

    row = await Enrollment.objects().where(Enrollment.id == enrollment_id).first()
    assert row is not None and row.status == "cancelled" and row.cancelled_at is not None
    statuses = {
        s["id"]: s["status"]
        for s in await Step.select(Step.id, Step.status).where(Step.id.is_in(step_ids))
    }
    assert [statuses[s] for s in step_ids] == ["done", "cancelled", "cancelled"]
    records = await ConsentRecord.objects().where(ConsentRecord.customer == UUID(cid))
    assert len(records) == 2 and all(rec.evidence == "" for rec in records)
    assert {rec.status for rec in records} == {"granted"}
    raw = await Customer.objects().where(Customer.id == UUID(cid)).first()
    assert raw is not None and raw.phone is None and raw.first_name == ""

    again = await client.post(f"{BASE}/{cid}/erase", headers=org.auth("admin"))
    assert again.status_code == 200
    assert again.json()["customer"] == erased  # not even updated_at moves
    assert again.json()["enrollments_cancelled"] == again.json()["steps_cancelled"] == 0

    problem = assert_problem(
        await client.patch(f"{BASE}/{cid}", headers=org.auth("staff"), json={"first_name": "A"}),
        409,
    )
    assert "erased" in problem["detail"]
    assert_problem(
        await client.post(f"{BASE}/{cid}/consents", headers=org.auth("staff"), json=granted()),
        409,
    )
    assert not await consent.may_contact(Tenant(org.id), UUID(cid), "sms", "informational")
    found = await client.get(BASE, headers=org.auth("staff"), params={"q": "P-42"})
    assert found.json()["items"] == []
    # The record itself stays readable (blank), and so does the consent proof.
    assert (await client.get(f"{BASE}/{cid}", headers=org.auth("staff"))).status_code == 200
    history = await client.get(f"{BASE}/{cid}/consents", headers=org.auth("staff"))
    assert len(history.json()["items"]) == 2
