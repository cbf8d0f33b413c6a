"""Reply words: one normal form for authors' words and customers' texts (any script, any
width, any case), and the journey rules built on it."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeys.definition import JourneyDefinition, load_definition
from journeys.errors import DefinitionInvalid
from journeys.replies import RESERVED, keyword_family, normalize
from slips.sources import match_failure_mode


def full_width(text: str) -> str:
    """ASCII letters and digits as their full-width forms (U+FF01..U+FF5E)."""
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch for ch in text)


spaces = st.sampled_from([" ", "\t", "\u3000", "\n", "\u00a0"])
keywords = st.sampled_from(sorted(RESERVED))


@st.composite
def disguised(draw: st.DrawFn) -> tuple[str, str]:
    """A carrier keyword as a customer might type it: any case, width and spacing."""
    word = draw(keywords)
    letters = [ch.upper() if draw(st.booleans()) else ch for ch in word]
    if draw(st.booleans()):
        letters = list(full_width("".join(letters)))
    out = ""
    for ch in letters:
        out += ch + (draw(spaces) if draw(st.integers(0, 4)) == 0 else "")
    before = draw(st.lists(spaces, max_size=3))
    after = draw(st.lists(st.sampled_from([" ", ".", "!", "！", "。"]), max_size=3))  # noqa: RUF001
    return word, "".join(before) + out + "".join(after)


@given(disguised())
def test_keywords_are_recognised_in_any_case_width_and_spacing(case: tuple[str, str]) -> None:
    word, typed = case
    assert normalize(typed) == word
    family = keyword_family(typed)
    assert family is not None
    assert word in {"stop": RESERVED, "start": RESERVED, "help": RESERVED}[family]


@given(st.text(max_size=40))
def test_normalising_is_idempotent_and_never_leaves_spaces(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once
    assert not any(ch.isspace() for ch in once)
    assert once == unicodedata.normalize("NFKC", once)


@given(st.text(alphabet=st.characters(categories=["Ll", "Lu", "Lo", "Nd"]), min_size=1))
def test_a_word_that_is_not_a_keyword_is_never_taken_for_one(text: str) -> None:
    if normalize(text) not in RESERVED:
        assert keyword_family(text) is None


def test_sentences_that_merely_contain_a_keyword_are_not_keywords() -> None:
    assert keyword_family("please stop by tomorrow") is None
    assert keyword_family("STOP") == "stop"
    assert keyword_family(full_width("Help!")) == "help"
    assert normalize(" 好了！ ") == "好了"  # noqa: RUF001


JOURNEY = """\
key: pills
title: Pills
locales: [en, zh-CN]
behaviours:
  - key: dose
    title: Take the tablet
    stage: encounter
    importance: 5
    schedule: {{once: start}}
    confirm: {{reply: [{confirm}]}}
    failure_modes:
      - {{key: forgot, reply: [{forgot}]}}
      - {{key: ran-out}}
  - key: visit
    title: Visit
    stage: encounter
    importance: 5
    schedule: {{once: start + 7d}}
    confirm: {{reply: [{visit}]}}
"""


def load(confirm: str = "DONE", forgot: str = "FORGOT", visit: str = "OK") -> JourneyDefinition:
    text = JOURNEY.format(confirm=confirm, forgot=forgot, visit=visit)
    return load_definition(text, "pills.yaml")[0]


def messages(**words: str) -> list[str]:
    with pytest.raises(DefinitionInvalid) as caught:
        load(**words)
    return [f"{e.field}: {e.message}" for e in caught.value.errors]


def test_chinese_reply_words_are_accepted() -> None:
    load(confirm="DONE, 好了, 已服药", forgot="忘了")


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        ({"confirm": "DONE, " + full_width("STOP")}, "opt-out/help keyword"),
        (
            {"confirm": "DONE, " + full_width("done")},
            "is already used at behaviours[0].confirm.reply[0]",
        ),
        ({"visit": "done"}, "is already used at behaviours[0].confirm.reply[0]"),
        ({"confirm": "'2'"}, "digits alone are kept for numbered answers"),
        ({"confirm": "好了。"}, "is not one word of letters or digits"),
    ],
)
def test_reply_words_are_checked_in_normal_form_across_the_journey(
    words: dict[str, str], expected: str
) -> None:
    assert any(expected in m for m in messages(**words)), messages(**words)


def test_failure_modes_are_matched_by_number_word_or_width() -> None:
    behaviour = load(forgot="FORGOT, 忘了").behaviours[0]
    assert match_failure_mode(behaviour, "2") == "ran-out"
    assert match_failure_mode(behaviour, full_width(" 2 ")) == "ran-out"
    assert match_failure_mode(behaviour, "1") == "forgot"
    assert match_failure_mode(behaviour, "3") is None
    assert match_failure_mode(behaviour, "忘了") == "forgot"
    assert match_failure_mode(behaviour, "forgot, sorry") == "forgot"
