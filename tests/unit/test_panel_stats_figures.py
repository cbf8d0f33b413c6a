"""Pure tests of the panels' statistics (against closed forms and definitions) and of the
countermeasure and nudge figures (trace types, ordering, the countermeasure start line)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, date, datetime, timedelta

import pytest

from dashboards import figures, nudge_figures, services, stats
from dashboards.measure_schemas import CountermeasureOut, Effect
from dashboards.nudge_panels import fatigue
from dashboards.nudge_schemas import Operations, StandardRow, Standards, StatusCount
from dashboards.queries import Window
from dashboards.schemas import Trend, Trends


def binomial_at_least(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))


@pytest.mark.parametrize(("k", "n"), [(0, 1), (1, 1), (0, 10), (3, 10), (10, 10), (7, 250)])
def test_clopper_pearson_meets_its_definition(k: int, n: int) -> None:
    low, high = stats.clopper_pearson(k, n)
    if k == 0:
        assert low == 0 and high == pytest.approx(1 - 0.025 ** (1 / n), rel=1e-12)
    else:
        assert binomial_at_least(k, n, low) == pytest.approx(0.025, rel=1e-9)
    if k == n:
        assert high == 1 and low == pytest.approx(0.025 ** (1 / n), rel=1e-12)
    else:
        assert 1 - binomial_at_least(k + 1, n, high) == pytest.approx(0.025, rel=1e-9)


def test_beta_quantile_at_large_counts() -> None:
    # Beta(a, b) with a = b is symmetric: its median is 1/2, its quantiles mirror
    assert stats.beta_ppf(0.5, 4000, 4000) == pytest.approx(0.5, abs=1e-12)
    q = stats.beta_ppf(0.025, 900, 1100)
    assert stats.beta_ppf(0.975, 1100, 900) == pytest.approx(1 - q, abs=1e-12)


def test_rate_ratio_edges() -> None:
    assert stats.rate_ratio(0, 100, 0, 100) == stats.RateRatio(None, None, None)
    assert stats.rate_ratio(3, 0, 3, 100) == stats.RateRatio(None, None, None)
    only_after = stats.rate_ratio(2, 100, 0, 100)
    assert only_after.ratio is None and only_after.upper is None
    p = 0.025 ** (1 / 2)  # k = n = 2: the lower limit of p is 0.025^(1/2)
    assert only_after.lower == pytest.approx(p / (1 - p), rel=1e-12)
    halved = stats.rate_ratio(50, 1000, 100, 1000)
    assert halved.ratio == pytest.approx(0.5) and halved.upper is not None and halved.upper < 1


def test_wilson_newcombe_and_percentile() -> None:
    assert stats.wilson(0, 0) is None and stats.newcombe(1, 2, 0, 0) is None
    low, high = stats.wilson(0, 10) or (0, 0)
    assert low == 0 and high == pytest.approx(3.8415 / 13.8415, rel=1e-4)  # z²/(n+z²)
    assert stats.percentile([], 50) is None
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 99) == 4.0


def test_trend_marks_land_inside_their_week_and_are_drawn() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    window = Window(since, since + timedelta(days=14))
    key = (uuid.uuid4(), "take-dose", "forgot")
    starts = [(key, "reminder", since + timedelta(days=10, hours=12), date(2026, 1, 11))]
    [mark] = services.trend_marks(starts, window, {key: "Take · Forgot"})
    assert mark.position == pytest.approx(1 - 0.5 + 3.5 / 7)  # day 10.5: 3.5 days into week 2
    outside = [(key, "reminder", since - timedelta(days=1), date(2025, 12, 31))]
    assert services.trend_marks(outside, window, {key: "x"}) == []
    t = Trends(
        rows=[Trend(label="Take · Forgot", weeks=["2026-01-01", "2026-01-08"], counts=[3, 1],
                    exposures=[10, 10], rates=[30.0, 10.0], rising=False)],
        marks=[mark],
    )  # fmt: skip
    fig = figures.trends(t)
    [shape] = fig.layout.shapes
    assert shape.x0 == shape.x1 == mark.position and shape.yref == "paper"
    assert fig.layout.annotations[0].text == "reminder from 2026-01-11"


def _measure(label: str, before: float, after: float, verdict: str) -> CountermeasureOut:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    effect = Effect(
        before_since=now, after_since=now, after_until=now, days=7.0, before_count=4,
        after_count=2, before_exposure=40, after_exposure=40, exposure_unit="steps",
        before_rate=before, after_rate=after, ratio=after / before, ratio_lower=0.1,
        ratio_upper=None, verdict=verdict,  # type: ignore[arg-type]
    )  # fmt: skip
    return CountermeasureOut(
        id=uuid.uuid4(), journey="j", behaviour="b", failure_mode=None, label=label,
        strategy="reminder", owner="", start_date=date(2026, 1, 1), started_at=now,
        ended_at=None, note="", created_at=now, effect=effect,
    )  # fmt: skip


def test_before_after_figure() -> None:
    fig = figures.before_after([_measure("A", 10.0, 5.0, "no clear change")])
    assert [t.type for t in fig.data] == ["bar", "bar"]
    assert [t.name for t in fig.data] == ["before", "after"]
    assert list(fig.data[0].y) == [10.0] and list(fig.data[1].y) == [5.0]
    assert "∞" in fig.data[0].customdata[0]  # an unbounded upper limit


def test_nudge_figures() -> None:
    ops = Operations(
        statuses=[StatusCount(status="delivered", channel="sms", count=5),
                  StatusCount(status="failed", channel="email", count=1)],
        failures=[], messaged_customers=0, opted_out=0, opt_out_rate=None, opt_out_low=None,
        opt_out_high=None, fatigue=fatigue([1, 4, 10, 25, 25]), fatigue_threshold=10,
        customers_over_threshold=3, messages_sent=0, lateness_p50_seconds=None,
        lateness_p99_seconds=None, queue_depth=0,
    )  # fmt: skip
    assert [(b.messages, b.customers, b.over_threshold) for b in ops.fatigue] == [
        ("1-4", 2, False), ("5-9", 0, False), ("10-19", 1, True), ("20+", 2, True)
    ]  # fmt: skip
    fig = nudge_figures.statuses(ops)
    assert [t.name for t in fig.data] == ["email", "sms"]
    colours = nudge_figures.fatigue(ops).data[0].marker.color
    assert colours[0] != colours[2] and colours[2] == colours[3]
    standards = Standards(rows=[StandardRow(
        key="k", title="95% of nudges delivered", target=95.0, met=9, total=10, measured=90.0,
        meets_target=False, weeks=["w1", "w2"], weekly=[100.0, 80.0], weekly_total=[5, 5],
    )])  # fmt: skip
    fig = nudge_figures.standards(standards)
    assert [t.type for t in fig.data] == ["scatter", "scatter"]
    assert list(fig.data[1].y) == [95.0, 95.0] and fig.layout.yaxis.range == (0, 100)
