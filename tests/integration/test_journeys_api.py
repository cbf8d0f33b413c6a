"""Journeys over HTTP: load and version, preview, enroll, cancel, complete, miss."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from journeys.enrollments import jobs
from journeys.enrollments import services as enrollments
from journeys.tables import Step
from slips import missed
from tests.conftest import Org
from tests.factories import APPOINTMENT, JOURNEY, customer

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"

YAML = {"content-type": "application/yaml"}


async def test_load_yaml_then_unchanged_then_new_version(client: Any, org: Org) -> None:
    h = {**org.auth("manager"), **YAML}
    r = await client.post("/api/v1/journeys", headers=h, content=JOURNEY.encode())
    assert r.status_code == 201, r.text
    assert r.json()["version"] == 1 and r.json()["created"] is True
    again = await client.post("/api/v1/journeys", headers=h, content=JOURNEY.encode())
    assert again.status_code == 200 and again.json() == {
        **again.json(),
        "version": 1,
        "created": False,
    }
    changed = JOURNEY.replace("title: Daily check-in", "title: Daily check in")
    r = await client.post("/api/v1/journeys", headers=org.auth("manager"), json={"source": changed})
    assert r.status_code == 201 and r.json()["version"] == 2
    detail = (await client.get("/api/v1/journeys/tenancy-check", headers=org.auth("staff"))).json()
    assert detail["journey"]["title"] == "Daily check in"
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    assert detail["definition"]["behaviours"][0]["importance"] == 6
    listed = (await client.get("/api/v1/journeys", headers=org.auth("staff"))).json()["items"]
    assert [j["key"] for j in listed] == ["tenancy-check"]


async def test_invalid_definition_is_422_with_every_located_error_and_loads_nothing(
    client: Any, org: Org
) -> None:
    broken = JOURNEY.replace("from: start", "from: strat").replace(
        "importance: 6", "importance: 6\n    colour: red"
    )
    h = {**org.auth("manager"), **YAML, "x-filename": "check.yaml"}
    r = await client.post("/api/v1/journeys", headers=h, content=broken.encode())
    assert r.status_code == 422
    body = r.json()
    assert body["detail"].startswith("check.yaml: 1 error")
    assert body["errors"] == [
        {"field": "behaviours[0].colour", "message": body["errors"][0]["message"], "line": 9}
    ]
    assert "unknown key 'colour'" in body["errors"][0]["message"]
    fixed_shape = broken.replace("\n    colour: red", "")
    r = await client.post("/api/v1/journeys", headers=h, content=fixed_shape.encode())
    assert r.json()["errors"][0]["field"] == "behaviours[0].schedule.from"
    assert "did you mean 'start'" in r.json()["errors"][0]["message"]
    assert (await client.get("/api/v1/journeys", headers=org.auth())).json()["items"] == []


async def test_staff_cannot_load_and_bad_content_types_are_clear(client: Any, org: Org) -> None:
    r = await client.post(
        "/api/v1/journeys", headers={**org.auth("staff"), **YAML}, content=JOURNEY.encode()
    )
    assert r.status_code == 403
    r = await client.post(
        "/api/v1/journeys",
        headers={**org.auth("manager"), "content-type": "text/csv"},
        content=b"x",
    )
    assert r.status_code == 415 and "application/yaml" in r.json()["detail"]
    r = await client.post(
        "/api/v1/journeys", headers=org.auth("manager"), json={"source": JOURNEY, "extra": 1}
    )
    assert r.status_code == 422


async def test_preview_shows_local_and_utc_times(client: Any, org: Org) -> None:
    await client.post(
        "/api/v1/journeys", headers={**org.auth("manager"), **YAML}, content=APPOINTMENT.encode()
    )
    r = await client.get(
        "/api/v1/journeys/visit/preview",
        headers=org.auth("staff"),
        params={"appointment": "2026-03-30T09:00:00Z", "timezone": "Europe/London"},
    )
    assert r.status_code == 200, r.text
    (step,) = r.json()["steps"]
    assert step["due_local"] == "2026-03-30T10:00:00+01:00"
    first, second = step["messages"]
    # three calendar days before, same wall-clock time, across the change to summer time
    assert (
        first["local"] == "2026-03-27T10:00:00+00:00" and first["at"] == "2026-03-27T10:00:00+00:00"
    )
    assert second["local"] == "2026-03-29T10:00:00+01:00"
    assert "reserved for you" in first["text"] and "Monday 30 March at 10:00" in first["text"]
    # An anchor not given is taken as now (a preview is a what-if, not an enrollment).
    before = datetime.now(UTC)
    unset = await client.get("/api/v1/journeys/visit/preview", headers=org.auth("staff"))
    assert unset.status_code == 200, unset.text
    taken = datetime.fromisoformat(unset.json()["anchors"]["appointment"])
    assert before - timedelta(seconds=1) <= taken <= datetime.now(UTC) + timedelta(seconds=1)


async def test_enroll_pins_version_and_materialises_only_the_horizon(client: Any, org: Org) -> None:
    h = {**org.auth("manager"), **YAML}
    await client.post("/api/v1/journeys", headers=h, content=JOURNEY.encode())
    c = await customer(org)
    r = await client.post(
        "/api/v1/enrollments",
        headers=org.auth("staff"),
        json={"customer_id": str(c.id), "journey": "tenancy-check"},
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["enrollment"]["journey_version"] == 1
    assert 1 <= created["steps_created"] <= 3  # 48 h of a 30-day daily journey
    enrollment_id = created["enrollment"]["id"]
    # a new version does not change the running plan
    await client.post(
        "/api/v1/journeys", headers=h, content=JOURNEY.replace("for: 30d", "for: 2d").encode()
    )
    detail = (
        await client.get(f"/api/v1/enrollments/{enrollment_id}", headers=org.auth("staff"))
    ).json()
    assert detail["enrollment"]["journey_version"] == 1
    assert {s["status"] for s in detail["steps"]} == {"pending"}
    assert all(
        s["due_at"].endswith("08:00:00Z") or "T07:00:00" in s["due_at"] for s in detail["steps"]
    )
    listed = await client.get(
        "/api/v1/enrollments", headers=org.auth("staff"), params={"customer_id": str(c.id)}
    )
    assert [e["id"] for e in listed.json()["items"]] == [enrollment_id]


async def test_anchor_errors_and_past_anchor_policy(client: Any, org: Org) -> None:
    await client.post(
        "/api/v1/journeys", headers={**org.auth("manager"), **YAML}, content=APPOINTMENT.encode()
    )
    c = await customer(org)
    body = {"customer_id": str(c.id), "journey": "visit", "anchors": {}}
    r = await client.post("/api/v1/enrollments", headers=org.auth("staff"), json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "anchors.appointment"
    r = await client.post(
        "/api/v1/enrollments",
        headers=org.auth("staff"),
        json={**body, "anchors": {"appointment": "2026-03-30T09:00:00"}},
    )
    assert r.status_code == 422 and "offset" in r.json()["errors"][0]["message"]
    past = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    r = await client.post(
        "/api/v1/enrollments",
        headers=org.auth("staff"),
        json={**body, "anchors": {"appointment": past}},
    )
    assert (
        r.status_code == 201
        and r.json()["steps_created"] == 0
        and r.json()["past_steps_skipped"] == 1
    )
    r = await client.post(
        "/api/v1/enrollments",
        headers=org.auth("staff"),
        json={**body, "anchors": {"appointment": past}, "backfill": True},
    )
    assert r.json()["steps_created"] == 1 and r.json()["past_steps_backfilled"] == 1
    newly_missed = await missed.detect_missed(organization=org.id)
    step = (
        await client.get(
            f"/api/v1/enrollments/{r.json()['enrollment']['id']}", headers=org.auth("staff")
        )
    ).json()["steps"][0]
    assert step["status"] == "missed" and step["id"] in {str(m) for m in newly_missed}
    # a late confirmation still counts, and a second one changes nothing
    done = await client.post(
        f"/api/v1/steps/{step['id']}/complete", headers=org.auth("staff"), json={"via": "staff"}
    )
    assert done.status_code == 200 and done.json()["status"] == "done"
    again = await client.post(
        f"/api/v1/steps/{step['id']}/complete", headers=org.auth("staff"), json={}
    )
    assert again.json()["completed_via"] == "staff"


async def test_cancel_cancels_pending_steps_and_closed_steps_cannot_complete(
    client: Any, org: Org
) -> None:
    await client.post(
        "/api/v1/journeys", headers={**org.auth("manager"), **YAML}, content=JOURNEY.encode()
    )
    c = await customer(org)
    r = await client.post(
        "/api/v1/enrollments",
        headers=org.auth("staff"),
        json={"customer_id": str(c.id), "journey": "tenancy-check"},
    )
    enrollment_id = r.json()["enrollment"]["id"]
    cancelled = await client.post(
        f"/api/v1/enrollments/{enrollment_id}/cancel", headers=org.auth("staff")
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    steps = (
        await client.get(f"/api/v1/enrollments/{enrollment_id}", headers=org.auth("staff"))
    ).json()["steps"]
    assert steps and {s["status"] for s in steps} == {"cancelled"}
    r = await client.post(
        f"/api/v1/steps/{steps[0]['id']}/complete", headers=org.auth("staff"), json={}
    )
    assert r.status_code == 409
    assert (
        await jobs.materialise_due(now=datetime.now(UTC) + timedelta(days=5), organization=org.id)
        >= 0
    )
    after = await Step.count().where(Step.enrollment == enrollment_id)
    assert after == len(steps), "a cancelled enrollment gets no new steps"


async def test_scheduler_job_fills_the_horizon_idempotently(org: Org) -> None:
    from journeys import services

    await services.load_journey(org.tenant, JOURNEY)
    c = await customer(org, "America/New_York")
    now = datetime(2030, 3, 1, 12, tzinfo=UTC)
    done = await enrollments.enroll(org.tenant, c.id, "tenancy-check", {}, now=now)
    for day in range(0, 40):
        moment = now + timedelta(days=day)
        await jobs.materialise_due(now=moment, organization=org.id)
        await jobs.materialise_due(
            now=moment, organization=org.id
        )  # a second scheduler, same instant
    steps = await enrollments.steps_of(org.tenant, done.enrollment.id)
    assert [s.occurrence for s in steps] == list(range(30))
    local = {
        s.due_at.astimezone(__import__("zoneinfo").ZoneInfo("America/New_York")).hour for s in steps
    }
    assert local == {8}


async def test_holdout_share_is_respected_roughly(org: Org) -> None:
    from journeys import services

    await services.load_journey(
        org.tenant, JOURNEY.replace("anchors: [start]", "anchors: [start]\nholdout: 0.5")
    )
    c = await customer(org)
    flags = [
        (await enrollments.enroll(org.tenant, c.id, "tenancy-check", {})).enrollment.holdout
        for _ in range(40)
    ]
    assert 5 <= sum(flags) <= 35
    forced = await enrollments.enroll(org.tenant, c.id, "tenancy-check", {}, holdout=False)
    assert forced.enrollment.holdout is False


async def test_library_loads_through_the_api(client: Any, org: Org) -> None:
    for path in sorted(LIBRARY.glob("*.yaml")):
        r = await client.post(
            "/api/v1/journeys",
            headers={**org.auth("manager"), **YAML, "x-filename": path.name},
            content=path.read_bytes(),
        )
        assert r.status_code == 201, (path.name, r.text)
