"""Plotly figures from the panels' rows: pure functions, no database, no I/O.

Each figure plots exactly the numbers of its rows (the same numbers the panel's CSV
holds); colours are fixed so a screenshot reads the same on every run.
"""

from __future__ import annotations

import plotly.graph_objects as go

from dashboards.measure_schemas import CountermeasureOut
from dashboards.schemas import Breakdowns, Horrors, Matrix, Measure, Pareto, Trends

VITAL = "#b42318"
OTHER = "#98a2b3"
LINE = "#0b6bcb"
MARK = "#475467"  # countermeasure starts
STAGE_COLOURS = ("#0b6bcb", "#b54708", "#067647", "#6941c6", "#c11574", "#475467")
FONT = {"family": "system-ui, sans-serif", "size": 13}
AXIS_LABEL = 28  # characters of a source's label on an axis (hover shows all of it)
LEGEND_LABEL = 48


def short(label: str, limit: int) -> str:
    """``label`` cut to ``limit`` characters with an ellipsis, for axes and legends."""
    return label if len(label) <= limit else label[: limit - 1].rstrip() + "…"


# What a Pareto bar stands for, named on its axis and in its legend so a weighted chart is
# never read as a count.
MEASURE_TITLES: dict[Measure, str] = {
    "count": "slips (count)",
    "weighted": "slips weighted by importance",
}
NO_OWNER = "—"


def styled(fig: go.Figure, title: str, height: int = 420) -> go.Figure:
    fig.update_layout(
        title={"text": title, "x": 0, "xanchor": "left"},
        height=height,
        margin={"l": 60, "r": 60, "t": 50, "b": 110},
        font=FONT,
        plot_bgcolor="#ffffff",
        paper_bgcolor="#ffffff",
        legend={"orientation": "h", "y": -0.3},
    )
    return fig


def pareto(p: Pareto) -> go.Figure:
    """Bars largest first (the vital few in red), the cumulative percentage as a line on a
    0-100% right-hand axis, and a dashed line at 80%."""
    labels = [b.label for b in p.bars]
    fig = go.Figure()
    fig.add_trace(
        go.Bar(
            x=labels,
            y=[b.value for b in p.bars],
            name=MEASURE_TITLES[p.measure],
            marker={"color": [VITAL if b.vital else OTHER for b in p.bars]},
            hovertemplate="%{x}<br>%{y}<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=labels,
            y=[b.cumulative_percent for b in p.bars],
            name="cumulative %",
            mode="lines+markers",
            line={"color": LINE},
            yaxis="y2",
            hovertemplate="%{x}<br>%{y:.1f}% of all<extra></extra>",
        )
    )
    fig.add_shape(
        type="line",
        xref="paper",
        x0=0,
        x1=1,
        yref="y2",
        y0=80,
        y1=80,
        line={"color": VITAL, "dash": "dash", "width": 1},
    )
    fig.add_annotation(
        xref="paper", x=1, yref="y2", y=80, text="80%", showarrow=False, xanchor="left"
    )
    fig.update_layout(
        yaxis={"title": {"text": MEASURE_TITLES[p.measure]}},
        yaxis2={
            "title": {"text": "cumulative share"},
            "overlaying": "y",
            "side": "right",
            "range": [0, 100],
            "tickmode": "linear",  # own ticks, not synchronised with the bars' axis
            "tick0": 0,
            "dtick": 20,
            "ticksuffix": "%",
            "showgrid": False,
        },
        xaxis={
            "tickangle": -30,
            "automargin": True,
            "tickmode": "array",
            "tickvals": labels,
            "ticktext": [short(label, AXIS_LABEL) for label in labels],
        },
    )
    title = (
        "Pareto: which few sources make most of the slips"
        if p.measure == "count"
        else "Pareto: which few sources do most harm"
    )
    styled(fig, title, height=460)
    fig.update_layout(legend={"orientation": "h", "x": 1, "xanchor": "right", "y": 1.02,
                              "yanchor": "bottom"})  # fmt: skip
    return fig


