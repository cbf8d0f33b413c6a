"""Countermeasures and source owners on hand-built data: the before/after counts, the
exposures, the rate ratio and its exact interval (worked out here by summing binomial
terms, not with the code's beta function), the verdict, and another organisation's view.
"""

from __future__ import annotations

import csv
import io
import math
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from core import clock
from dashboards import services
from journeys import services as journeys
from journeys.enrollments import services as enrollments
from journeys.tables import Step
from tests.conftest import Org, make_org
from tests.factories import DASH_DOSE, DASH_WALK_IN, customer, log_slip
from tests.integration.test_dashboards import login

CUSTOMERS = 2
BEFORE, AFTER = 6, 2


def binomial_tail_at_least(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


def solve(f: Any, target: float) -> float:
    """The p in (0, 1) where the monotone ``f`` crosses ``target`` (bisection)."""
    lo, hi = 0.0, 1.0
    rising = f(0.75) > f(0.25)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (f(mid) < target) == rising:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def exact_interval(k: int, n: int) -> tuple[float, float]:
    """Clopper-Pearson by its definition: P(X >= k | pL) = 0.025, P(X <= k | pU) = 0.025."""
    lower = 0.0 if k == 0 else solve(lambda p: binomial_tail_at_least(k, n, p), 0.025)
    upper = 1.0 if k == n else solve(lambda p: 1 - binomial_tail_at_least(k + 1, n, p), 0.025)
    return lower, upper


def dose_times(since: datetime, until: datetime) -> int:
    """08:00 UTC instants in [since, until): one daily step per customer."""
    day = since.astimezone(ZoneInfo("UTC")).date() - timedelta(days=1)
    n = 0
    while (at := datetime.combine(day, time(8), ZoneInfo("UTC"))) < until:
        n += since <= at
        day += timedelta(days=1)
    return n


async def scene(org: Org) -> tuple[date, datetime]:
    """Two customers on the daily dose journey since 20 days ago; six 'forgot' slips in the
    days before a countermeasure that starts five days ago, two after."""
    tenant = org.tenant
    await journeys.load_journey(tenant, DASH_DOSE)
    await journeys.load_journey(tenant, DASH_WALK_IN)
    start = (clock.now() - timedelta(days=20)).isoformat()
    people = [await customer(org, tz="UTC") for _ in range(CUSTOMERS)]
    for who in people:
        await enrollments.enroll(tenant, who.id, "dash-dose", {"start": start}, backfill=True)
    tz = await services.organization_timezone(tenant)
    day = clock.now().astimezone(tz).date() - timedelta(days=5)
    starts_at = datetime.combine(day, time(0), tz)
    for h in range(1, BEFORE + 1):
        await log_slip(org, "dash-dose", "take-dose", starts_at - timedelta(hours=7 * h), "forgot")
    for h in (1, 26):
        await log_slip(org, "dash-dose", "take-dose", starts_at + timedelta(hours=h), "forgot")
    await log_slip(org, "dash-dose", "take-dose", starts_at - timedelta(hours=2), "ran-out")
    return day, starts_at


async def test_before_after_matches_the_exact_interval(client: Any, org: Org) -> None:
    day, starts_at = await scene(org)
    manager = org.auth("manager")
    body = {
        "journey": "dash-dose",
        "behaviour": "take-dose",
        "failure_mode": "forgot",
        "strategy": "reminder",
        "start_date": day.isoformat(),
        "owner": "Front desk lead",
        "note": "A second text two hours after the dose.",
    }
    r = await client.post("/api/v1/countermeasures", headers=manager, json=body)
    assert r.status_code == 201, r.text
    made = r.json()
    assert made["label"] == "Take the tablet · Forgot (Dose diary)"
    e = made["effect"]
    until = datetime.fromisoformat(e["after_until"])
    length = until - starts_at
    assert datetime.fromisoformat(e["before_since"]) == starts_at - length
    assert (e["before_count"], e["after_count"]) == (BEFORE, AFTER)
    e_before = CUSTOMERS * dose_times(starts_at - length, starts_at)
    e_after = CUSTOMERS * dose_times(starts_at, until)
    assert (e["before_exposure"], e["after_exposure"], e["exposure_unit"]) == (
        e_before,
        e_after,
        "steps",
    )
    assert e["before_rate"] == pytest.approx(100 * BEFORE / e_before)
    assert e["after_rate"] == pytest.approx(100 * AFTER / e_after)
    assert e["ratio"] == pytest.approx((AFTER / e_after) / (BEFORE / e_before))
    p_low, p_high = exact_interval(AFTER, AFTER + BEFORE)
    scale = e_before / e_after
    assert e["ratio_lower"] == pytest.approx(p_low / (1 - p_low) * scale, rel=1e-9)
    assert e["ratio_upper"] == pytest.approx(p_high / (1 - p_high) * scale, rel=1e-9)
    assert e["verdict"] == "no clear change"  # 2 against 6 is not enough to tell

    listed = (await client.get("/api/v1/countermeasures", headers=manager)).json()
    assert [i["id"] for i in listed["items"]] == [made["id"]]
    early = {"end_date": (day - timedelta(days=1)).isoformat()}
    r = await client.post(f"/api/v1/countermeasures/{made['id']}/end", headers=manager, json=early)
    assert r.status_code == 422 and "end_date" in r.text
    ended = await client.post(f"/api/v1/countermeasures/{made['id']}/end", headers=manager, json={})
    assert ended.status_code == 200 and ended.json()["ended_at"]
    other = await make_org("delta")
    assert (await client.get("/api/v1/countermeasures", headers=other.auth("manager"))).json()[
        "items"
    ] == []
    for method, path in (
        ("GET", f"/api/v1/countermeasures/{made['id']}"),
        ("DELETE", f"/api/v1/countermeasures/{made['id']}"),
    ):
        r = await client.request(method, path, headers=other.auth("manager"))
        assert r.status_code == 404
    r = await client.delete(f"/api/v1/countermeasures/{made['id']}", headers=manager)
    assert r.status_code == 204
    assert (await client.get("/api/v1/countermeasures", headers=manager)).json()["items"] == []


async def test_exposure_counts_excused_steps_but_not_cancelled_ones(client: Any, org: Org) -> None:
    """The before/after exposure counts due steps as the ranking does (docs/dashboards.md):
    an excused step was asked of the customer, a cancelled one never was."""
    day, starts_at = await scene(org)
    due = await (
        org.tenant.select(Step, Step.id)
        .where((Step.due_at >= starts_at - timedelta(days=5)) & (Step.due_at < starts_at))
        .order_by(Step.due_at)
    )
    assert len(due) >= 3
    await org.tenant.update(Step, {Step.status: "excused"}).where(Step.id == due[0]["id"])
    await org.tenant.update(Step, {Step.status: "cancelled"}).where(Step.id == due[1]["id"])
    body = {
        "journey": "dash-dose",
        "behaviour": "take-dose",
        "failure_mode": "forgot",
        "strategy": "reminder",
        "start_date": day.isoformat(),
    }
    r = await client.post("/api/v1/countermeasures", headers=org.auth("manager"), json=body)
    assert r.status_code == 201, r.text
    e = r.json()["effect"]
    until = datetime.fromisoformat(e["after_until"])
    e_before = CUSTOMERS * dose_times(starts_at - (until - starts_at), starts_at)
    assert e["before_exposure"] == e_before - 1  # the cancelled one only
    assert e["before_rate"] == pytest.approx(100 * BEFORE / (e_before - 1))


async def test_single_event_and_zero_exposure(client: Any, org: Org) -> None:
    day, _ = await scene(org)
    manager = org.auth("manager")
    base = {"journey": "dash-dose", "behaviour": "take-dose", "start_date": day.isoformat()}
    # 'ran-out': one slip before, none after
    r = await client.post(
        "/api/v1/countermeasures",
        headers=manager,
        json={**base, "failure_mode": "ran-out", "strategy": "staff_help"},
    )
    e = r.json()["effect"]
    assert (e["before_count"], e["after_count"]) == (1, 0)
    scale = e["before_exposure"] / e["after_exposure"]
    assert e["ratio"] == 0 and e["ratio_lower"] == 0
    assert e["ratio_upper"] == pytest.approx(0.975 / 0.025 * scale, rel=1e-9)  # 1 - 0.025^(1/1)
    assert e["verdict"] == "no clear change"
    # no steps and no enrollments: nothing to divide by
    r = await client.post(
        "/api/v1/countermeasures",
        headers=manager,
        json={
            "journey": "dash-walkin",
            "behaviour": "sign-in",
            "strategy": "signage",
            "start_date": day.isoformat(),
        },
    )
    e = r.json()["effect"]
    assert e["exposure_unit"] is None and e["ratio"] is None and e["verdict"] == "not enough data"
    # not yet started: no comparison
    future = (day + timedelta(days=30)).isoformat()
    r = await client.post(
        "/api/v1/countermeasures",
        headers=manager,
        json={**base, "failure_mode": "forgot", "strategy": "education", "start_date": future},
    )
    assert r.status_code == 201 and r.json()["effect"] is None
    for wrong, field in (
        ({**base, "strategy": "shouting"}, "strategy"),
        ({**base, "behaviour": "fly", "strategy": "education"}, "behaviour"),
        ({**base, "failure_mode": "nope", "strategy": "education"}, "failure_mode"),
        ({**base, "strategy": "education", "start_date": "0001-01-01"}, "start_date"),
    ):
        r = await client.post("/api/v1/countermeasures", headers=manager, json=wrong)
        assert r.status_code in (400, 422), r.text
        assert field in r.text
    r = await client.post(
        "/api/v1/countermeasures",
        headers=manager,
        json={**base, "journey": "nowhere", "strategy": "education"},
    )
    assert r.status_code == 404
    staff = await client.get("/api/v1/countermeasures", headers=org.auth("staff"))
    assert staff.status_code == 403


async def test_owner_shows_in_the_ranking(client: Any, org: Org) -> None:
    await scene(org)
    manager = org.auth("manager")
    source = {"journey": "dash-dose", "behaviour": "take-dose", "failure_mode": "forgot"}
    r = await client.put(
        "/api/v1/rankings/owners", headers=manager, json={**source, "owner": "Dr Okafor"}
    )
    assert r.status_code == 200, r.text
    r = await client.put(
        "/api/v1/rankings/owners", headers=manager, json={**source, "owner": "Nurse Lee"}
    )
    listed = (await client.get("/api/v1/rankings/owners", headers=manager)).json()["items"]
    assert [(o["failure_mode"], o["owner"]) for o in listed] == [("forgot", "Nurse Lee")]
    params = {"since": (clock.now() - timedelta(days=20)).isoformat()}
    ranking = (await client.get("/api/v1/rankings", headers=manager, params=params)).json()
    owners = {i["failure_mode"]: i["owner"] for i in ranking["items"]}
    assert owners == {"forgot": "Nurse Lee", "ran-out": None}
    other = await make_org("epsilon")
    await journeys.load_journey(other.tenant, DASH_DOSE)
    theirs = await client.get("/api/v1/rankings/owners", headers=other.auth("manager"))
    assert theirs.json()["items"] == []
    cleared = await client.put(
        "/api/v1/rankings/owners", headers=manager, json={**source, "owner": None}
    )
    assert cleared.status_code == 200
    assert (await client.get("/api/v1/rankings/owners", headers=manager)).json()["items"] == []


async def test_page_forms_json_csv_and_another_organisation(client: Any, org: Org) -> None:
    day, _ = await scene(org)
    await login(client, org.users["manager"], org.password)
    try:
        page = await client.get("/dashboards/countermeasures")
        assert page.status_code == 200 and "No countermeasures yet" in page.text
        token = client.cookies.get("slipguard_csrf", "")
        form = {
            "_csrf_token": token,
            "source": "dash-dose|take-dose|forgot",
            "strategy": "reminder",
            "start_date": day.isoformat(),
            "owner": "Desk lead",
        }
        r = await client.post("/dashboards/countermeasures", data=form, follow_redirects=False)
        assert r.status_code == 303, r.text
        bad = await client.post(
            "/dashboards/countermeasures", data={**form, "strategy": "luck"}, follow_redirects=False
        )
        assert bad.status_code == 422 and "Not saved" in bad.text
        r = await client.post(
            "/dashboards/owners",
            data={"_csrf_token": token, "source": "dash-dose|take-dose|", "owner": "Pharmacist"},
            follow_redirects=False,
        )
        assert r.status_code == 303
        page = await client.get("/dashboards/countermeasures")
        assert "Pharmacist" in page.text and "Desk lead" in page.text
        data = (await client.get("/dashboards/countermeasures/data")).json()
        [item] = data["items"]
        bars = data["figures"]["before_after"]["data"]
        assert [t["name"] for t in bars] == ["before", "after"]
        assert bars[0]["y"] == [item["effect"]["before_rate"]]
        exported = (await client.get("/dashboards/countermeasures/export.csv")).text
        rows = list(csv.reader(io.StringIO(exported)))
        assert float(rows[1][rows[0].index("after_rate")]) == pytest.approx(bars[1]["y"][0])
        r = await client.post(
            f"/dashboards/countermeasures/{item['id']}/end",
            data={"_csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 303
        other = await make_org("eta")
        await login(client, other.users["manager"], other.password)
        texts = [
            (await client.get(path)).text
            for path in (
                "/dashboards/countermeasures",
                "/dashboards/countermeasures/data",
                "/dashboards/countermeasures/export.csv",
            )
        ]
        for text in texts:
            assert "Desk lead" not in text and "Pharmacist" not in text and item["id"] not in text
        token = client.cookies.get("slipguard_csrf", "")
        r = await client.post(
            f"/dashboards/countermeasures/{item['id']}/end",
            data={"_csrf_token": token},
            follow_redirects=False,
        )
        assert r.status_code == 404
    finally:
        client.cookies.clear()


async def test_page_filters_choose_countermeasures_and_narrow_their_slips(
    client: Any, org: Org
) -> None:
    day, starts_at = await scene(org)
    manager = org.auth("manager")
    # two slips at the north site, one on each side of the start
    for hours in (-3, 3):
        at = starts_at + timedelta(hours=hours)
        await log_slip(org, "dash-dose", "take-dose", at, "forgot", site="north")
    dose = {"journey": "dash-dose", "behaviour": "take-dose", "failure_mode": "forgot"}
    r = await client.post(
        "/api/v1/countermeasures",
        headers=manager,
        json={**dose, "strategy": "reminder", "start_date": day.isoformat(), "owner": "Ana Lind"},
    )
    assert r.status_code == 201, r.text
    walk_in = {"journey": "dash-walkin", "behaviour": "sign-in", "failure_mode": None}
    old = day - timedelta(days=200)
    r = await client.post(
        "/api/v1/countermeasures",
        headers=manager,
        json={**walk_in, "strategy": "signage", "start_date": old.isoformat(), "owner": "Bo Berg"},
    )
    assert r.status_code == 201, r.text
    ended = {"end_date": (old + timedelta(days=50)).isoformat()}
    r = await client.post(
        f"/api/v1/countermeasures/{r.json()['id']}/end", headers=manager, json=ended
    )
    assert r.status_code == 200, r.text

    await login(client, org.users["manager"], org.password)
    try:

        async def shown(query: str) -> list[tuple[str, int | None, int | None]]:
            data = (await client.get(f"/dashboards/countermeasures/data?{query}")).json()
            exported = await client.get(f"/dashboards/countermeasures/export.csv?{query}")
            csv_rows = list(csv.reader(io.StringIO(exported.text)))
            assert len(csv_rows) - 1 == len(data["items"])
            return [
                (
                    i["owner"],
                    i["effect"]["before_count"] if i["effect"] else None,
                    i["effect"]["after_count"] if i["effect"] else None,
                )
                for i in data["items"]
            ]

        assert await shown("") == [("Ana Lind", BEFORE + 1, AFTER + 1), ("Bo Berg", 0, 0)]
        # journey and stage choose the countermeasures targeting them
        assert await shown("journey=dash-dose") == [("Ana Lind", BEFORE + 1, AFTER + 1)]
        assert await shown("journey=dash-walkin") == [("Bo Berg", 0, 0)]
        # the form's blank fields (as a browser sends them) mean no filter
        assert await shown("journey=dash-walkin&since=&until=&site=&stage=") == [("Bo Berg", 0, 0)]
        assert await shown("stage=encounter") == [("Bo Berg", 0, 0)]
        assert await shown("stage=post_encounter") == [("Ana Lind", BEFORE + 1, AFTER + 1)]
        assert await shown("stage=pre_encounter") == []
        # a site narrows the slips compared, not the steps they are divided by
        assert await shown("site=north") == [("Ana Lind", 1, 1), ("Bo Berg", 0, 0)]
        whole = (await client.get("/dashboards/countermeasures/data")).json()["items"][0]
        north = (await client.get("/dashboards/countermeasures/data?site=north")).json()["items"][0]
        assert north["effect"]["before_exposure"] == whole["effect"]["before_exposure"] > 0
        # the period shows the countermeasures in force at some time in it
        today = day + timedelta(days=5)
        recent = f"since={(today - timedelta(days=10)).isoformat()}&until={today.isoformat()}"
        assert await shown(recent) == [("Ana Lind", BEFORE + 1, AFTER + 1)]
        first, last = old + timedelta(days=1), old + timedelta(days=9)
        back_then = f"since={first.isoformat()}&until={last.isoformat()}"
        assert await shown(back_then) == [("Bo Berg", 0, 0)]
        # the page keeps its filters in the form and in its data, CSV and JSON links
        page = await client.get("/dashboards/countermeasures?journey=dash-walkin&site=north")
        assert page.status_code == 200
        assert (
            'data-source="/dashboards/countermeasures/data?journey=dash-walkin&amp;site=north"'
            in page.text
        )
        assert "export.csv?journey=dash-walkin&amp;site=north" in page.text
        assert 'value="north"' in page.text
        assert "Bo Berg" in page.text and "Ana Lind" not in page.text
        none = await client.get("/dashboards/countermeasures?stage=pre_encounter")
        assert "No countermeasures match" in none.text
        # bad filters are refused, naming the parameter
        for query, field in (("since=yesterday", "since"), (f"since={today}&until={old}", "since")):
            bad = await client.get(
                f"/dashboards/countermeasures/data?{query}", headers={"accept": "application/json"}
            )
            assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == field, bad.text
    finally:
        client.cookies.clear()


async def test_nudge_page_says_site_and_stage_cannot_narrow_it(client: Any, org: Org) -> None:
    await login(client, org.users["manager"], org.password)
    try:
        page = (await client.get("/dashboards/nudges")).text
        assert "messages carry no site or stage" in page
        assert 'name="site" placeholder="All sites" disabled' in page
        assert '<select name="stage" disabled' in page
    finally:
        client.cookies.clear()
