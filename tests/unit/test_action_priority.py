"""The FMEA ratings and the Action Priority table: bands, ladders and checks."""

from __future__ import annotations

import msgspec
import pytest

from core.errors import Invalid
from dashboards import priority as ap


@pytest.mark.parametrize(
    ("rate", "rating"),
    [(None, 10), (0.0, 1), (25.0, 10), (10.0, 10), (9.99, 9), (5.0, 9), (2.0, 8), (1.5, 7),
     (0.2, 6), (0.05, 5), (0.01, 4), (0.001, 3), (0.0001, 2)],
)  # fmt: skip
def test_occurrence_ladder(rate: float | None, rating: int) -> None:
    assert ap.occurrence(rate) == rating


def test_severity_and_detection() -> None:
    assert [ap.severity(x) for x in (0.2, 1, 4.49, 4.5, 9.6, 12)] == [1, 1, 4, 5, 10, 10]
    assert [ap.detection(s) for s in (1.0, 0.9, 0.6, 0.2, 0.0)] == [3, 3, 5, 6, 7]


def test_default_table_corners() -> None:
    assert ap.action_priority(10, 10, 10) == "H"
    assert ap.action_priority(1, 10, 10) == "L"
    assert ap.action_priority(9, 4, 1) == "M"  # severe, occasional, always caught
    assert ap.action_priority(9, 2, 7) == "H"  # severe, rare, seldom caught
    assert ap.action_priority(5, 8, 4) == "M"
    assert ap.action_priority(3, 9, 5) == "M" and ap.action_priority(3, 7, 10) == "L"


def test_a_stored_table_round_trips_and_bad_ones_are_named() -> None:
    assert ap.decode(ap.encode(ap.DEFAULT)) == ap.DEFAULT
    assert ap.decode(None) is ap.DEFAULT
    data = msgspec.to_builtins(ap.DEFAULT)
    data["severity_bands"] = [[9, 10], [7, 8], [4, 6], [2, 2], [1, 1]]
    data["table"][1][2] = "HMX"
    with pytest.raises(Invalid) as caught:
        ap.check(msgspec.convert(data, ap.ActionPriorityConfig))
    fields = [e.field for e in caught.value.errors]
    assert fields == ["severity_bands", "table[1][2]"]
