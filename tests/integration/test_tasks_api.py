"""Staff tasks over the API: list with filters and cursor pages, close once, the
service-standard counts, and tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from coaching import tasks
from coaching.tables import StaffTask
from tests.conftest import Org
from tests.factories import assert_problem


async def _task(org: Org, name: str, due_hours: int, created: datetime, user: Any = None) -> UUID:
    made = await tasks.open_task(
        org.tenant, key=f"test:{org.id}:{name}", reason="escalate", title=f"Call {name}",
        due_hours=due_hours, now=created, assigned_to=user.id if user else None,
    )  # fmt: skip
    assert made is not None
    return made


async def _ids(client: Any, org: Org, query: str, role: str = "staff", **kw: Any) -> list[str]:
    r = await client.get(f"/api/v1/tasks?{query}", headers=kw.get("headers") or org.auth(role))
    assert r.status_code == 200, r.text
    return [t["id"] for t in r.json()["items"]]


async def test_tasks_filter_page_and_close(client: Any, org: Org) -> None:
    now = datetime.now(UTC)
    late = await _task(org, "late", 2, now - timedelta(hours=3))
    soon = await _task(org, "soon", 24, now - timedelta(hours=1), org.users["staff"])
    done = await _task(org, "done", 24, now - timedelta(minutes=30))
    assert await tasks.open_task(
        org.tenant, key=f"test:{org.id}:late", reason="escalate", title="again",
        due_hours=1, now=now,
    ) is None  # fmt: skip
    r = await client.post(
        f"/api/v1/tasks/{done}/close", json={"outcome": "Called, all fine"}, headers=org.auth()
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed" and closed["outcome"] == "Called, all fine"
    assert closed["closed_by_key_id"] == str(org.key_ids["admin"])
    again = await client.post(
        f"/api/v1/tasks/{done}/close", json={"outcome": "twice"}, headers=org.auth()
    )
    assert_problem(again, 409)

    assert await _ids(client, org, "limit=50") == [str(late), str(soon), str(done)]
    assert await _ids(client, org, "open=true") == [str(late), str(soon)]
    assert await _ids(client, org, "open=false") == [str(done)]
    assert await _ids(client, org, "overdue=true") == [str(late)]
    # "mine" is the signed-in user's; an API key has no tasks of its own.
    assert await _ids(client, org, "mine=true") == []
    first = await client.get("/api/v1/tasks?limit=2", headers=org.auth("staff"))
    page = first.json()
    assert len(page["items"]) == 2 and page["next_cursor"]
    rest = await _ids(client, org, f"limit=2&cursor={page['next_cursor']}")
    assert rest == [str(done)]
    one = (await client.get(f"/api/v1/tasks/{late}", headers=org.auth("staff"))).json()
    assert one["overdue"] is True and one["title"] == "Call late"

    counts = await tasks.standard_counts(org.tenant, now - timedelta(days=1), now + timedelta(1))
    assert (counts.opened, counts.closed_in_time, counts.overdue, counts.open) == (3, 1, 1, 2)
    assert counts.share_in_time == 0.5 and counts.met is False
    assert (counts.due_hours, counts.target_percent) == (24, 90)


async def test_mine_means_assigned_to_the_signed_in_user(org: Org) -> None:
    now = datetime.now(UTC)
    mine = await _task(org, "mine", 24, now, org.users["staff"])
    await _task(org, "theirs", 24, now, org.users["manager"])
    as_staff = tasks.TaskFilter(mine=org.users["staff"].id, mine_only=True)
    found, _ = await tasks.list_tasks(org.tenant, as_staff, None, 50)
    assert [t.id for t in found] == [mine]
    found, _ = await tasks.list_tasks(org.tenant, tasks.TaskFilter(mine_only=True), None, 50)
    assert found == []


async def test_closing_needs_an_outcome_and_another_organisations_task_is_not_found(
    client: Any, org: Org, other_org: Org
) -> None:
    theirs = await _task(other_org, "theirs", 24, datetime.now(UTC))
    r = await client.post(
        f"/api/v1/tasks/{theirs}/close", json={"outcome": "x"}, headers=org.auth()
    )
    assert_problem(r, 404)
    assert_problem(
        await client.post(f"/api/v1/tasks/{theirs}/close", json={}, headers=other_org.auth()), 422
    )
    row = await StaffTask.objects().where(StaffTask.id == theirs).first()
    assert row is not None and row.status == "open"
