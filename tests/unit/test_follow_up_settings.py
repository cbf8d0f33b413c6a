"""The journey's ``follow_up`` settings: defaults, validation, and digests of journeys
written before the setting existed."""

from __future__ import annotations

from pathlib import Path

from journeys.definition import DEFAULT_FOLLOW_UP, canonical, digest, validate_source
from tests.factories import JOURNEY

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"


def test_leaving_it_out_gives_the_defaults_and_keeps_the_digest() -> None:
    done = validate_source(JOURNEY)
    assert done.ok and done.definition is not None
    settings = done.definition.follow_up_settings()
    assert settings == DEFAULT_FOLLOW_UP and settings.escalate_after_misses == 3
    assert b"follow_up" not in canonical(done.definition)
    spelled = validate_source(JOURNEY + "follow_up: {escalate_after_misses: 5}\n")
    assert spelled.definition is not None
    assert spelled.definition.follow_up_settings().escalate_after_misses == 5
    assert digest(spelled.definition) != digest(done.definition)
    for path in sorted(LIBRARY.glob("*.yaml")):
        assert validate_source(path.read_text(), path.name).ok


def test_bad_settings_are_named_with_their_path() -> None:
    bad = validate_source(
        JOURNEY
        + "follow_up: {escalate_after_misses: 0, remind_before: soon, check_back: 3d, often: 1}\n"
    )
    fields = {e.field for e in bad.errors}
    assert {
        "follow_up.escalate_after_misses",
        "follow_up.often",
    } <= fields, bad.lines()
    late = validate_source(JOURNEY + "follow_up: {remind_before: soon}\n")
    assert [e.field for e in late.errors] == ["follow_up.remind_before"], late.lines()
