"""Plotly figures of the nudge panels: pure functions of their rows."""

from __future__ import annotations

import plotly.graph_objects as go

from dashboards.figures import LINE, OTHER, STAGE_COLOURS, VITAL, short, styled
from dashboards.nudge_schemas import Effectiveness, Operations, Standards


def _pct(value: float | None) -> float | None:
    return None if value is None else 100 * value


def effectiveness(e: Effectiveness, measure: str = "completion") -> go.Figure:
    """Nudged against holdout per journey: the completion (or slip) share with its Wilson
    interval as error bars."""
    fig = go.Figure()
    labels = [short(r.journey_title, 28) for r in e.rows]
    for group, colour in (("nudged", LINE), ("holdout", OTHER)):
        outcomes = [getattr(r, group) for r in e.rows]
        rate = [_pct(getattr(o, f"{measure}_rate")) for o in outcomes]
        low = [_pct(getattr(o, f"{measure}_low")) for o in outcomes]
        high = [_pct(getattr(o, f"{measure}_high")) for o in outcomes]
        fig.add_trace(
            go.Bar(
                x=labels,
                y=rate,
                name=group,
                marker={"color": colour},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [
                        h - r if h is not None and r is not None else 0
                        for r, h in zip(rate, high, strict=True)
                    ],
                    "arrayminus": [
                        r - lo if lo is not None and r is not None else 0
                        for r, lo in zip(rate, low, strict=True)
                    ],
                },
                hovertemplate="%{x} " + group + ": %{y:.1f}%<extra></extra>",
            )
        )
    what = "steps done" if measure == "completion" else "enrollments with a slip"
    fig.update_layout(
        barmode="group",
        yaxis={"title": {"text": f"% {what}"}, "range": [0, 100]},
        xaxis={"type": "category"},
    )
    return styled(fig, f"% {what}: nudged, holdout", 380)


def statuses(o: Operations) -> go.Figure:
    """Messages planned in the period by status, one bar per status and channel."""
    fig = go.Figure()
    for i, channel in enumerate(sorted({s.channel for s in o.statuses})):
        rows = [s for s in o.statuses if s.channel == channel]
        fig.add_trace(
            go.Bar(
                x=[s.status for s in rows],
                y=[s.count for s in rows],
                name=channel,
                marker={"color": STAGE_COLOURS[i % len(STAGE_COLOURS)]},
            )
        )
    fig.update_layout(
        barmode="stack", xaxis={"type": "category"}, yaxis={"title": {"text": "messages"}}
    )
    return styled(fig, "Messages by status", 340)


def failures(o: Operations) -> go.Figure:
    """Failed messages by provider error code (or reason), largest first."""
    fig = go.Figure(
        go.Bar(
            x=[f.count for f in o.failures],
            y=[f"{f.code} ({f.channel})" for f in o.failures],
            orientation="h",
            marker={"color": VITAL},
        )
    )
    fig.update_layout(yaxis={"autorange": "reversed", "automargin": True, "type": "category"})
    return styled(fig, "Delivery failures by error code", 300 + 20 * len(o.failures))


def fatigue(o: Operations) -> go.Figure:
    """Customers by messages received in a year; bands at or over the threshold red."""
    fig = go.Figure(
        go.Bar(
            x=[b.messages for b in o.fatigue],
            y=[b.customers for b in o.fatigue],
            marker={"color": [VITAL if b.over_threshold else LINE for b in o.fatigue]},
            hovertemplate="%{x} messages a year: %{y} customers<extra></extra>",
        )
    )
    fig.update_layout(
        xaxis={"type": "category", "title": {"text": "messages in the last 365 days"}},
        yaxis={"title": {"text": "customers"}, "rangemode": "tozero"},
    )
    return styled(fig, f"Messages a year (red: {o.fatigue_threshold}+)", 340)


def standards(s: Standards) -> go.Figure:
    """Each standard's weekly percentage with its target as a dashed line."""
    fig = go.Figure()
    for i, row in enumerate(s.rows):
        colour = STAGE_COLOURS[i % len(STAGE_COLOURS)]
        fig.add_trace(
            go.Scatter(
                x=row.weeks,
                y=row.weekly,
                name=row.title,
                mode="lines+markers",
                line={"color": colour},
            )
        )
        fig.add_trace(
            go.Scatter(
                x=row.weeks,
                y=[row.target] * len(row.weeks),
                name=f"target {row.target:g}%",
                mode="lines",
                line={"color": colour, "dash": "dash", "width": 1},
            )
        )
    fig.update_layout(
        xaxis={"type": "category", "title": {"text": "week starting"}},
        yaxis={"title": {"text": "% met"}, "range": [0, 100]},
    )
    return styled(fig, "Service standards by week", 360)
