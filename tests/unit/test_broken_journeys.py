"""Broken journey files: each realistic authoring mistake gets the right line, path and message.

Every file in tests/data/broken_journeys holds one mistake (``multiple-mistakes.yaml`` holds
three); the table below says what the validator must report for it. Cases marked as known
validator bugs are strict xfails: when the bug is fixed they start passing, the run fails on
the unexpected pass, and the mark should be removed.
"""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

from core.errors import FieldError
from journeys.definition import Validation, validate_source
from tests.conftest import slipguard_bin

ROOT = Path(__file__).resolve().parents[2]
BROKEN = ROOT / "tests" / "data" / "broken_journeys"
LIBRARY = ROOT / "journeys" / "library"


@dataclass(frozen=True)
class Expect:
    """One expected error: 1-based line, dotted path and a fragment of the message.

    For YAML syntax errors where the parser notices the problem later than where it starts
    (an unclosed bracket or quote), ``or_named`` also accepts a message naming the line.
    """

    line: int
    path: str
    fragment: str
    or_named: bool = False

    def matches(self, error: FieldError) -> bool:
        line_ok = error.line == self.line or (
            self.or_named and f"line {self.line}" in error.message
        )
        return line_ok and error.field == self.path and self.fragment in error.message


E = Expect
CASES: dict[str, list[Expect]] = {
    # YAML itself
    "yaml-syntax-error.yaml": [E(7, "yaml", "mapping values are not allowed here")],
    "tab-indentation.yaml": [E(6, "yaml", "found character '\\t'")],
    "unclosed-bracket.yaml": [E(3, "yaml", "not valid YAML", or_named=True)],
    "unterminated-quote.yaml": [E(2, "yaml", "not valid YAML", or_named=True)],
    "template-not-quoted.yaml": [E(14, "yaml", "not valid YAML")],
    "duplicate-yaml-key.yaml": [E(12, "behaviours[0].nudges", "duplicate")],
    "empty.yaml": [E(1, "(top)", "a journey file is a mapping")],
    "top-level-list.yaml": [E(1, "(top)", "a journey file is a mapping")],
    # shape: keys, types, ranges
    "top-level-key-typo.yaml": [
        E(3, "descripton", "unknown key 'descripton' (did you mean 'description'?)")
    ],
    "behaviours-us-spelling.yaml": [
        E(4, "behaviors", "unknown key 'behaviors' (did you mean 'behaviours'?)"),
        E(1, "behaviours", "missing required key 'behaviours'"),
    ],
    "behaviour-key-typo.yaml": [
        E(
            9,
            "behaviours[0].instruction",
            "unknown key 'instruction' (did you mean 'instructions'?)",
        )
    ],
    "missing-title.yaml": [E(1, "title", "missing required key 'title'")],
    "journey-key-with-spaces.yaml": [E(1, "key", "'Flu Vaccination' is not valid")],
    "no-behaviours.yaml": [E(4, "behaviours", "needs at least 1 item")],
    "importance-zero.yaml": [E(8, "behaviours[0].importance", "0 is out of range (minimum 1")],
    "importance-eleven.yaml": [E(8, "behaviours[0].importance", "maximum 10")],
    "importance-as-text.yaml": [
        E(8, "behaviours[0].importance", "expected integer, got str 'high'")
    ],
    "holdout-too-high.yaml": [E(4, "holdout", "0.9 is out of range (minimum 0, maximum 0.5)")],
    "channel-typo.yaml": [
        E(11, "behaviours[0].nudges[0].channel", "'text' is not allowed; choose one of email, sms")
    ],
    "deficit-typo.yaml": [
        E(13, "behaviours[0].failure_modes[0].deficit", "(did you mean 'forgetfulness'?)")
    ],
    "unless-typo.yaml": [E(12, "behaviours[0].nudges[0].unless", "(did you mean 'confirmed'?)")],
    "grace-without-unit.yaml": [E(12, "behaviours[0].confirm.grace", "expected string, got int 4")],
    "anchor-with-dash.yaml": [E(3, "anchors[0]", "'first-visit' is not valid")],
    "reply-keyword-two-words.yaml": [
        E(14, "behaviours[0].failure_modes[0].reply[0]", "'NOT NOW' is not valid")
    ],
    # YAML 1.1 reads an unquoted NO as false.
    "reply-keyword-number.yaml": [E(11, "behaviours[0].confirm.reply[1]", "got int 42")],
    # meaning: stages, anchors, schedules
    "unknown-stage.yaml": [
        E(7, "behaviours[0].stage", "unknown stage 'encounters' (did you mean 'encounter'?)")
    ],
    "unknown-anchor.yaml": [
        E(
            9,
            "behaviours[0].schedule.once",
            "unknown anchor 'apointment' (did you mean 'appointment'?)",
        )
    ],
    "once-and-every.yaml": [
        E(8, "behaviours[0].schedule", "give exactly one of 'once', 'every' or 'taper'")
    ],
    "once-with-from.yaml": [E(11, "behaviours[0].schedule.from", "not used with 'once'")],
    "recurring-without-for.yaml": [
        E(8, "behaviours[0].schedule.for", "a recurring schedule needs an end")
    ],
    "recurring-without-from.yaml": [
        E(8, "behaviours[0].schedule.from", "which anchor the schedule starts from")
    ],
    "every-hours-with-at.yaml": [
        E(9, "behaviours[0].schedule.every", "whole days or weeks (e.g. 1d, 2d, 1w), not '12h'")
    ],
    "time-am-pm.yaml": [E(10, "behaviours[0].schedule.at", "'8am' is not a time")],
    "unquoted-time.yaml": [E(10, "behaviours[0].schedule.at", "'8:00' is not a time")],
    "taper-empty.yaml": [E(9, "behaviours[0].schedule.taper", "needs at least one phase")],
    # meaning: nudges
    "nudge-at-typo.yaml": [E(11, "behaviours[0].nudges[0].at", "not 'dew' (did you mean 'due'?)")],
    "nudge-bad-unit.yaml": [E(11, "behaviours[0].nudges[0].at", "'due - 2x' is not an offset")],
    "unless-confirmed-without-confirm.yaml": [
        E(12, "behaviours[0].nudges[1].unless", "needs the behaviour to have a 'confirm' rule")
    ],
    "unknown-template.yaml": [
        E(
            11,
            "behaviours[0].nudges[0].template",
            "unknown template 'reminders' (did you mean 'reminder'?)",
        )
    ],
    # meaning: reply keywords and keys
    "reserved-confirm-keyword.yaml": [
        E(11, "behaviours[0].confirm.reply[1]", "'STOP' is an opt-out/help keyword")
    ],
    "duplicate-reply-keyword.yaml": [
        E(
            14,
            "behaviours[0].failure_modes[2].reply[0]",
            "'c' is already used at behaviours[0].failure_modes[0].reply[0]",
        )
    ],
    "duplicate-behaviour-key.yaml": [E(10, "behaviours[1].key", "duplicate 'attend'")],
    "bad-locale-tag.yaml": [E(4, "locales[1]", "'zh_CN' is not a locale tag")],
    # meaning: templates
    "template-missing-locale.yaml": [E(14, "templates.reminder", "missing locale 'zh-CN'")],
    "template-undeclared-locale.yaml": [
        E(15, "templates.reminder.zh-CN", "locale 'zh-CN' is not in 'locales'")
    ],
    "template-unknown-variable.yaml": [
        E(
            14,
            "templates.reminder.en",
            "unknown variable 'firstname' (did you mean 'first_name'?)",
        )
    ],
    "template-syntax-error.yaml": [E(14, "templates.reminder.en", "template syntax error")],
    "email-template-bad-attribute.yaml": [E(14, "templates.reminder.en", "cannot render")],
    # several mistakes in one file: all of them at once
    "multiple-mistakes.yaml": [
        E(10, "behaviours[0].schedule.at", "'25:00' is not a time"),
        E(11, "behaviours[0].confirm.grace", "'2 hours' is not a duration"),
        E(14, "behaviours[0].nudges[1].at", "not 'appointment'"),
    ],
}

