"""JSON, CSV and page payloads of the countermeasure and nudge panels: each CSV holds
exactly the numbers its figure plots, since both come from the same rows."""

from __future__ import annotations

from typing import Any

import msgspec

from core.errors import FieldError
from dashboards import figures, nudge_figures
from dashboards.errors import DashboardInvalid
from dashboards.measure_schemas import CountermeasureOut
from dashboards.nudge_schemas import NudgePanels

NUDGE_PANELS = ("effectiveness", "statuses", "failures", "fatigue", "operations", "standards")
COUNTERMEASURE_COLUMNS = (
    "id", "label", "journey", "behaviour", "failure_mode", "strategy", "owner", "start_date",
    "ended_at", "before_since", "after_until", "before_count", "before_exposure", "before_rate",
    "after_count", "after_exposure", "after_rate", "exposure_unit", "ratio", "ratio_lower",
    "ratio_upper", "verdict",
)  # fmt: skip


def _v(value: Any) -> Any:
    return "" if value is None else value


def countermeasure_table(items: list[CountermeasureOut]) -> tuple[list[str], list[list[Any]]]:
    """One row per countermeasure with its before/after numbers (blank: not started or
    unbounded)."""
    rows = []
    for c in items:
        e = msgspec.to_builtins(c.effect) if c.effect else {}
        plain = msgspec.to_builtins(c)
        rows.append([_v(e.get(k, plain.get(k))) for k in COUNTERMEASURE_COLUMNS])
    return list(COUNTERMEASURE_COLUMNS), rows


def countermeasure_payload(items: list[CountermeasureOut]) -> bytes:
    """The countermeasure page's data: the rows and the figure drawn from them."""
    fig = figures.before_after(items)
    return (
        b'{"items":'
        + msgspec.json.encode(items)
        + b',"empty":'
        + (b"true" if not items else b"false")
        + b',"figures":{"before_after":'
        + fig.to_json().encode()
        + b"}}"
    )


def nudge_table(p: NudgePanels, panel: str) -> tuple[list[str], list[list[Any]]]:
    """A nudge panel's plotted numbers as a header and rows."""
    o = p.operations
    if panel == "effectiveness":
        head = ["journey", "group", "completed", "settled", "completion_rate", "completion_low",
                "completion_high", "slipped", "enrollments", "slip_rate", "slip_low",
                "slip_high", "median_minutes_to_confirm"]  # fmt: skip
        return head, [
            [
                r.journey,
                g.group,
                g.completed,
                g.settled,
                _v(g.completion_rate),
                _v(g.completion_low),
                _v(g.completion_high),
                g.slipped,
                g.enrollments,
                _v(g.slip_rate),
                _v(g.slip_low),
                _v(g.slip_high),
                _v(r.median_minutes_to_confirm),
            ]
            for r in p.effectiveness.rows
            for g in (r.nudged, r.holdout)
        ]
    if panel == "statuses":
        return ["status", "channel", "count"], [[s.status, s.channel, s.count] for s in o.statuses]
    if panel == "failures":
        return ["code", "channel", "count"], [[f.code, f.channel, f.count] for f in o.failures]
    if panel == "fatigue":
        return ["messages_per_year", "customers", "over_threshold"], [
            [b.messages, b.customers, b.over_threshold] for b in o.fatigue
        ]
    if panel == "operations":
        names = ["messaged_customers", "opted_out", "opt_out_rate", "opt_out_low",
                 "opt_out_high", "customers_over_threshold", "messages_sent",
                 "lateness_p50_seconds", "lateness_p99_seconds", "queue_depth"]  # fmt: skip
        return ["measure", "value"], [[n, _v(getattr(o, n))] for n in names]
    if panel == "standards":
        return ["standard", "target", "week", "percent_met", "measured"], [
            [s.key, s.target, w, _v(v), n]
            for s in p.standards.rows
            for w, v, n in zip(s.weeks, s.weekly, s.weekly_total, strict=True)
        ]
    raise DashboardInvalid(
        f"unknown panel {panel!r}", [FieldError("panel", f"one of {', '.join(NUDGE_PANELS)}")]
    )


def nudge_panel_json(p: NudgePanels, panel: str) -> bytes:
    """One nudge panel's rows as JSON."""
    if panel not in NUDGE_PANELS:
        nudge_table(p, panel)  # raises, naming the panels
    if panel in ("effectiveness", "standards"):
        return msgspec.json.encode(getattr(p, panel))
    if panel == "operations":
        return msgspec.json.encode(p.operations)
    return msgspec.json.encode({"rows": getattr(p.operations, panel)})


def nudge_payload(p: NudgePanels) -> bytes:
    """The nudge page's data: every panel's rows and the figures drawn from them."""
    drawn = {
        "completion": nudge_figures.effectiveness(p.effectiveness, "completion"),
        "slips": nudge_figures.effectiveness(p.effectiveness, "slip"),
        "statuses": nudge_figures.statuses(p.operations),
        "failures": nudge_figures.failures(p.operations),
        "fatigue": nudge_figures.fatigue(p.operations),
        "standards": nudge_figures.standards(p.standards),
    }
    parts = ",".join(f'"{k}":{fig.to_json()}' for k, fig in drawn.items())
    return b'{"panels":' + msgspec.json.encode(p) + b',"figures":{' + parts.encode() + b"}}"
