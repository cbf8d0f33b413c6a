"""FMEA-style ratings for an error source: severity, occurrence and detection (1-10), the
Action Priority (H/M/L) they fall into, and the risk priority number shown beside it.

The ratings and the Action Priority table are organisation data (``ActionPriorityTable``);
:data:`DEFAULT` follows the AIAG-VDA FMEA handbook's layout: severity bands 9-10, 7-8, 4-6,
2-3, 1; occurrence bands 8-10, 6-7, 4-5, 2-3, 1; detection bands 7-10, 5-6, 2-4, 1.
Everything here is pure, so it is tested without a database.
"""

from __future__ import annotations

import itertools
import json
from typing import Annotated, Literal

import msgspec

from core.errors import FieldError, Invalid

Rating = Annotated[int, msgspec.Meta(ge=1, le=10)]
Band = Annotated[list[Rating], msgspec.Meta(min_length=2, max_length=2)]
Priority = Literal["H", "M", "L"]
AP_ORDER: dict[str, int] = {"H": 0, "M": 1, "L": 2}


class DetectionStep(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """A detection rating for sources whose share of slips found by the system itself is
    at least ``at_least``."""

    at_least: Annotated[float, msgspec.Meta(ge=0.0, le=1.0)]
    rating: Rating


class ActionPriorityConfig(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """How ratings are derived and which Action Priority each (S, O, D) combination gets.

    ``table[s][o]`` is a string with one letter (H, M or L) per detection band, for the
    ``s``-th severity band and the ``o``-th occurrence band. ``occurrence_per_100`` lists
    the lowest rate per 100 exposures for occurrence 10, 9, … 2 (a lower positive rate is
    2; a source with no exposure to divide by is rated 10, the unknown assumed high).
    ``detection`` lists the lowest share of slips detected automatically for each rating,
    first match wins.
    """

    severity_bands: list[Band]
    occurrence_bands: list[Band]
    detection_bands: list[Band]
    table: list[list[str]]
    occurrence_per_100: Annotated[list[float], msgspec.Meta(min_length=9, max_length=9)]
    detection: Annotated[list[DetectionStep], msgspec.Meta(min_length=1)]


DEFAULT = ActionPriorityConfig(
    severity_bands=[[9, 10], [7, 8], [4, 6], [2, 3], [1, 1]],
    occurrence_bands=[[8, 10], [6, 7], [4, 5], [2, 3], [1, 1]],
    detection_bands=[[7, 10], [5, 6], [2, 4], [1, 1]],
    table=[
        ["HHHH", "HHHH", "HHHM", "HMLL", "LLLL"],  # severity 9-10
        ["HHHH", "HHHM", "HMMM", "MMLL", "LLLL"],  # severity 7-8
        ["HHMM", "MMML", "MLLL", "LLLL", "LLLL"],  # severity 4-6
        ["MMLL", "LLLL", "LLLL", "LLLL", "LLLL"],  # severity 2-3
        ["LLLL", "LLLL", "LLLL", "LLLL", "LLLL"],  # severity 1
    ],
    # per 100 exposures: ≥10 → 10, ≥5 → 9, ≥2 → 8, ≥1 → 7, ≥0.2 → 6, ≥0.05 → 5, ≥0.01 → 4,
    # ≥0.001 → 3, anything above zero → 2 (the handbook's 1-in-10 … 1-in-a-million ladder)
    occurrence_per_100=[10.0, 5.0, 2.0, 1.0, 0.2, 0.05, 0.01, 0.001, 0.0],
    # slips found by the system (missed steps) are caught early; those seen only by staff
    # or reported by customers were found late
    detection=[
        DetectionStep(at_least=share, rating=rating)
        for share, rating in ((0.9, 3), (0.5, 5), (0.1, 6), (0.0, 7))
    ],
)


def _covers(bands: list[list[int]], name: str) -> list[FieldError]:
    values = sorted(v for lo, hi in bands for v in range(lo, hi + 1))
    bad = any(lo > hi for lo, hi in bands) or values != list(range(1, 11))
    return [FieldError(name, "bands must cover 1 to 10 exactly once")] if bad else []


def check(config: ActionPriorityConfig) -> ActionPriorityConfig:
    """The config, or :class:`Invalid` naming what does not fit together."""
    errors = [
        *_covers(config.severity_bands, "severity_bands"),
        *_covers(config.occurrence_bands, "occurrence_bands"),
        *_covers(config.detection_bands, "detection_bands"),
    ]
    if len(config.table) != len(config.severity_bands):
        errors.append(FieldError("table", "one row per severity band"))
    for i, row in enumerate(config.table):
        if len(row) != len(config.occurrence_bands):
            errors.append(FieldError(f"table[{i}]", "one entry per occurrence band"))
        for j, cell in enumerate(row):
            if len(cell) != len(config.detection_bands) or set(cell) - set("HML"):
                errors.append(FieldError(f"table[{i}][{j}]", "one of H, M, L per detection band"))
    steps = config.occurrence_per_100
    if any(a < b for a, b in itertools.pairwise(steps)) or min(steps) < 0:
        errors.append(FieldError("occurrence_per_100", "non-negative, from highest to lowest"))
    if errors:
        raise Invalid("invalid Action Priority table", errors)
    return config


def decode(text: str | None) -> ActionPriorityConfig:
    """A stored config (JSON), or the default when none is stored."""
    if not text:
        return DEFAULT
    return check(msgspec.json.decode(text, type=ActionPriorityConfig))


def encode(config: ActionPriorityConfig) -> str:
    """The config as stored."""
    return json.dumps(msgspec.to_builtins(config), sort_keys=True)


def severity(importance: float) -> int:
    """Severity 1-10 from an importance (rounded half up, clamped)."""
    return max(1, min(10, int(importance + 0.5)))


def occurrence(rate_per_100: float | None, config: ActionPriorityConfig = DEFAULT) -> int:
    """Occurrence 1-10 from a rate per 100 exposures; unknown (no exposure) is 10."""
    if rate_per_100 is None:
        return 10
    if rate_per_100 <= 0:
        return 1
    for rating, lowest in zip(range(10, 1, -1), config.occurrence_per_100, strict=True):
        if rate_per_100 >= lowest:
            return rating
    return 2


def detection(auto_share: float, config: ActionPriorityConfig = DEFAULT) -> int:
    """Detection 1-10 from the share of slips the system found by itself."""
    for step in config.detection:
        if auto_share >= step.at_least:
            return step.rating
    return 10


def _band(bands: list[list[int]], value: int) -> int:
    return next(i for i, (lo, hi) in enumerate(bands) if lo <= value <= hi)


def action_priority(s: int, o: int, d: int, config: ActionPriorityConfig = DEFAULT) -> str:
    """H, M or L for ratings (S, O, D) from the config's table."""
    cell = config.table[_band(config.severity_bands, s)][_band(config.occurrence_bands, o)]
    return cell[_band(config.detection_bands, d)]
