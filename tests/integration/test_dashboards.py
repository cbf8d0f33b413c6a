"""Dashboards on hand-built data with known counts: the ranking (rates, shares, cumulative
shares, change, Action Priority, ties), the Hierarchy of Horrors and its index, the
breakdowns, the rankings API, the pages' JSON and CSV, and another organisation's view.

Every expected number is worked out here from the scene below, not taken from the code.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any

import msgspec
import pytest

from dashboards import services
from dashboards.queries import Filters, Window
from journeys import services as journeys
from journeys.tables import Step
from tests.conftest import Org, make_org
from tests.factories import DASH_DOSE, DashboardScene, csrf_token, dashboard_scene, log_slip

FORGOT = "Take the tablet · Forgot"
RAN_OUT = "Take the tablet · ran-out"
DOSE_ANY = "Take the tablet"
CARD = "Bring the card"
SIGN_IN = "Sign in at the desk"
# Three customers on the daily dose journey since 20 days ago: in any 7 x 24 h window
# of the last 14 days, 3 x 7 steps fall due (every day at 08:00 UTC).
DUE_STEPS = 21
ENROLLED = 3


@pytest.fixture
async def scene(org: Org) -> DashboardScene:
    return await dashboard_scene(org)


# --- the expected numbers, worked out by hand ---------------------------------------------

TOTAL = 6 + 2 + 1 + 3 + 2
RATES = {
    FORGOT: 100 * 6 / DUE_STEPS,
    RAN_OUT: 100 * 2 / DUE_STEPS,
    DOSE_ANY: 100 * 1 / DUE_STEPS,
    CARD: 100 * 3 / ENROLLED,  # no steps due in the window: per 100 enrollments
    SIGN_IN: None,
}
IMPORTANCE = {FORGOT: 9, RAN_OUT: 9, DOSE_ANY: 9, CARD: 4, SIGN_IN: 3}
COUNTS = {FORGOT: 6, RAN_OUT: 2, DOSE_ANY: 1, CARD: 3, SIGN_IN: 2}
CUSTOMERS = {FORGOT: 3, RAN_OUT: 1, DOSE_ANY: 1, CARD: 2, SIGN_IN: 0}
DETECTED_SHARE = {FORGOT: 0.0, RAN_OUT: 1.0, DOSE_ANY: 0.0, CARD: 0.0, SIGN_IN: 0.0}


def occurrence(rate: float | None) -> int:
    """The default ladder, per 1,000 as the handbook writes it."""
    if rate is None:
        return 10
    per_1000 = rate * 10
    for rating, lowest in [(10, 100), (9, 50), (8, 20), (7, 10), (6, 2), (5, 0.5), (4, 0.1)]:
        if per_1000 >= lowest:
            return rating
    return 3 if per_1000 >= 0.01 else 2


def detection(share: float) -> int:
    return 3 if share >= 0.9 else 5 if share >= 0.5 else 6 if share >= 0.1 else 7


def action_priority(s: int, o: int, d: int) -> str:
    """The AIAG-VDA table, written out as rules."""
    if s >= 9:
        if o >= 6:
            return "H"
        if o >= 4:
            return "H" if d >= 2 else "M"
        if o >= 2:
            return "H" if d >= 7 else "M" if d >= 5 else "L"
        return "L"
    if s >= 7:
        if o >= 8:
            return "H"
        if o >= 6:
            return "H" if d >= 2 else "M"
        if o >= 4:
            return "H" if d >= 7 else "M"
        if o >= 2:
            return "M" if d >= 5 else "L"
        return "L"
    if s >= 4:
        if o >= 8:
            return "H" if d >= 5 else "M"
        if o >= 6:
            return "M" if d >= 2 else "L"
        if o >= 4:
            return "M" if d >= 7 else "L"
        return "L"
    if s >= 2 and o >= 8:
        return "M" if d >= 5 else "L"
    return "L"


def expected_ap(label: str) -> tuple[int, int, int, str]:
    s, o, d = IMPORTANCE[label], occurrence(RATES[label]), detection(DETECTED_SHARE[label])
    return s, o, d, action_priority(s, o, d)


# --- ranking ---------------------------------------------------------------------------------


async def test_ranking_by_priority_matches_the_hand_count(scene: DashboardScene) -> None:
    ranking = await services.ranking(scene.org.tenant, scene.window, Filters(), "priority")
    assert ranking.total == TOTAL
    # priority = importance x rate: 400, 257.1, 85.7, 42.9, then the source without a rate
    assert [r.label for r in ranking.items] == [CARD, FORGOT, RAN_OUT, DOSE_ANY, SIGN_IN]
    running = 0
    for rank, row in enumerate(ranking.items, 1):
        label = row.label
        running += COUNTS[label]
        assert row.rank == rank
        assert row.count == COUNTS[label]
        assert row.customers == CUSTOMERS[label]
        assert row.importance == IMPORTANCE[label] and row.importance_source == "definition"
        if RATES[label] is None:
            assert row.rate is None and row.priority is None
            assert row.exposure == 0 and row.exposure_unit is None
        else:
            assert row.rate == pytest.approx(RATES[label])
            assert row.priority == pytest.approx(IMPORTANCE[label] * RATES[label])
        assert row.share == pytest.approx(COUNTS[label] / TOTAL)
        assert row.cumulative_share == pytest.approx(running / TOTAL)
        s, o, d, ap = expected_ap(label)
        assert (row.severity, row.occurrence, row.detection, row.action_priority) == (s, o, d, ap)
        assert row.rpn == s * o * d
        assert not row.tied
    assert ranking.items[-1].cumulative_share == pytest.approx(1.0)
    by_label = {r.label: r for r in ranking.items}
    assert by_label[FORGOT].exposure == DUE_STEPS and by_label[FORGOT].exposure_unit == "steps"
    assert by_label[CARD].exposure == ENROLLED and by_label[CARD].exposure_unit == "enrollments"
    assert by_label[FORGOT].guidance == "Keep the box in sight."
    # the previous 7 days: 3 forgotten doses of 21 due, so the rate doubled
    assert by_label[FORGOT].previous_count == 3
    assert by_label[FORGOT].previous_rate == pytest.approx(100 * 3 / DUE_STEPS)
    assert by_label[FORGOT].change == pytest.approx(1.0)
    assert by_label[RAN_OUT].previous_count == 0 and by_label[RAN_OUT].change is None


async def test_exposure_counts_every_due_step_but_cancelled_ones(scene: DashboardScene) -> None:
    """Excused steps (behaviours without a confirmation) are exposure; cancelled are not."""
    tenant = scene.org.tenant
    due = await (
        tenant.select(Step, Step.id)
        .where((Step.due_at >= scene.window.since) & (Step.due_at < scene.window.until))
        .order_by(Step.due_at)
    )
    assert len(due) == DUE_STEPS
    await tenant.update(Step, {Step.status: "excused"}).where(Step.id == due[0]["id"])
    await tenant.update(Step, {Step.status: "cancelled"}).where(
        Step.id.is_in([due[1]["id"], due[2]["id"]])
    )
    ranking = await services.ranking(tenant, scene.window, Filters())
    forgot = next(r for r in ranking.items if r.label == FORGOT)
    assert forgot.exposure == DUE_STEPS - 2
    assert forgot.rate == pytest.approx(100 * 6 / (DUE_STEPS - 2))


async def test_ranking_by_count_flags_ties_and_by_ap_puts_high_first(scene: DashboardScene) -> None:
    ranking = await services.ranking(scene.org.tenant, scene.window, Filters(), "count")
    assert [(r.label, r.count, r.tied) for r in ranking.items] == [
        (FORGOT, 6, False),
        (CARD, 3, False),
        (SIGN_IN, 2, True),  # two slips each: a tie, in label order
        (RAN_OUT, 2, True),
        (DOSE_ANY, 1, False),
    ]
    assert [r.cumulative_share for r in ranking.items] == pytest.approx(
        [6 / TOTAL, 9 / TOTAL, 11 / TOTAL, 13 / TOTAL, 1.0]
    )
    by_ap = await services.ranking(scene.org.tenant, scene.window, Filters(), "ap")
    classes = [r.action_priority for r in by_ap.items]
    assert classes == sorted(classes, key="HML".index)
    assert [r.label for r in by_ap.items] == sorted(
        COUNTS,
        key=lambda lb: ("HML".index(expected_ap(lb)[3]), -(IMPORTANCE[lb] * (RATES[lb] or -1))),
    )


async def test_filters_narrow_the_slips(scene: DashboardScene) -> None:
    tenant = scene.org.tenant
    north = await services.ranking(tenant, scene.window, Filters(site="north"))
    assert [(r.label, r.count) for r in north.items] == [(SIGN_IN, 2)] and north.total == 2
    walk_in = await services.ranking(tenant, scene.window, Filters(journey="dash-walkin"))
    assert [r.label for r in walk_in.items] == [SIGN_IN]
    before = await services.ranking(tenant, scene.window, Filters(stage="pre_encounter"))
    assert [(r.label, r.count) for r in before.items] == [(CARD, 3)]
    # the rate's denominator is the same whatever narrows the slips
    assert before.items[0].rate == pytest.approx(RATES[CARD])


async def test_empty_window_and_zero_exposure(scene: DashboardScene) -> None:
    long_ago = Window(
        scene.window.since - timedelta(days=200), scene.window.since - timedelta(days=100)
    )
    empty = await services.dashboard(scene.org.tenant, long_ago, Filters())
    assert empty.total == 0 and empty.ranking.items == [] and empty.pareto.bars == []
    assert empty.horrors.rows == [] and all(i is None for i in empty.horrors.index)
    assert empty.breakdowns.rows == [] and empty.trends.rows == []


async def test_horrors_index_pareto_and_breakdowns(scene: DashboardScene) -> None:
    d = await services.dashboard(scene.org.tenant, scene.window, Filters())
    h = d.horrors
    assert len(h.days) == 7 and h.exposures == [3] * 7
    daily = {r.label: r.daily for r in h.rows}
    assert daily[FORGOT] == [0, 0, 2, 1, 1, 1, 1]
    assert daily[RAN_OUT] == [0, 1, 0, 0, 0, 1, 0]
    assert daily[CARD] == [1, 0, 0, 0, 0, 0, 2]
    assert daily[SIGN_IN] == [0, 0, 0, 2, 0, 0, 0]
    assert [r.label for r in h.rows] == [r.label for r in d.ranking.items]  # five sources
    weighted = [4, 9, 18, 9 + 2 * 3, 9 + 9, 9 + 9, 9 + 2 * 4]
    assert h.weighted == pytest.approx(weighted)
    assert h.index == pytest.approx([1000 * w / 3 for w in weighted])

    bars = d.pareto.bars
    assert [(b.label, b.value) for b in bars][:2] == [(FORGOT, 6), (CARD, 3)]
    assert [b.cumulative_percent for b in bars] == pytest.approx(
        [100 * 6 / 14, 100 * 9 / 14, 100 * 11 / 14, 100 * 13 / 14, 100.0]
    )
    # 6, 9, 11, 13 of 14 slips (43%, 64%, 79%, 93%): the fourth bar takes the share past
    # 80%, so four are vital
    assert [b.vital for b in bars] == [True, True, True, True, False]

    assert d.matrix.unplaced == [SIGN_IN] and len(d.matrix.points) == 4
    sources = {r.value: r.count for r in d.breakdowns.rows if r.dimension == "source"}
    assert sources == {"staff": 12, "system": 2}
    for dimension in ("root_cause", "deficit", "stage", "site", "channel", "source"):
        assert sum(r.count for r in d.breakdowns.rows if r.dimension == dimension) == TOTAL
    sites = {r.value: r.count for r in d.breakdowns.rows if r.dimension == "site"}
    assert sites == {"(not recorded)": 12, "north": 2}
    assert len(d.trends.rows) == 5 and all(len(t.weeks) == 1 for t in d.trends.rows)


# --- HTTP ------------------------------------------------------------------------------------


async def login(client: Any, user: Any, password: str) -> dict[str, str]:
    client.cookies.clear()
    token = csrf_token((await client.get("/login")).text)
    form = {"email": user.email, "password": password, "_csrf_token": token}
    r = await client.post("/login", data=form, follow_redirects=False)
    assert r.status_code == 303
    return {"x-csrftoken": client.cookies.get("slipguard_csrf", "")}


async def test_rankings_api(client: Any, scene: DashboardScene) -> None:
    params = {"since": scene.window.since.isoformat(), "until": scene.window.until.isoformat()}
    r = await client.get("/api/v1/rankings", headers=scene.org.auth("manager"), params=params)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == TOTAL and body["by"] == "priority"
    assert [i["label"] for i in body["items"]] == [CARD, FORGOT, RAN_OUT, DOSE_ANY, SIGN_IN]
    assert body["items"][1]["rate"] == pytest.approx(RATES[FORGOT])
    counted = await client.get(
        "/api/v1/rankings",
        headers=scene.org.auth("admin"),
        params={**params, "by": "count", "journey": "dash-walkin"},
    )
    assert [i["count"] for i in counted.json()["items"]] == [2]
    staff = await client.get("/api/v1/rankings", headers=scene.org.auth("staff"))
    assert staff.status_code == 403
    bad = await client.get(
        "/api/v1/rankings", headers=scene.org.auth("manager"), params={"by": "loudness"}
    )
    assert bad.status_code in (400, 422)
    backwards = {"since": params["until"], "until": params["since"]}
    r = await client.get("/api/v1/rankings", headers=scene.org.auth("manager"), params=backwards)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"
    schema = (await client.get("/schema/openapi.json")).json()
    ok = schema["paths"]["/api/v1/rankings"]["get"]["responses"]["200"]
    ref = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    assert "items" in schema["components"]["schemas"][ref]["properties"]


async def test_action_priority_table_is_organisation_data(client: Any, org: Org) -> None:
    manager, admin = org.auth("manager"), org.auth("admin")
    table = (await client.get("/api/v1/rankings/action-priority", headers=manager)).json()
    assert table["table"][0][0] == "HHHH"
    table["table"][4] = ["MMMM"] * 5  # severity 1 is no longer always low
    saved = await client.put("/api/v1/rankings/action-priority", headers=admin, json=table)
    assert saved.status_code == 200, saved.text
    again = (await client.get("/api/v1/rankings/action-priority", headers=manager)).json()
    assert again["table"][4] == ["MMMM"] * 5
    table["table"][4] = ["MMM"] * 5
    wrong = await client.put("/api/v1/rankings/action-priority", headers=admin, json=table)
    assert wrong.status_code == 422 and wrong.json()["errors"][0]["field"] == "table[4][0]"
    refused = await client.put("/api/v1/rankings/action-priority", headers=manager, json=table)
    assert refused.status_code == 403


def _rows(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


async def test_pages_json_and_csv(client: Any, scene: DashboardScene) -> None:
    org = scene.org
    await login(client, org.users["manager"], org.password)
    try:
        page = await client.get("/dashboards")
        assert page.status_code == 200 and "Hierarchy of Horrors" in page.text
        assert '<script src="/static/plotly/plotly.min.js" defer></script>' in page.text
        assert "cdn" not in page.text.lower()
        policy = page.headers["content-security-policy"]
        assert "script-src 'self';" in policy and "unsafe-inline" not in policy
        data = (await client.get("/dashboards/data")).json()
        d = data["dashboard"]
        # the default 30 days also hold the previous week, and the slip a minute after the
        # scene once that minute has passed
        late = datetime.fromisoformat(d["until"]) > scene.window.until + timedelta(minutes=1)
        assert d["total"] == TOTAL + 3 + late
        assert set(data["figures"]) >= {"pareto", "matrix", "horrors", "trends"}
        pareto = data["figures"]["pareto"]
        assert pareto["data"][0]["y"] == [b["value"] for b in d["pareto"]["bars"]]
        exported = _rows((await client.get("/dashboards/export.csv?panel=pareto")).text)
        assert exported[0] == ["label", "count", "cumulative_percent", "vital"]
        assert [float(r[1]) for r in exported[1:]] == pareto["data"][0]["y"]
        ranking = _rows((await client.get("/dashboards/export.csv?panel=ranking")).text)
        assert [r[1] for r in ranking[1:]] == [i["label"] for i in d["ranking"]["items"]]
        for panel in services.PANELS:
            r = await client.get(f"/dashboards/export.csv?panel={panel}")
            assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        r = await client.get("/dashboards/export.csv?panel=nothing")
        assert r.status_code == 422
        # one panel's JSON holds the numbers of its CSV
        horrors = (await client.get("/dashboards/data?panel=horrors")).json()
        ticks = _rows((await client.get("/dashboards/export.csv?panel=horrors")).text)
        assert ticks[0][3:] == horrors["days"]
        assert [[int(n) for n in row[3:]] for row in ticks[1:]] == [
            row["daily"] for row in horrors["rows"]
        ]
        index = _rows((await client.get("/dashboards/export.csv?panel=index")).text)
        assert [float(row[3]) if row[3] else None for row in index[1:]] == horrors["index"]
        r = await client.get("/dashboards/data?panel=nothing")
        assert r.status_code == 422
        plotly = await client.get("/static/plotly/plotly.min.js")
        assert plotly.status_code == 200 and len(plotly.content) > 1_000_000
        await login(client, org.users["staff"], org.password)
        assert (await client.get("/dashboards/data")).status_code == 403
    finally:
        client.cookies.clear()


async def test_managers_land_on_the_dashboards(client: Any, org: Org) -> None:
    client.cookies.clear()
    token = csrf_token((await client.get("/login?next=/")).text)
    for role, landing in (("manager", "/dashboards"), ("admin", "/dashboards"), ("staff", "/")):
        client.cookies.clear()
        token = csrf_token((await client.get("/login?next=/")).text)
        form = {
            "email": org.users[role].email,
            "password": org.password,
            "next": "/",
            "_csrf_token": token,
        }
        r = await client.post("/login", data=form, follow_redirects=False)
        assert r.headers["location"] == landing, role
    client.cookies.clear()


OTHER_JOURNEY = """\
key: gamma-plants
title: Plant care
behaviours:
  - key: water
    title: Water the ferns
    stage: post_encounter
    importance: 7
    schedule: {once: start}
    failure_modes:
      - {key: flooded, title: Flooded the pot, guidance: Use the small can.}