def matrix(m: Matrix) -> go.Figure:
    """Importance (y) against rate per 100 exposures (x); bubble size = customers
    affected, colour = stage, dotted guides at the median rate and mid importance."""
    fig = go.Figure()
    stages = sorted({p.stage for p in m.points})
    biggest = max((p.customers or p.count for p in m.points), default=1) or 1
    for i, stage in enumerate(stages):
        points = [p for p in m.points if p.stage == stage]
        fig.add_trace(
            go.Scatter(
                x=[p.rate for p in points],
                y=[p.importance for p in points],
                name=stage.replace("_", " "),
                mode="markers",
                marker={
                    "size": [p.customers or p.count for p in points],
                    "sizemode": "area",
                    "sizeref": 2.0 * biggest / 45**2,
                    "sizemin": 6,
                    "color": STAGE_COLOURS[i % len(STAGE_COLOURS)],
                    "line": {"width": 1, "color": "#ffffff"},
                },
                text=[p.label for p in points],
                customdata=[
                    [p.customers, p.count, p.guidance or "—", p.owner or NO_OWNER] for p in points
                ],
                hovertemplate=(
                    "%{text}<br>rate %{x:.2f} per 100 · importance %{y}"
                    "<br>%{customdata[0]} customers · %{customdata[1]} slips"
                    "<br>guidance: %{customdata[2]}"
                    "<br>owner: %{customdata[3]}<extra></extra>"
                ),
            )
        )
    guide = {"color": OTHER, "dash": "dot", "width": 1}
    fig.add_shape(
        type="line", xref="x", x0=m.rate_guide, x1=m.rate_guide, yref="paper", y0=0, y1=1,
        line=guide,
    )  # fmt: skip
    fig.add_shape(
        type="line", xref="paper", x0=0, x1=1, yref="y", y0=m.importance_guide,
        y1=m.importance_guide, line=guide,
    )  # fmt: skip
    fig.add_annotation(
        xref="paper", x=1, yref="paper", y=1, text="fix first", showarrow=False,
        xanchor="right", yanchor="top", font={"color": VITAL},
    )  # fmt: skip
    fig.update_layout(
        xaxis={"title": {"text": "slips per 100 exposures"}, "rangemode": "tozero"},
        yaxis={"title": {"text": "importance"}, "range": [0, 10.5]},
    )
    return styled(fig, "Importance x frequency", height=460)


def horrors(h: Horrors) -> go.Figure:
    """Hierarchy of Horrors: a heat-strip of slips per day for the top sources (worst at
    the top) above the daily quality index line."""
    labels = [f"{r.rank}. {r.label}" for r in h.rows]
    fig = go.Figure()
    fig.add_trace(
        go.Heatmap(
            x=h.days,
            y=labels,
            z=[r.daily for r in h.rows],
            colorscale=[[0, "#f2f4f7"], [0.001, "#fee4e2"], [1, VITAL]],
            zmin=0,
            showscale=False,
            xgap=1,
            ygap=2,
            yaxis="y",
            hovertemplate="%{y}<br>%{x}: %{z} slips<extra></extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=h.days,
            y=h.index,
            name="quality index",
            mode="lines+markers",
            connectgaps=False,
            line={"color": LINE},
            xaxis="x2",
            yaxis="y2",
            hovertemplate="%{x}<br>%{y:.1f} per 1,000 due steps<extra></extra>",
        )
    )
    fig.update_layout(
        # the heat-strip on top (worst source first), the index below it on the same days
        yaxis={
            "domain": [0.45, 1.0],
            "autorange": "reversed",
            "automargin": True,
            "tickmode": "array",
            "tickvals": labels,
            "ticktext": [short(label, AXIS_LABEL + 12) for label in labels],
        },
        xaxis={"type": "category", "anchor": "y", "showticklabels": False},
        yaxis2={
            "domain": [0.0, 0.33],
            "anchor": "x2",
            "rangemode": "tozero",
            "title": {"text": "index"},
        },
        xaxis2={"type": "category", "anchor": "y2", "matches": "x", "tickangle": -45},
        showlegend=False,
    )
    fig.add_annotation(
        xref="paper", x=0, yref="paper", y=0.36, showarrow=False, xanchor="left",
        yanchor="bottom", text="quality index: Σ importance x slips per 1,000 due steps",
    )  # fmt: skip
    return styled(fig, "Hierarchy of Horrors: ticks per day", height=140 + 34 * len(labels) + 200)


