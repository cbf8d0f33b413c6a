"""The journey library: every example validates cleanly, previews, and versions by digest."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from journeys.definition import (
    MAX_SMS_SEGMENTS,
    JourneyDefinition,
    Validation,
    digest,
    validate_source,
)
from journeys.services import preview
from journeys.sms import segments

LIBRARY = Path(__file__).resolve().parents[2] / "journeys" / "library"
FILES = sorted(LIBRARY.glob("*.yaml"))
EXPECTED = {
    "clinic-appointment",
    "hypertension-adherence",
    "restaurant-booking",
    "vehicle-delivery",
    "weight-management",
}
# A fixed instant well in the future, so every step and nudge of a preview lies ahead.
ANCHOR_AT = datetime(2031, 3, 12, 9, 30, tzinfo=UTC)
ZONES = ["Europe/London", "Asia/Shanghai"]
LOCALES = ["en", "zh-CN"]


def load(path: Path) -> Validation:
    return validate_source(path.read_text(encoding="utf-8"), path.name)


def definition_of(path: Path) -> JourneyDefinition:
    result = load(path)
    assert result.definition is not None, result.lines()
    return result.definition


def ids(paths: list[Path]) -> list[str]:
    return [p.stem for p in paths]


def test_library_holds_the_examples() -> None:
    assert {p.stem for p in FILES} >= EXPECTED


@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_validates_without_errors_or_warnings(path: Path) -> None:
    result = load(path)
    assert result.errors == [], result.lines()
    assert result.warnings == [], result.lines()
    assert result.ok


@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_key_matches_file_name_and_locales(path: Path) -> None:
    d = definition_of(path)
    assert d.key == path.stem
    assert {"en", "zh-CN"} <= set(d.locales)
    for key, by_locale in d.templates.items():
        assert set(by_locale) == set(d.locales), key


@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_reply_keywords_are_unique_across_the_journey(path: Path) -> None:
    """A reply must point at one behaviour, so no keyword is used twice in a journey."""
    d = definition_of(path)
    words: list[str] = []
    for b in d.behaviours:
        words += [w.upper() for w in (b.confirm.reply if b.confirm else [])]
        for mode in b.failure_modes:
            words += [w.upper() for w in mode.reply]
    assert len(words) == len(set(words)), sorted(words)


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("zone", ZONES)
@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_previews_with_every_message_rendered(path: Path, zone: str, locale: str) -> None:
    d = definition_of(path)
    tz = ZoneInfo(zone)
    anchors = {name: ANCHOR_AT for name in d.anchors}
    steps = preview(d, anchors, tz, locale)
    assert len(steps) >= 1
    assert {s["behaviour"] for s in steps} == {b.key for b in d.behaviours}
    assert [s["due_at"] for s in steps] == sorted(s["due_at"] for s in steps)
    messages = [m for s in steps for m in s["messages"]]
    assert messages, "a library journey should send at least one nudge"
    for step in steps:
        local = datetime.fromisoformat(step["due_local"])
        assert local == datetime.fromisoformat(step["due_at"])
        assert local.utcoffset() == local.astimezone(tz).utcoffset()
        for m in step["messages"]:
            text = m["text"]
            assert text.strip(), (step["behaviour"], m["template"])
            assert "{{" not in text and "{%" not in text, text
            assert text == text.strip()
            if m["channel"] == "sms":
                assert segments(text) <= MAX_SMS_SEGMENTS, (m["template"], text)


@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_zh_cn_preview_uses_the_chinese_templates(path: Path) -> None:
    d = definition_of(path)
    anchors = {name: ANCHOR_AT for name in d.anchors}
    steps = preview(d, anchors, ZoneInfo("Asia/Shanghai"), "zh-CN")
    texts = [m["text"] for s in steps for m in s["messages"]]
    assert texts
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in t) for t in texts)


@pytest.mark.parametrize("path", FILES, ids=ids(FILES))
def test_digest_is_stable_and_follows_changes(path: Path) -> None:
    source = path.read_text(encoding="utf-8")
    first = digest(definition_of(path))
    assert digest(definition_of(path)) == first
    # Comments and layout are not part of the definition: no new version for them.
    commented = validate_source("# reviewed by the clinic team\n" + source, path.name)
    assert commented.definition is not None
    assert digest(commented.definition) == first
    # A changed title is a changed definition.
    lines = source.splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if line.startswith("title:"))
    lines[index] = "title: A renamed journey\n"
    renamed = validate_source("".join(lines), path.name)
    assert renamed.definition is not None, renamed.lines()
    assert renamed.definition.title == "A renamed journey"
    assert digest(renamed.definition) != first


def test_guide_example_validates() -> None:
    """The complete example in the authoring guide is a valid journey."""
    guide = (LIBRARY.parents[1] / "docs" / "journeys.md").read_text(encoding="utf-8")
    blocks = guide.split("```yaml\n")[1:]
    example = next(b.split("```")[0] for b in blocks if "\nbehaviours:" in b)
    result = validate_source(example, "docs/journeys.md")
    assert result.errors == [], result.lines()
    assert result.warnings == [], result.lines()
    d = result.definition
    assert d is not None
    steps = preview(d, {name: ANCHOR_AT for name in d.anchors}, ZoneInfo("Europe/London"), "zh-CN")
    assert all(m["text"] for s in steps for m in s["messages"])
