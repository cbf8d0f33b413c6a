"""The demo's simulation without a database: seeded, and its effects point the right way
(docs/demo.md); the full history through the real command is tests/integration/test_demo.py."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from uuid import uuid4

import coaching.outbox  # noqa: F401 - the planner's step companion writes the messages
from api.demo import LIBRARY, model
from api.demo.simulate import JourneyRef, Rows, Simulation
from journeys.definition import validate_source


def _simulate(customers: int, seed: int = 7) -> tuple[Rows, dict[str, JourneyRef]]:
    journeys = {}
    for path in sorted(LIBRARY.glob("*.yaml")):
        definition = validate_source(path.read_text(encoding="utf-8"), path.name).definition
        assert definition is not None
        journeys[definition.key] = JourneyRef(uuid4(), uuid4(), definition)
    now = datetime.now(UTC)
    return Simulation(uuid4(), journeys, now, random.Random(seed)).run(customers), journeys


def test_the_same_seed_gives_the_same_history() -> None:
    first, _ = _simulate(120, seed=3)
    second, _ = _simulate(120, seed=3)

    def shape(rows: Rows) -> list[tuple[object, ...]]:
        return [(s[4], s[5], s[9]) for s in rows.steps]  # behaviour, occurrence, status

    assert shape(first) == shape(second)
    assert len(first.nudges) == len(second.nudges) and len(first.slips) == len(second.slips)


def test_mode_weights_share_the_rate() -> None:
    for count in range(1, 6):
        weights = model.mode_weights(count)
        assert abs(sum(weights) - 1) < 1e-9 and weights == sorted(weights, reverse=True)


def test_every_slip_points_at_a_missed_step_of_its_own_organisation() -> None:
    rows, _ = _simulate(150)
    org = rows.customers[0][1]
    missed = {s[0] for s in rows.steps if s[9] == "missed"}
    assert rows.slips and {s.step for s in rows.slips} == missed
    owned = [rows.customers, rows.consents, rows.enrollments, rows.steps, rows.nudges]
    assert all(r[1] == org for table in owned for r in table)
    assert all(s.organization == org for s in rows.slips)