def trends(t: Trends) -> go.Figure:
    """Weekly rate per 100 exposures (slips where there is no exposure) of the top
    sources; rising ones drawn thick and marked in the legend."""
    fig = go.Figure()
    with_rates = [all(r is not None for r in row.rates) for row in t.rows]
    unit = (
        "slips per 100 due steps"
        if all(with_rates)
        else "slips"
        if not any(with_rates)
        else "slips per 100 due steps (or slips)"
    )
    for i, row in enumerate(t.rows):
        use_rates = with_rates[i]
        fig.add_trace(
            go.Scatter(
                x=row.weeks,
                y=row.rates if use_rates else row.counts,
                name=("▲ " if row.rising else "")
                + short(row.label, LEGEND_LABEL)
                + ("" if use_rates else " (slips: nothing due to divide by)"),
                mode="lines+markers",
                line={
                    "width": 4 if row.rising else 2,
                    "color": VITAL if row.rising else STAGE_COLOURS[i % len(STAGE_COLOURS)],
                },
                hovertemplate="%{x}: %{y:.2f}<extra>" + row.label + "</extra>",
            )
        )
    fig.update_layout(
        xaxis={"title": {"text": "week starting"}, "type": "category"},
        yaxis={"title": {"text": unit}, "rangemode": "tozero"},
    )
    for m in t.marks:  # each countermeasure's start: a dotted line labelled at the top
        fig.add_shape(
            type="line",
            x0=m.position,
            x1=m.position,
            xref="x",
            y0=0,
            y1=1,
            yref="paper",
            line={"dash": "dot", "color": MARK, "width": 2},
        )
        fig.add_annotation(
            x=m.position,
            xref="x",
            y=1,
            yref="paper",
            yanchor="bottom",
            showarrow=False,
            text=f"{m.strategy.replace('_', ' ')} from {m.start_date}",
            hovertext=m.label,
            font={"size": 11, "color": MARK},
        )
    return styled(fig, "Weekly trend of the top sources (▲ rising)", 380 + 24 * len(t.rows))


def breakdown(b: Breakdowns, dimension: str) -> go.Figure:
    """Horizontal bars of slips per value of one dimension, largest at the top."""
    rows = [r for r in b.rows if r.dimension == dimension]
    fig = go.Figure(
        go.Bar(
            x=[r.count for r in rows],
            y=[r.value.replace("_", " ") for r in rows],
            orientation="h",
            marker={"color": LINE},
            customdata=[100 * r.share for r in rows],
            hovertemplate="%{y}: %{x} slips (%{customdata:.1f}%)<extra></extra>",
        )
    )
    fig.update_layout(
        yaxis={"autorange": "reversed", "automargin": True},
        xaxis={"title": {"text": "slips"}, "rangemode": "tozero"},
        margin={"l": 10, "r": 20, "t": 40, "b": 40},
    )
    styled(fig, dimension.replace("_", " ").capitalize(), height=120 + 28 * max(1, len(rows)))
    fig.update_layout(margin={"l": 10, "r": 20, "t": 40, "b": 40})
    return fig


def before_after(items: list[CountermeasureOut]) -> go.Figure:
    """Rate of each countermeasure's target before and after its start (grouped bars);
    the hover gives the rate ratio with its 95% interval and the verdict."""
    shown = [c for c in items if c.effect is not None and c.effect.exposure_unit is not None]
    labels = [short(f"{c.strategy.replace('_', ' ')}: {c.label}", AXIS_LABEL * 2) for c in shown]
    notes = [_ratio_text(c) for c in shown]
    fig = go.Figure()
    for name, colour, rates in (
        ("before", OTHER, [c.effect.before_rate for c in shown if c.effect]),
        ("after", LINE, [c.effect.after_rate for c in shown if c.effect]),
    ):
        fig.add_trace(
            go.Bar(
                x=labels,
                y=rates,
                name=name,
                marker={"color": colour},
                customdata=notes,
                hovertemplate="%{x}<br>"
                + name
                + ": %{y:.2f} per 100<br>%{customdata}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        yaxis={"title": {"text": "slips per 100 exposures"}, "rangemode": "tozero"},
        xaxis={"type": "category", "automargin": True},
    )
    return styled(fig, "Before and after each countermeasure (equal periods)", 420)


def _ratio_text(c: CountermeasureOut) -> str:
    e = c.effect
    if e is None or (e.ratio_lower is None and e.ratio_upper is None):
        return "not enough data"

    def num(v: float | None) -> str:
        return "∞" if v is None else f"{v:.2f}"

    return (
        f"rate ratio {num(e.ratio)} (95% CI {num(e.ratio_lower)} to {num(e.ratio_upper)})"
        f": {e.verdict}"
    )