# Validator bugs found with this corpus (see the reasons); strict, so a fix is noticed.
KNOWN_BUGS: dict[str, str] = {}


class ValidationTimeout(Exception):
    """Validation did not finish in time."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail instead of hanging the run if validation loops (SIGALRM, main thread only)."""

    def expire(signum: int, frame: FrameType | None) -> None:
        raise ValidationTimeout(f"validation did not finish within {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def validate_file(name: str) -> Validation:
    text = (BROKEN / name).read_text(encoding="utf-8")
    with time_limit(5):
        return validate_source(text, name)


def case(name: str) -> Any:
    if name in KNOWN_BUGS:
        return pytest.param(
            name, marks=pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[name]), id=name
        )
    return pytest.param(name, id=name)


def test_corpus_and_table_agree() -> None:
    files = {p.name for p in BROKEN.glob("*.yaml")}
    assert files == set(CASES)
    assert len(files) >= 25
    assert set(KNOWN_BUGS) <= files


@pytest.mark.parametrize("name", [case(n) for n in sorted(CASES)])
def test_reports_the_expected_errors(name: str) -> None:
    result = validate_file(name)
    assert not result.ok
    assert result.definition is None
    expected = CASES[name]
    assert len(result.errors) == len(expected), result.lines()
    assert expected[0].matches(result.errors[0]), (expected[0], result.lines())
    for want in expected:
        assert any(want.matches(got) for got in result.errors), (want, result.lines())
    assert all(e.line is not None for e in result.errors)