"""


async def _views(client: Any, org: Org, params: dict[str, str]) -> tuple[Any, list[str]]:
    """What a manager of ``org`` gets: the ranking API's body, and the texts of the page,
    its JSON and every panel's CSV."""
    r = await client.get("/api/v1/rankings", headers=org.auth("manager"), params=params)
    assert r.status_code == 200, r.text
    await login(client, org.users["manager"], org.password)
    try:
        texts = [(await client.get("/dashboards")).text]
        texts.append((await client.get("/dashboards/data")).text)
        for panel in services.PANELS:
            texts.append((await client.get(f"/dashboards/export.csv?panel={panel}")).text)
    finally:
        client.cookies.clear()
    return r.json(), texts


async def test_another_organisation_sees_none_of_it(client: Any, scene: DashboardScene) -> None:
    """Two organisations with slips of their own, one journey key in common: each sees its
    own numbers only, in the API, the page, its JSON and its CSV."""
    other = await make_org("gamma")
    await journeys.load_journey(other.tenant, DASH_DOSE)  # the same journey key
    await journeys.load_journey(other.tenant, OTHER_JOURNEY)
    at = scene.window.until - timedelta(hours=5)
    for _ in range(4):
        await log_slip(other, "gamma-plants", "water", at, "flooded", site="greenhouse")
    for _ in range(7):  # more forgotten doses than the scene's six
        await log_slip(other, "dash-dose", "take-dose", at, "forgot", site="greenhouse")
    params = {"since": scene.window.since.isoformat(), "until": scene.window.until.isoformat()}

    mine, my_texts = await _views(client, scene.org, params)
    theirs, their_texts = await _views(client, other, params)
    assert mine["total"] == TOTAL
    assert {i["label"]: i["count"] for i in mine["items"]} == COUNTS
    assert theirs["total"] == 11
    assert {i["label"]: i["count"] for i in theirs["items"]} == {
        "Water the ferns · Flooded the pot": 4,
        FORGOT: 7,
    }
    only_theirs = ["Water the ferns", "Flooded the pot", "greenhouse", "Use the small can."]
    only_mine = [CARD, SIGN_IN, RAN_OUT, "north"]
    for text in my_texts:
        for secret in only_theirs:
            assert secret not in text
    for text in their_texts:
        for secret in only_mine:
            assert secret not in text
    # the source both share is counted apart: six forgotten doses here, seven there
    my_data = msgspec.json.decode(my_texts[1])["dashboard"]
    their_data = msgspec.json.decode(their_texts[1])["dashboard"]
    pareto = {b["label"]: b["value"] for b in my_data["pareto"]["bars"]}
    assert pareto[FORGOT] >= 6 and their_data["total"] == 11
    their_pareto = {b["label"]: b["value"] for b in their_data["pareto"]["bars"]}
    assert their_pareto == {FORGOT: 7, "Water the ferns · Flooded the pot": 4}
    their_sites = _rows(their_texts[2 + services.PANELS.index("breakdowns")])
    greenhouse = next(row for row in their_sites if row[1] == "greenhouse")
    assert greenhouse[:3] == ["site", "greenhouse", "11"]


