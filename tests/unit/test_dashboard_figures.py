"""Dashboard figures and the panels' arithmetic from hand-built rows: no database."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from dashboards import figures, services
from dashboards.queries import BehaviourInfo, Facts, Filters, JourneyInfo, SourceTotals, Window
from dashboards.schemas import (
    BreakdownRow,
    Breakdowns,
    HorrorRow,
    Horrors,
    Matrix,
    MatrixPoint,
    Pareto,
    ParetoBar,
    Trend,
    Trends,
)

J = uuid.uuid4()
JOURNEYS = {
    J: JourneyInfo(
        "meds",
        "Medication",
        {
            "dose": BehaviourInfo("Take the dose", "post_encounter", 8, {"forgot": ("Forgot", "")}),
            "refill": BehaviourInfo("Refill", "pre_encounter", 5, {}),
        },
    )
}
WINDOW = Window(datetime(2030, 3, 1, tzinfo=UTC), datetime(2030, 3, 29, tzinfo=UTC))  # 28 days


def bars(*values: float) -> Pareto:
    return services.pareto(
        services.rank(facts({(J, "dose", f"m{i}"): v for i, v in enumerate(values)}), facts({}),
                      JOURNEYS, services.ap.DEFAULT, "count")
    )  # fmt: skip


def facts(
    counts: dict[tuple[uuid.UUID, str, str | None], float],
    steps: dict[tuple[uuid.UUID, str], dict[int, int]] | None = None,
    daily: dict[tuple[uuid.UUID, str, str | None], dict[int, int]] | None = None,
) -> Facts:
    return Facts(
        WINDOW,
        {k: SourceTotals(int(n), int(n), int(n) * 5, 0) for k, n in counts.items()},
        daily or {},
        steps or {},
        {},
    )


# --- figures ---------------------------------------------------------------------------------


def test_pareto_figure_bars_line_and_80_percent() -> None:
    p = Pareto(
        measure="count",
        bars=[
            ParetoBar(label="a", value=6, cumulative_percent=60.0, vital=True),
            ParetoBar(label="b", value=3, cumulative_percent=90.0, vital=True),
            ParetoBar(label="c", value=1, cumulative_percent=100.0, vital=False),
        ],
    )
    fig = figures.pareto(p)
    bar, line = fig.data
    assert (bar.type, line.type) == ("bar", "scatter")
    assert list(bar.x) == ["a", "b", "c"] and list(bar.y) == [6, 3, 1]
    assert list(line.y) == [60.0, 90.0, 100.0] and line.yaxis == "y2"
    assert tuple(fig.layout.yaxis2.range) == (0, 100) and fig.layout.yaxis2.overlaying == "y"
    colours = list(bar.marker.color)
    assert colours[0] == colours[1] == figures.VITAL and colours[2] == figures.OTHER
    assert [(s.y0, s.y1, s.yref) for s in fig.layout.shapes] == [(80, 80, "y2")]
    assert [a.text for a in fig.layout.annotations] == ["80%"]


def test_matrix_figure_one_trace_per_stage_and_quadrant_guides() -> None:
    m = Matrix(
        points=[
            MatrixPoint(label="a", rate=10, importance=9, customers=4, count=5, stage="x",
                        guidance="g"),
            MatrixPoint(label="b", rate=2, importance=3, customers=0, count=2, stage="y",
                        guidance=""),
        ],
        rate_guide=6.0,
        importance_guide=5.5,
        unplaced=[],
    )  # fmt: skip
    fig = figures.matrix(m)
    assert [t.name for t in fig.data] == ["x", "y"]
    assert list(fig.data[0].x) == [10] and list(fig.data[0].y) == [9]
    assert list(fig.data[1].marker.size) == [2]  # no customers known: sized by slips
    guides = [(s.x0, s.y0) for s in fig.layout.shapes]
    assert (6.0, 0) in guides and (0, 5.5) in guides
    assert tuple(fig.layout.yaxis.range) == (0, 10.5)


def test_horrors_figure_heat_strip_and_index() -> None:
    h = Horrors(
        days=["2030-03-01", "2030-03-02"],
        rows=[
            HorrorRow(rank=1, label="a", total=3, daily=[1, 2]),
            HorrorRow(rank=2, label="b", total=1, daily=[0, 1]),
        ],
        weighted=[4.0, 9.0],
        exposures=[0, 10],
        index=[None, 900.0],
    )
    fig = figures.horrors(h)
    heat, line = fig.data
    assert heat.type == "heatmap" and [list(z) for z in heat.z] == [[1, 2], [0, 1]]
    assert list(heat.y) == ["1. a", "2. b"] and fig.layout.yaxis.autorange == "reversed"
    assert line.type == "scatter" and list(line.y) == [None, 900.0] and line.yaxis == "y2"


def test_trends_figure_marks_rising_and_falls_back_to_counts() -> None:
    t = Trends(
        rows=[
            Trend(label="up", weeks=["w1", "w2"], counts=[1, 6], exposures=[10, 10],
                  rates=[10.0, 60.0], rising=True),
            Trend(label="flat", weeks=["w1", "w2"], counts=[2, 2], exposures=[0, 0],
                  rates=[None, None], rising=False),
        ]
    )  # fmt: skip
    fig = figures.trends(t)
    assert fig.data[0].name.startswith("▲ ") and list(fig.data[0].y) == [10.0, 60.0]
    assert list(fig.data[1].y) == [2, 2] and "slips" in fig.data[1].name


def test_breakdown_figure() -> None:
    b = Breakdowns(
        rows=[
            BreakdownRow(dimension="source", value="staff", count=3, share=0.75),
            BreakdownRow(dimension="source", value="system", count=1, share=0.25),
            BreakdownRow(dimension="site", value="north", count=4, share=1.0),
        ]
    )
    fig = figures.breakdown(b, "source")
    assert fig.data[0].orientation == "h" and list(fig.data[0].x) == [3, 1]


# --- panels ----------------------------------------------------------------------------------


def test_pareto_vital_few_and_edges() -> None:
    p = bars(5, 3, 1, 1)  # 50%, 80%, 90%, 100%
    assert [b.cumulative_percent for b in p.bars] == pytest.approx([50, 80, 90, 100])
    assert [b.vital for b in p.bars] == [True, True, False, False]
    single = bars(1)
    assert [(b.value, b.cumulative_percent, b.vital) for b in single.bars] == [(1, 100.0, True)]
    assert services.pareto([]).bars == []


def test_rank_without_exposure_and_with_one_event() -> None:
    steps = {(J, "dose"): {0: 40, 1: 40}}
    rows = services.rank(
        facts({(J, "dose", "forgot"): 1, (J, "refill", None): 4}, steps),
        facts({}),
        JOURNEYS,
        services.ap.DEFAULT,
    )
    by = {r.behaviour: r for r in rows}
    assert by["dose"].rate == pytest.approx(100 / 80) and by["dose"].priority == pytest.approx(10)
    assert by["refill"].rate is None and by["refill"].priority is None
    assert by["refill"].occurrence == 10  # unknown occurrence is assumed high
    assert [r.behaviour for r in rows] == ["dose", "refill"]  # no rate ranks last
    assert by["dose"].change is None and by["refill"].change is None


def test_weekly_trends_flag_rising_sources() -> None:
    key_up, key_few, key_flat = (J, "dose", "forgot"), (J, "dose", "late"), (J, "dose", None)
    steps = {(J, "dose"): dict.fromkeys(range(28), 10)}  # 70 due steps a week
    daily = {
        key_up: {0: 1, 8: 1, 15: 2, 21: 3, 22: 3},  # 1, 1, 2, then 6 in the last week
        key_few: {14: 1, 22: 4},  # 0, 0, 1, then 4: up, but fewer than 5
        key_flat: {3: 5, 10: 5, 17: 5, 24: 5},  # 5 a week
    }
    counts = {k: sum(v.values()) for k, v in daily.items()}
    current = facts(counts, steps, daily)
    rows = services.rank(current, facts({}), JOURNEYS, services.ap.DEFAULT, "count")
    t = services.trends(rows, current, JOURNEYS, ZoneInfo("UTC"))
    found = {row.label: row for row in t.rows}
    up = found["Take the dose · Forgot"]
    assert up.counts == [1, 1, 2, 6] and up.exposures == [70] * 4
    assert up.rates == pytest.approx([100 / 70, 100 / 70, 200 / 70, 600 / 70])
    assert up.rising and up.weeks == ["2030-03-01", "2030-03-08", "2030-03-15", "2030-03-22"]
    assert not found["Take the dose · late"].rising
    assert not found["Take the dose"].rising


def test_weeks_count_back_from_the_end() -> None:
    assert services.weeks(30) == [(0, 2), (2, 9), (9, 16), (16, 23), (23, 30)]
    assert services.weeks(7) == [(0, 7)]
    assert services.weeks(1) == [(0, 1)]


def test_horrors_index_counts_only_the_filtered_stage() -> None:
    key = (J, "dose", "forgot")
    steps = {(J, "dose"): {0: 4}, (J, "refill"): {0: 6}}
    current = facts({key: 2}, steps, {key: {0: 2}})
    rows = services.rank(current, facts({}), JOURNEYS, services.ap.DEFAULT)
    every = services.horrors(rows, current, JOURNEYS, Filters(), ZoneInfo("UTC"))
    assert every.exposures[0] == 10 and every.index[0] == pytest.approx(1000 * 8 * 2 / 10)
    after = services.horrors(
        rows, current, JOURNEYS, Filters(stage="post_encounter"), ZoneInfo("UTC")
    )
    assert after.exposures[0] == 4 and after.index[1] is None


def test_page_window_is_whole_local_days() -> None:
    tz = ZoneInfo("Europe/London")
    now = datetime(2030, 7, 10, 15, 0, tzinfo=UTC)
    w = services.page_window(tz, None, None, now)
    assert w.since == datetime(2030, 6, 10, 23, 0, tzinfo=UTC)  # local midnight (BST)
    assert w.until == now and w.days == 30
    past = services.page_window(tz, date(2030, 1, 1), date(2030, 1, 7), now)
    assert past.until - past.since == timedelta(days=7)
    with pytest.raises(services.DashboardInvalid):
        services.page_window(tz, date(2030, 1, 8), date(2030, 1, 7), now)
    with pytest.raises(services.DashboardInvalid):
        services.window_of(datetime(2030, 1, 2, tzinfo=UTC), datetime(2030, 1, 1, tzinfo=UTC))


def test_labels_name_one_source_each() -> None:
    other = uuid.uuid4()
    same = BehaviourInfo("Check in", "encounter", 5, {})
    journeys = {
        J: JourneyInfo("meds", "Medication", {"a": same, "b": same}),
        other: JourneyInfo("visit", "Visit", {"a": same}),
    }
    counts = {(J, "a", None): 3, (J, "b", None): 2, (other, "a", None): 1}
    current = facts(counts, daily={k: {0: int(n)} for k, n in counts.items()})
    rows = services.rank(current, facts({}), journeys, services.ap.DEFAULT, "count")
    assert [r.label for r in rows] == [
        "Check in (meds) [a]",
        "Check in (meds) [b]",
        "Check in (visit)",
    ]
    h = services.horrors(rows, current, journeys, Filters(), ZoneInfo("UTC"))
    assert [r.daily[0] for r in h.rows] == [3, 2, 1]


# --- the Pareto's measure and the matrix's owner -----------------------------------------------

DOSE, REFILL = (J, "dose", "forgot"), (J, "refill", None)


def test_weighted_pareto_ranks_by_importance_times_slips() -> None:
    # dose (importance 8): 3 slips = 24; refill (importance 5): 4 slips = 20. By count
    # refill leads, weighted dose does.
    rows = services.rank(facts({DOSE: 3, REFILL: 4}), facts({}), JOURNEYS, services.ap.DEFAULT)
    counted, weighted = services.pareto(rows, "count"), services.pareto(rows, "weighted")
    dose = "Take the dose · Forgot"
    assert [(b.label, b.value) for b in counted.bars] == [("Refill", 4), (dose, 3)]
    assert [(b.label, b.value) for b in weighted.bars] == [(dose, 24), ("Refill", 20)]
    assert [b.cumulative_percent for b in weighted.bars] == pytest.approx([100 * 24 / 44, 100])
    assert weighted.measure == "weighted" and counted.measure == "count"

    fig = figures.pareto(weighted)
    bar, line = fig.data
    assert list(bar.y) == [24, 20] and list(line.y) == pytest.approx([100 * 24 / 44, 100])
    assert "importance" in fig.layout.yaxis.title.text and "weighted" in fig.layout.yaxis.title.text
    assert bar.name == fig.layout.yaxis.title.text
    assert "harm" in fig.layout.title.text
    plain = figures.pareto(counted)
    assert plain.layout.yaxis.title.text == "slips (count)" and list(plain.data[0].y) == [4, 3]
    assert tuple(plain.layout.yaxis2.range) == tuple(fig.layout.yaxis2.range) == (0, 100)


def test_matrix_points_carry_the_owner_into_the_hover() -> None:
    steps = {(J, "dose"): {0: 10}, (J, "refill"): {0: 10}}
    rows = services.rank(
        facts({DOSE: 3, REFILL: 4}, steps), facts({}), JOURNEYS, services.ap.DEFAULT,
        owners={DOSE: "Desk lead"},
    )  # fmt: skip
    m = services.matrix(rows)
    assert {p.label: p.owner for p in m.points} == {"Take the dose · Forgot": "Desk lead",
                                                    "Refill": None}  # fmt: skip
    fig = figures.matrix(m)
    hovers = {
        text: custom[3]
        for trace in fig.data
        for text, custom in zip(trace.text, trace.customdata, strict=True)
    }
    assert hovers == {"Take the dose · Forgot": "Desk lead", "Refill": "—"}
    assert all("owner: %{customdata[3]}" in trace.hovertemplate for trace in fig.data)
    header, table_rows = services.table(_dashboard_with(m), "matrix")
    owner_at = header.index("owner")
    assert sorted(r[owner_at] for r in table_rows) == ["", "Desk lead"]


def _dashboard_with(m: Matrix) -> services.Dashboard:
    """A dashboard holding only ``m`` (the other panels empty), for its CSV table."""
    return services.Dashboard(
        since=WINDOW.since,
        until=WINDOW.until,
        timezone="UTC",
        total=0,
        ranking=services.Ranking(since=WINDOW.since, until=WINDOW.until, by="priority", total=0,
                                 items=[]),
        pareto=Pareto(measure="count", bars=[]),
        matrix=m,
        horrors=Horrors(days=[], rows=[], weighted=[], exposures=[], index=[]),
        trends=Trends(rows=[]),
        breakdowns=Breakdowns(rows=[]),
    )  # fmt: skip