def test_first_error_is_reported_as_file_line() -> None:
    result = validate_file("unknown-anchor.yaml")
    assert result.lines()[0].startswith(
        "unknown-anchor.yaml:9: error: behaviours[0].schedule.once: unknown anchor"
    )


def test_long_sms_warns_but_does_not_block() -> None:
    en = "Hello {{ first_name }}, " + "please remember your appointment. " * 14
    zh = "{{ first_name }}，您好：" + "请记得按时来就诊。" * 25  # noqa: RUF001
    source = f"""key: long-text
title: Long text
anchors: [appointment]
locales: [en, zh-CN]
behaviours:
  - key: attend
    title: Come to your appointment
    stage: encounter
    importance: 5
    schedule: {{once: appointment}}
    nudges:
      - {{at: due - 1d, channel: sms, template: reminder}}
templates:
  reminder:
    en: "{en}"
    zh-CN: "{zh}"
"""
    result = validate_source(source, "long-text.yaml")
    assert result.ok, result.lines()
    assert [(w.line, w.field) for w in result.warnings] == [
        (15, "templates.reminder.en"),
        (16, "templates.reminder.zh-CN"),
    ]
    assert all("SMS segments" in w.message for w in result.warnings)


# --- the command line -----------------------------------------------------------------------


def run_validate(*paths: str, timeout: float) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    return subprocess.run(
        [slipguard_bin(), "journeys", "validate", *paths],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


def assert_each_file_reported(output: str, names: list[str]) -> None:
    for name in names:
        rel = relative(BROKEN / name)
        assert f"{rel}:" in output, name
        if name not in KNOWN_BUGS:
            first = CASES[name][0]
            assert f"{rel}:{first.line}: error: {first.path}: " in output, (name, output)
            assert f"{rel}: ok" not in output


def test_cli_accepts_the_library() -> None:
    proc = run_validate(relative(LIBRARY), timeout=60)
    assert proc.returncode == 0, proc.stderr
    for path in sorted(LIBRARY.glob("*.yaml")):
        assert f"{relative(path)}: ok (0 warning(s))" in proc.stderr
    assert "error" not in proc.stderr


def test_cli_rejects_the_broken_folder_with_file_and_line() -> None:
    proc = run_validate(relative(BROKEN), timeout=60)
    assert proc.returncode == 1, proc.stderr
    assert_each_file_reported(proc.stderr, sorted(CASES))
    assert "file(s) with errors; nothing was loaded" in proc.stderr
