"""The staff quick-entry page and its session endpoints: CSRF, idempotency, undo, search."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest

from journeys import services as journeys
from slips import corrections, validation, writes
from slips import stats as slip_stats
from slips.tables import Slip
from tests.conftest import Org
from tests.factories import csrf_token

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"
MEDS = "hypertension-adherence"


@pytest.fixture
async def meds(org: Org) -> Org:
    await journeys.load_journey(org.tenant, (LIBRARY / f"{MEDS}.yaml").read_text())
    return org


async def login(client: Any, org: Org, role: str = "staff") -> None:
    client.cookies.clear()
    token = csrf_token((await client.get("/login?next=/staff")).text)
    r = await client.post(
        "/login",
        data={
            "email": org.users[role].email,
            "password": org.password,
            "next": "/staff",
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/staff"


def headers(client: Any, key: str | None = None) -> dict[str, str]:
    out = {"x-csrftoken": client.cookies.get("slipguard_csrf") or ""}
    if key is not None:
        out["Idempotency-Key"] = key
    return out


def choices_of(html: str) -> list[dict[str, Any]]:
    match = re.search(r'<script type="application/json" id="choices-data">(.*?)</script>', html)
    assert match, "the page carries its choices"
    data: list[dict[str, Any]] = json.loads(match.group(1))
    return data


async def count(org: Org) -> int:
    return await Slip.count().where(Slip.organization == org.id)


async def test_logged_out_users_are_sent_to_login(client: Any) -> None:
    client.cookies.clear()
    r = await client.get("/staff", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=/staff"


async def test_page_renders_the_organisations_journeys(client: Any, meds: Org) -> None:
    await login(client, meds)
    page = await client.get("/staff")
    assert page.status_code == 200
    assert "Blood-pressure medication" in page.text and f'value="{MEDS}"' in page.text
    for control in ("customer-search", "note"):
        assert f'<label for="{control}">' in page.text
    assert 'aria-live="polite"' in page.text and "/static/staff.js" in page.text
    [journey] = choices_of(page.text)
    assert journey["key"] == MEDS
    take_dose = journey["behaviours"][0]
    assert take_dose["key"] == "take-dose"  # nothing logged yet: definition order
    assert [m["key"] for m in take_dose["failure_modes"]][:2] == ["forgot", "felt-better"]
    assert (await client.get("/static/staff.js")).status_code == 200
    assert (await client.get("/static/staff.css")).status_code == 200
    client.cookies.clear()


async def test_posting_without_csrf_is_refused(client: Any, meds: Org) -> None:
    await login(client, meds)
    await client.get("/staff")
    r = await client.post(
        "/staff/slips",
        headers={"Idempotency-Key": str(uuid.uuid4())},
        json={"journey": MEDS, "behaviour": "take-dose"},
    )
    assert r.status_code == 403
    assert await count(meds) == 0
    client.cookies.clear()


async def test_one_slip_per_idempotency_key(client: Any, meds: Org) -> None:
    await login(client, meds)
    await client.get("/staff")
    key = str(uuid.uuid4())
    body = {"journey": MEDS, "behaviour": "take-dose", "failure_mode": "forgot", "note": "desk 2"}
    first = await client.post("/staff/slips", headers=headers(client, key), json=body)
    assert first.status_code == 201, first.text
    slip = first.json()
    assert slip["reporter_user_id"] == str(meds.users["staff"].id) and slip["source"] == "staff"
    assert slip["deficit"] == "forgetfulness" and slip["note"] == "desk 2"
    again = await client.post("/staff/slips", headers=headers(client, key), json=body)
    assert again.status_code == 201 and again.headers["idempotent-replayed"] == "true"
    assert again.json()["id"] == slip["id"]
    assert await Slip.count().where(Slip.organization == meds.id) == 1
    client.cookies.clear()


async def test_missing_idempotency_key_is_named(client: Any, meds: Org) -> None:
    await login(client, meds)
    await client.get("/staff")
    r = await client.post(
        "/staff/slips", headers=headers(client), json={"journey": MEDS, "behaviour": "take-dose"}
    )
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in r.json()["errors"]] == ["Idempotency-Key"]
    assert await count(meds) == 0
    client.cookies.clear()


async def test_validation_errors_name_the_field(client: Any, meds: Org) -> None:
    await login(client, meds)
    await client.get("/staff")
    r = await client.post(
        "/staff/slips",
        headers=headers(client, str(uuid.uuid4())),
        json={"journey": MEDS, "behaviour": "take-dose", "failure_mode": "lost-it"},
    )
    assert r.status_code == 422
    [error] = r.json()["errors"]
    assert error["field"] == "failure_mode" and "forgot" in error["message"]
    client.cookies.clear()


async def test_undo_voids_own_slip_only(client: Any, meds: Org, other_org: Org) -> None:
    await login(client, meds)
    await client.get("/staff")
    r = await client.post(
        "/staff/slips",
        headers=headers(client, str(uuid.uuid4())),
        json={"journey": MEDS, "behaviour": "take-dose"},
    )
    slip_id = r.json()["id"]
    undone = await client.post(f"/staff/slips/{slip_id}/undo", headers=headers(client))
    assert undone.status_code == 200, undone.text
    assert undone.json()["void_reason"] == "undone by reporter"
    row = await Slip.objects().where(Slip.id == uuid.UUID(slip_id)).first()
    assert row is not None and row.voided_at is not None
    # someone else's slip in the same organisation: not theirs to undo
    theirs = await writes.record_slip(
        meds.tenant,
        validation.SlipInput(journey=MEDS, behaviour="take-dose"),
        validation.Reporter(user_id=meds.users["manager"].id),
    )
    r = await client.post(f"/staff/slips/{theirs.id}/undo", headers=headers(client))
    assert r.status_code == 403
    # another organisation's slip: simply not found
    await journeys.load_journey(other_org.tenant, (LIBRARY / f"{MEDS}.yaml").read_text())
    foreign = await writes.record_slip(
        other_org.tenant,
        validation.SlipInput(journey=MEDS, behaviour="take-dose"),
        validation.Reporter(user_id=other_org.users["staff"].id),
    )
    r = await client.post(f"/staff/slips/{foreign.id}/undo", headers=headers(client))
    assert r.status_code == 404 and r.json()["status"] == 404
    row = await Slip.objects().where(Slip.id == foreign.id).first()
    assert row is not None and row.voided_at is None
    client.cookies.clear()


async def test_customer_search_stays_in_the_organisation(
    client: Any, meds: Org, other_org: Org
) -> None:
    for owner, ref in ((meds, "P-7001"), (other_org, "P-7002")):
        r = await client.post(
            "/api/v1/customers",
            headers=owner.auth("staff"),
            json={"first_name": "Marta", "last_name": "Quist", "external_ref": ref,
                  "phone": "+14155550132"},
        )  # fmt: skip
        assert r.status_code == 201, r.text
    await login(client, meds)
    for q in ("quist", "P-70", "0132"):
        r = await client.get("/staff/customers", params={"q": q})
        assert r.status_code == 200
        assert r.json()["items"] == [
            {
                "id": r.json()["items"][0]["id"],
                "name": "Marta Quist",
                "external_ref": "P-7001",
                "phone": "•••• 0132",
            }
        ]
    assert (await client.get("/staff/customers", params={"q": "q"})).json()["items"] == []
    client.cookies.clear()
    r = await client.get("/staff/customers", params={"q": "quist"}, follow_redirects=False)
    assert r.status_code == 303


async def test_most_recently_used_failure_mode_comes_first(client: Any, meds: Org) -> None:
    reporter = validation.Reporter(user_id=meds.users["staff"].id)
    for mode in ("cost", "cost", "ran-out"):
        await writes.record_slip(
            meds.tenant, validation.SlipInput(MEDS, "take-dose", failure_mode=mode), reporter
        )
    voided = await writes.record_slip(
        meds.tenant, validation.SlipInput(MEDS, "review-visit"), reporter
    )
    await corrections.void_slip(meds.tenant, voided.id, "test", reporter, False)
    usage = await slip_stats.choice_order(meds.tenant)
    assert usage[(MEDS,)].count == 3 and usage[(MEDS, "take-dose", "cost")].count == 2
    assert (MEDS, "review-visit") not in usage  # voided slips do not count
    await login(client, meds)
    [journey] = choices_of((await client.get("/staff")).text)
    modes = [m["key"] for m in journey["behaviours"][0]["failure_modes"]]
    # last used, then most used, then the rest in definition order
    assert modes == ["ran-out", "cost", "forgot", "felt-better", "side-effects"]
    assert [b["key"] for b in journey["behaviours"]] == ["take-dose", "review-visit"]
    client.cookies.clear()
