"""Slip intake over HTTP: validation, idempotency, batches, listing, corrections, sources."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from journeys import services as journeys
from journeys.enrollments import services as enrollments
from journeys.tables import Customer, Step
from slips import catalogue, missed, sources
from slips.tables import Slip
from tests.conftest import Org

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"
MEDS = "hypertension-adherence"


@pytest.fixture
async def meds(org: Org) -> Org:
    await journeys.load_journey(org.tenant, (LIBRARY / f"{MEDS}.yaml").read_text())
    return org


def slip(**extra: Any) -> dict[str, Any]:
    return {"journey": MEDS, "behaviour": "take-dose", **extra}


async def count(org: Org) -> int:
    return await Slip.count().where(Slip.organization == org.id)


async def test_slip_takes_stage_severity_and_cause_from_the_definition(
    client: Any, meds: Org
) -> None:
    r = await client.post(
        "/api/v1/slips",
        headers=meds.auth("staff"),
        json=slip(failure_mode="ran-out", site="north", note="no refill"),
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["stage"] == "post_encounter" and body["severity"] == 9
    assert body["deficit"] == "ability" and body["root_cause"] == "customer"
    assert body["source"] == "staff" and body["reporter_key_id"] == str(meds.key_ids["staff"])
    assert body["customer_id"] is None  # anonymous tick marks count too
    occurred = datetime.fromisoformat(body["occurred_at"])
    assert abs((occurred - datetime.now(UTC)).total_seconds()) < 30


async def test_unknown_names_list_the_valid_choices(client: Any, meds: Org) -> None:
    r = await client.post(
        "/api/v1/slips", headers=meds.auth("staff"), json={"journey": "nope", "behaviour": "x"}
    )
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "journey" and MEDS in r.json()["errors"][0]["message"]
    r = await client.post(
        "/api/v1/slips", headers=meds.auth("staff"), json=slip(behaviour="take-dos")
    )
    assert (
        r.json()["errors"][0]["field"] == "behaviour"
        and "take-dose" in r.json()["errors"][0]["message"]
    )
    r = await client.post(
        "/api/v1/slips", headers=meds.auth("staff"), json=slip(failure_mode="lost", severity=11)
    )
    fields = {e["field"] for e in r.json()["errors"]}
    assert fields == {"severity"}  # type errors stop at the schema
    r = await client.post(
        "/api/v1/slips",
        headers=meds.auth("staff"),
        json=slip(failure_mode="lost", root_cause="aliens"),
    )
    assert {e["field"] for e in r.json()["errors"]} == {"failure_mode", "root_cause"}
    assert "forgot" in r.text
    assert await count(meds) == 0


async def test_bad_times_notes_fields_and_other_orgs_customers(
    client: Any, meds: Org, other_org: Org
) -> None:
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    r = await client.post(
        "/api/v1/slips", headers=meds.auth("staff"), json=slip(occurred_at=future)
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "occurred_at"
    old = (datetime.now(UTC) - timedelta(days=400)).isoformat()
    r = await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip(occurred_at=old))
    assert "365 days" in r.json()["errors"][0]["message"]
    r = await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip(note="x" * 2001))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "note"
    r = await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip(colour="red"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "colour"
    r = await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip(severity="high"))
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "severity"
    stranger = other_org.tenant.new(Customer, first_name="S", pseudonym="s" * 16)
    await stranger.save()
    r = await client.post(
        "/api/v1/slips", headers=meds.auth("staff"), json=slip(customer_id=str(stranger.id))
    )
    assert r.status_code == 404
    assert await count(meds) == 0


async def test_idempotency_key_replays_and_refuses_a_different_body(client: Any, meds: Org) -> None:
    h = {**meds.auth("staff"), "Idempotency-Key": f"tap-{uuid.uuid4()}"}
    first = await client.post("/api/v1/slips", headers=h, json=slip(note="first"))
    again = await client.post("/api/v1/slips", headers=h, json=slip(note="first"))
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    other = await client.post("/api/v1/slips", headers=h, json=slip(note="second"))
    assert other.status_code == 409 and "different request" in other.json()["detail"]
    assert await count(meds) == 1
    failed = await client.post(
        "/api/v1/slips", headers={**h, "Idempotency-Key": "k-bad"}, json=slip(behaviour="x")
    )
    assert failed.status_code == 422
    fixed = await client.post(
        "/api/v1/slips", headers={**h, "Idempotency-Key": "k-bad"}, json=slip(behaviour="x")
    )
    assert fixed.status_code == 422, "errors are not stored: the same key may be retried"


async def test_a_failed_key_can_be_reused_and_a_success_replays_after_the_journey_changed(
    client: Any, meds: Org
) -> None:
    h = {**meds.auth("staff"), "Idempotency-Key": f"fix-{uuid.uuid4()}"}
    bad = await client.post("/api/v1/slips", headers=h, json=slip(behaviour="take-dos"))
    assert bad.status_code == 422 and await count(meds) == 0
    good = await client.post("/api/v1/slips", headers=h, json=slip(note="fixed"))
    assert good.status_code == 201 and "idempotent-replayed" not in good.headers
    # A new version renames the behaviour: the same body would no longer validate, yet a
    # retry of the request that succeeded still gets its original answer.
    source = (LIBRARY / f"{MEDS}.yaml").read_text().replace("take-dose", "take-tablet")
    await journeys.load_journey(meds.tenant, source)
    catalogue._catalog.clear()  # this process's few-second cache of current versions
    retry = await client.post("/api/v1/slips", headers=h, json=slip(note="fixed"))
    assert retry.status_code == 201 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json() == good.json()
    fresh = {**h, "Idempotency-Key": f"new-{uuid.uuid4()}"}
    now_invalid = await client.post("/api/v1/slips", headers=fresh, json=slip(note="fixed"))
    assert now_invalid.status_code == 422 and "take-tablet" in now_invalid.text
    assert await count(meds) == 1


async def test_concurrent_requests_with_one_key_store_one_slip(client: Any, meds: Org) -> None:
    h = {**meds.auth("staff"), "Idempotency-Key": f"race-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(client.post("/api/v1/slips", headers=h, json=slip()) for _ in range(8))
    )
    assert {r.status_code for r in responses} == {201}
    assert len({r.json()["id"] for r in responses}) == 1
    assert await count(meds) == 1


async def test_batch_stores_valid_items_once_and_reports_each(client: Any, meds: Org) -> None:
    items = [
        slip(key="row-1", failure_mode="forgot"),
        slip(key="row-2", behaviour="nope"),
        slip(key="row-3"),
        slip(),  # no key: stored, and stored again on resend
        slip(key="row-1"),  # the same key twice in one batch
    ]
    r = await client.post("/api/v1/slips/batch", headers=meds.auth("staff"), json={"items": items})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["created"], body["duplicates"], body["errors"]) == (3, 1, 1)
    assert [x["status"] for x in body["results"]] == [
        "created",
        "error",
        "created",
        "created",
        "duplicate",
    ]
    assert body["results"][1]["errors"][0]["field"] == "behaviour"
    assert body["results"][4]["slip_id"] == body["results"][0]["slip_id"]
    resent = (
        await client.post("/api/v1/slips/batch", headers=meds.auth("staff"), json={"items": items})
    ).json()
    assert [x["status"] for x in resent["results"]] == [
        "duplicate",
        "error",
        "duplicate",
        "created",
        "duplicate",
    ]
    assert resent["results"][0]["slip_id"] == body["results"][0]["slip_id"]
    assert await count(meds) == 4


async def test_batch_limits(client: Any, meds: Org) -> None:
    r = await client.post(
        "/api/v1/slips/batch", headers=meds.auth("staff"), json={"items": [slip()] * 1001}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "items"
    r = await client.post("/api/v1/slips/batch", headers=meds.auth("staff"), json={"items": []})
    assert r.status_code == 422
    assert await count(meds) == 0


async def test_list_filters_pagination_and_voiding(client: Any, meds: Org) -> None:
    staff = meds.auth("staff")
    ids = []
    for i, mode in enumerate(["forgot", "forgot", "cost", None, "forgot"]):
        r = await client.post(
            "/api/v1/slips", headers=staff, json=slip(failure_mode=mode, site=f"s{i % 2}")
        )
        ids.append(r.json()["id"])
    forgot = (
        await client.get("/api/v1/slips", headers=staff, params={"failure_mode": "forgot"})
    ).json()
    assert len(forgot["items"]) == 3
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {
            "limit": 2,
            "journey": MEDS,
            **({"cursor": cursor} if cursor else {}),
        }
        page = (await client.get("/api/v1/slips", headers=staff, params=params)).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]  # newest first by default (order=-occurred_at)
    assert page["items"][0]["journey"] == MEDS
    oldest_first: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, "order": "occurred_at", **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/v1/slips", headers=staff, params=params)).json()
        oldest_first += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert oldest_first == ids
    bad = await client.get("/api/v1/slips", headers=staff, params={"order": "severity"})
    assert bad.status_code in (400, 422)
    r = await client.post(
        f"/api/v1/slips/{ids[0]}/void", headers=staff, json={"reason": "logged twice"}
    )
    assert r.status_code == 200 and r.json()["voided_at"]
    listed = (await client.get("/api/v1/slips", headers=staff)).json()["items"]
    assert ids[0] not in [s["id"] for s in listed]
    audit = (
        await client.get("/api/v1/slips", headers=staff, params={"include_voided": "true"})
    ).json()["items"]
    assert ids[0] in [s["id"] for s in audit]
    bad = await client.get("/api/v1/slips", headers=staff, params={"cursor": "garbage"})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "cursor"


async def test_staff_correct_only_their_own_slips(client: Any, meds: Org) -> None:
    created = (await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip())).json()
    r = await client.patch(
        f"/api/v1/slips/{created['id']}", headers=meds.auth("staff"), json={"failure_mode": "cost"}
    )
    assert (
        r.status_code == 200
        and r.json()["failure_mode"] == "cost"
        and r.json()["deficit"] == "financial"
    )
    mine = (await client.post("/api/v1/slips", headers=meds.auth("manager"), json=slip())).json()
    r = await client.patch(
        f"/api/v1/slips/{mine['id']}", headers=meds.auth("staff"), json={"note": "x"}
    )
    assert r.status_code == 403
    r = await client.patch(
        f"/api/v1/slips/{created['id']}", headers=meds.auth("manager"), json={"behaviour": "nope"}
    )
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "behaviour"


async def test_missed_steps_become_system_slips_exactly_once(meds: Org) -> None:
    customer = meds.tenant.new(Customer, first_name="M", timezone="UTC", pseudonym="m" * 16)
    await customer.save()
    start = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    await enrollments.enroll(meds.tenant, customer.id, MEDS, {"start": start}, backfill=True)
    first_run = datetime.now(UTC)
    newly_missed = await missed.detect_missed(first_run, organization=meds.id)
    again = await missed.detect_missed(organization=meds.id)
    assert len(newly_missed) >= 2 and again == []
    system = await Slip.objects().where((Slip.organization == meds.id) & (Slip.source == "system"))
    assert sorted(s.step for s in system) == sorted(newly_missed)
    assert {s.behaviour for s in system} == {"take-dose"} and all(
        s.customer == customer.id for s in system
    )
    # A later run records none of those again: only steps whose grace ended after the
    # first run (at some hours of the day a dose's grace ends within the hour).
    later = first_run + timedelta(hours=1)
    found_later = await missed.detect_missed(later, organization=meds.id)
    assert not set(found_later) & set(newly_missed)
    if found_later:
        ends = await Step.select(Step.grace_until).where(Step.id.is_in(found_later))
        assert all(first_run < row["grace_until"] <= later for row in ends), ends
    assert await missed.detect_missed(later, organization=meds.id) == []
    assert await Slip.count().where(Slip.organization == meds.id) == len(system) + len(found_later)


async def test_customer_reports_map_reasons_to_failure_modes(meds: Org) -> None:
    customer = meds.tenant.new(Customer, first_name="C", timezone="UTC", pseudonym="c" * 16)
    await customer.save()
    by_keyword = await sources.record_customer_report(
        meds.tenant, customer.id, MEDS, "take-dose", "out of tablets", channel="sms"
    )
    assert by_keyword.failure_mode == "ran-out" and by_keyword.source == "customer"
    by_words = await sources.record_customer_report(
        meds.tenant, customer.id, MEDS, "take-dose", "I just forgot, sorry"
    )
    assert by_words.failure_mode == "forgot" and by_words.note == "I just forgot, sorry"
    unknown = await sources.record_customer_report(
        meds.tenant, customer.id, MEDS, "take-dose", "the dog ate it", key="sms-1"
    )
    assert unknown.failure_mode is None and unknown.note == "the dog ate it"
    same = await sources.record_customer_report(
        meds.tenant, customer.id, MEDS, "take-dose", "the dog ate it", key="sms-1"
    )
    assert same.id == unknown.id
    assert json.loads(json.dumps({"ok": True}))["ok"]


async def test_a_slip_is_an_error_unless_it_is_a_complaint(client: Any, meds: Org) -> None:
    plain = await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip())
    assert plain.status_code == 201 and plain.json()["kind"] == "error"
    complaint = await client.post(
        "/api/v1/slips", headers=meds.auth("staff"), json=slip(kind="complaint", note="rude")
    )
    assert complaint.status_code == 201, complaint.text
    assert complaint.json()["kind"] == "complaint"
    listed = await client.get(f"/api/v1/slips/{complaint.json()['id']}", headers=meds.auth("staff"))
    assert listed.json()["kind"] == "complaint"
    bad = await client.post("/api/v1/slips", headers=meds.auth("staff"), json=slip(kind="praise"))
    assert bad.status_code == 422