async def test_pareto_measure_and_matrix_owner_through_the_page(
    client: Any, scene: DashboardScene
) -> None:
    org = scene.org
    source = {"journey": "dash-dose", "behaviour": "take-dose", "failure_mode": "forgot"}
    r = await client.put(
        "/api/v1/rankings/owners", headers=org.auth("manager"), json={**source, "owner": "Lee"}
    )
    assert r.status_code == 200, r.text
    await login(client, org.users["manager"], org.password)
    try:
        counted = (await client.get("/dashboards/data")).json()
        weighted = (await client.get("/dashboards/data?measure=weighted")).json()
        d = weighted["dashboard"]
        assert counted["dashboard"]["pareto"]["measure"] == "count"
        assert d["pareto"]["measure"] == "weighted"
        # each bar is the source's importance x its slips, largest first
        expected = sorted(
            ((i["label"], i["importance"] * i["count"]) for i in d["ranking"]["items"]),
            key=lambda lv: (-lv[1], lv[0]),
        )
        bars = [(b["label"], b["value"]) for b in d["pareto"]["bars"]]
        assert bars == [(label, pytest.approx(v)) for label, v in expected]
        assert len(bars) == len(d["ranking"]["items"]) >= 2
        counts = [b["value"] for b in counted["dashboard"]["pareto"]["bars"]]
        assert counts == sorted((i["count"] for i in d["ranking"]["items"]), reverse=True)
        figure = weighted["figures"]["pareto"]
        assert "weighted" in figure["layout"]["yaxis"]["title"]["text"]
        assert "weighted" not in counted["figures"]["pareto"]["layout"]["yaxis"]["title"]["text"]
        assert figure["data"][0]["y"] == [b["value"] for b in d["pareto"]["bars"]]
        exported = _rows(
            (await client.get("/dashboards/export.csv?panel=pareto&measure=weighted")).text
        )
        assert exported[0] == ["label", "weighted", "cumulative_percent", "vital"]
        assert [float(r[1]) for r in exported[1:]] == figure["data"][0]["y"]
        # the page keeps the measure in its links and marks the toggle
        page = (await client.get("/dashboards?measure=weighted&journey=dash-dose")).text
        assert "measure=weighted" in page and 'aria-current="true" class="on">Weighted' in page
        assert 'name="measure" value="weighted"' in page
        # the matrix names the owner in its rows, its CSV and its hover
        points = {p["label"]: p for p in d["matrix"]["points"]}
        assert points[FORGOT]["owner"] == "Lee" and points[CARD]["owner"] is None
        matrix = _rows((await client.get("/dashboards/export.csv?panel=matrix")).text)
        owner_at = matrix[0].index("owner")
        assert {r[0]: r[owner_at] for r in matrix[1:]}[FORGOT] == "Lee"
        hovers = [
            custom[3]
            for trace in weighted["figures"]["matrix"]["data"]
            for custom in trace["customdata"]
        ]
        assert sorted(hovers) == sorted(["Lee"] + ["—"] * (len(points) - 1))
        # a measure that is not one of the two is refused, naming the parameter
        for path in ("/dashboards/data", "/dashboards/export.csv", "/dashboards"):
            bad = await client.get(
                f"{path}?measure=loudest", headers={"accept": "application/json"}
            )
            assert bad.status_code in (400, 422), path
            problem = bad.json()
            assert [e["field"] for e in problem["errors"]] == ["measure"], problem
            assert "measure" in problem["detail"]
    finally:
        client.cookies.clear()
