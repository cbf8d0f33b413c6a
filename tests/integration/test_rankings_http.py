"""``GET /api/v1/rankings`` over HTTP: its filters, its default window, its orderings and
its refusals; an organisation's own Action Priority table re-classing the rows; and the
importance that stands in (mean recorded severity) where no definition can be read.

Every expected value is worked out here, from slips placed relative to now.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta
from typing import Any
from uuid import uuid4

import msgspec
import pytest

from core import clock
from dashboards import rollups, services
from dashboards.queries import Filters, Window
from journeys import services as journeys
from journeys.tables import Journey, JourneyVersion
from slips.tables import Slip
from tests.conftest import Org
from tests.factories import DASH_DOSE, DASH_WALK_IN, dashboard_scene, log_slip

RANKINGS = "/api/v1/rankings"
FORGOT = "Take the tablet · Forgot"
RAN_OUT = "Take the tablet · ran-out"
DOSE_ANY = "Take the tablet"
CARD = "Bring the card"
SIGN_IN = "Sign in at the desk"


async def _get(client: Any, org: Org, **params: str) -> Any:
    r = await client.get(RANKINGS, headers=org.auth("manager"), params=params)
    assert r.status_code == 200, r.text
    return r.json()


# --- filters, the default window and the orderings ------------------------------------------


@pytest.fixture
async def spread(org: Org) -> Org:
    """Slips placed around the default window (the 30 days up to now):

    inside: 3 forgotten doses (one at the north site), 2 cards (both north), 1 sign-in;
    just before it (31 days ago): 2 forgotten doses; long before (75 days ago): 1 card.
    """
    await journeys.load_journey(org.tenant, DASH_DOSE)
    await journeys.load_journey(org.tenant, DASH_WALK_IN)
    now = clock.now()
    inside = [now - timedelta(hours=1), now - timedelta(days=12), now - timedelta(days=29)]
    await log_slip(org, "dash-dose", "take-dose", inside[0], "forgot", site="north")
    for at in inside[1:]:
        await log_slip(org, "dash-dose", "take-dose", at, "forgot")
    for at in inside[:2]:
        await log_slip(org, "dash-dose", "bring-card", at, site="north")
    await log_slip(org, "dash-walkin", "sign-in", inside[2], site="south")
    for hours in (0, 5):
        before = now - timedelta(days=31, hours=hours)
        await log_slip(org, "dash-dose", "take-dose", before, "forgot")
    await log_slip(org, "dash-dose", "bring-card", now - timedelta(days=75))
    return org


async def test_default_window_is_the_last_30_days_up_to_now(client: Any, spread: Org) -> None:
    asked = clock.now()
    body = await _get(client, spread)
    answered = clock.now()
    until, since = datetime.fromisoformat(body["until"]), datetime.fromisoformat(body["since"])
    assert asked <= until <= answered
    assert until - since == timedelta(days=30)
    counts = {i["label"]: i["count"] for i in body["items"]}
    assert counts == {FORGOT: 3, CARD: 2, SIGN_IN: 1} and body["total"] == 6
    # the previous equal period holds the two doses of 31 days ago, not the card of 75
    previous = {i["label"]: i["previous_count"] for i in body["items"]}
    assert previous == {FORGOT: 2, CARD: 0, SIGN_IN: 0}


async def test_site_and_stage_narrow_the_slips(client: Any, spread: Org) -> None:
    north = await _get(client, spread, site="north")
    assert {i["label"]: i["count"] for i in north["items"]} == {FORGOT: 1, CARD: 2}
    assert north["total"] == 3
    south = await _get(client, spread, site="south")
    assert [(i["label"], i["count"]) for i in south["items"]] == [(SIGN_IN, 1)]
    assert (await _get(client, spread, site="nowhere"))["items"] == []
    # take-dose is post-encounter, bring-card pre-encounter, sign-in at the encounter
    after = await _get(client, spread, stage="post_encounter")
    assert [(i["label"], i["count"]) for i in after["items"]] == [(FORGOT, 3)]
    before = await _get(client, spread, stage="pre_encounter", site="north")
    assert [(i["label"], i["count"]) for i in before["items"]] == [(CARD, 2)]
    # shares are of the slips the filters keep
    assert north["items"][0]["share"] + north["items"][1]["share"] == pytest.approx(1.0)


async def test_by_count_and_by_ap_order_the_rows(client: Any, spread: Org) -> None:
    counted = await _get(client, spread, by="count")
    assert counted["by"] == "count"
    assert [(i["label"], i["count"]) for i in counted["items"]] == [
        (FORGOT, 3),
        (CARD, 2),
        (SIGN_IN, 1),
    ]
    by_ap = await _get(client, spread, by="ap")
    assert by_ap["by"] == "ap"
    letters = [i["action_priority"] for i in by_ap["items"]]
    assert letters == sorted(letters, key="HML".index)
    # within a class, the higher priority first (a source without a rate last)
    for a, b in zip(by_ap["items"], by_ap["items"][1:], strict=False):
        if a["action_priority"] == b["action_priority"] and b["priority"] is not None:
            assert a["priority"] is not None and a["priority"] >= b["priority"]
    assert {i["label"] for i in by_ap["items"]} == {i["label"] for i in counted["items"]}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("by", "loudness"),
        ("since", "yesterday"),
        ("until", "2026-13-01T00:00:00Z"),
        ("since", "2026-01-01T00:00:00"),  # no offset
    ],
)
async def test_a_bad_parameter_is_refused_by_name(
    client: Any, org: Org, name: str, value: str
) -> None:
    r = await client.get(RANKINGS, headers=org.auth("manager"), params={name: value})
    # the API answers 422 for a parameter it cannot take (docs/operations.md)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert [e["field"] for e in body["errors"]] == [name]
    assert name in body["detail"] and "Traceback" not in r.text


async def test_a_window_too_long_names_since(client: Any, org: Org) -> None:
    now = clock.now()
    params = {"since": (now - timedelta(days=400)).isoformat(), "until": now.isoformat()}
    r = await client.get(RANKINGS, headers=org.auth("manager"), params=params)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "since"


# --- the organisation's own Action Priority table ------------------------------------------

# Two bands of each rating; a ladder and a detection rule unlike the default's.
CUSTOM: dict[str, Any] = {
    "severity_bands": [[1, 5], [6, 10]],
    "occurrence_bands": [[1, 5], [6, 10]],
    "detection_bands": [[1, 4], [5, 10]],
    "table": [["LM", "MH"], ["HL", "HH"]],
    "occurrence_per_100": [90.0, 80.0, 70.0, 60.0, 50.0, 40.0, 30.0, 20.0, 0.0],
    "detection": [{"at_least": 0.5, "rating": 1}, {"at_least": 0.0, "rating": 8}],
}


# The scene's sources (tests/factories.py): importance, slips per 100 exposures (21 due
# doses, else 3 active enrollments, else none) and the share the system detected.
SCENE: dict[str, tuple[int, float | None, float]] = {
    FORGOT: (9, 100 * 6 / 21, 0.0),
    RAN_OUT: (9, 100 * 2 / 21, 1.0),
    DOSE_ANY: (9, 100 * 1 / 21, 0.0),
    CARD: (4, 100 * 3 / 3, 0.0),
    SIGN_IN: (3, None, 0.0),
}


def custom_ratings(importance: float, rate: float | None, system_share: float) -> tuple[int, ...]:
    """(S, O, D) and the letter under CUSTOM, written out as rules."""
    s = int(importance + 0.5)
    if rate is None:
        o = 10
    elif rate >= 20:
        o = 3 + sum(rate >= t for t in (30, 40, 50, 60, 70, 80, 90))
    else:
        o = 2
    d = 1 if system_share >= 0.5 else 8
    letters = {(False, False): "LM", (False, True): "MH", (True, False): "HL", (True, True): "HH"}
    return s, o, d, "HML".index(letters[(s >= 6, o >= 6)][d >= 5])


async def test_a_saved_table_reclasses_the_ranking(client: Any, org: Org) -> None:
    scene = await dashboard_scene(org)
    params = {"since": scene.window.since.isoformat(), "until": scene.window.until.isoformat()}
    default = {i["label"]: i for i in (await _get(client, org, **params))["items"]}
    # under the default table: forgotten doses (S 9, O 10, D 7) are H, sign-ins (S 3,
    # no rate so O 10, D 7) are M
    assert default[FORGOT]["action_priority"] == "H"
    assert default[SIGN_IN]["action_priority"] == "M"

    saved = await client.put(f"{RANKINGS}/action-priority", headers=org.auth("admin"), json=CUSTOM)
    assert saved.status_code == 200, saved.text
    body = await _get(client, org, **params)
    rows = {i["label"]: i for i in body["items"]}
    assert set(rows) == set(SCENE)
    for label, row in rows.items():
        importance, rate, system_share = SCENE[label]
        assert row["rate"] == pytest.approx(rate)
        s, o, d, letter = custom_ratings(importance, rate, system_share)
        assert (row["severity"], row["occurrence"], row["detection"]) == (s, o, d), label
        assert row["action_priority"] == "HML"[letter], label
        assert row["rpn"] == s * o * d
    # 6 forgotten doses of 21 due (28.6 per 100: O 3 on this ladder) are now L; the
    # sign-ins (low severity, unknown occurrence) are now H
    assert rows[FORGOT]["action_priority"] == "L"
    assert rows[SIGN_IN]["action_priority"] == "H"
    # the rows' counts and rates are untouched, only their classes moved
    for label, row in rows.items():
        assert (row["count"], row["rate"]) == (default[label]["count"], default[label]["rate"])
    ordered = await _get(client, org, **params, by="ap")
    letters = [i["action_priority"] for i in ordered["items"]]
    assert letters == sorted(letters, key="HML".index) and letters[0] == "H"


# --- importance from recorded severity --------------------------------------------------------


async def _journey_without_a_readable_definition(org: Org) -> tuple[Any, Any]:
    """A journey whose only stored version no longer decodes (as after a format change)."""
    journey = org.tenant.new(Journey, key=f"ghost-{secrets.token_hex(3)}", title="Ghost")
    journey.current_version = 1
    await journey.save()
    version = org.tenant.new(
        JourneyVersion,
        id=uuid4(),
        journey=journey.id,
        version=1,
        digest="0" * 64,
        definition='{"behaviours": [{"key": "vanished"',
        source="",
    )
    await version.save()
    return journey, version


async def _raw_slip(
    org: Org, journey: Any, version: Any, at: datetime, severity: int, voided: bool = False
) -> None:
    slip = org.tenant.new(
        Slip,
        journey=journey.id,
        journey_version=version.id,
        behaviour="vanished",
        stage="encounter",
        severity=severity,
        source="staff",
        occurred_at=at,
        created_at=at,
        updated_at=at,
        voided_at=at if voided else None,
    )
    await slip.save()


async def test_importance_falls_back_to_mean_recorded_severity(client: Any, org: Org) -> None:
    await journeys.load_journey(org.tenant, DASH_DOSE)
    journey, version = await _journey_without_a_readable_definition(org)
    now = clock.now()
    window = Window(now - timedelta(days=10), now - timedelta(days=1))
    kept = [2, 7, 8]
    for k, severity in enumerate(kept):
        await _raw_slip(org, journey, version, window.since + timedelta(days=k + 1), severity)
    # neither a voided slip nor one outside the window counts
    await _raw_slip(org, journey, version, window.since + timedelta(days=2), 10, voided=True)
    await _raw_slip(org, journey, version, window.since - timedelta(days=3), 1)
    await log_slip(org, "dash-dose", "take-dose", window.since + timedelta(days=2), "forgot")
    mean = sum(kept) / len(kept)

    def check(items: list[Any]) -> None:
        rows = {(r["journey"], r["behaviour"]): r for r in items}
        ghost = rows[(journey.key, "vanished")]
        assert ghost["importance_source"] == "severity"
        assert ghost["importance"] == pytest.approx(mean)
        assert ghost["severity"] == round(mean) and ghost["count"] == len(kept)
        dose = rows[("dash-dose", "take-dose")]
        assert dose["importance_source"] == "definition" and dose["importance"] == 9

    params = {"since": window.since.isoformat(), "until": window.until.isoformat()}
    check((await _get(client, org, **params))["items"])
    # the page's ranking (raw rows) and, once folded, the day rollups agree
    page = await services.dashboard(org.tenant, window, Filters())
    check(msgspec.to_builtins(page.ranking.items))
    await rollups.fold_organization(org.id)
    check((await _get(client, org, **params))["items"])
