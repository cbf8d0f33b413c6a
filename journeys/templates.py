"""Message templates: Jinja in a sandbox, a fixed set of variables, checked at load time."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, meta
from jinja2.sandbox import SandboxedEnvironment

# Variables a template may use, with the sample values used to check length at load time.
# Anchor dates come as ``<anchor>_date`` / ``<anchor>_time`` and are added per journey.
VARIABLES: dict[str, str] = {
    "first_name": "Alexandra",
    "last_name": "Montgomery",
    "org_name": "Riverside Health Clinic",
    "journey_title": "Blood-pressure medication",
    "behaviour_title": "Take your blood-pressure tablet",
    "instructions": "Take one tablet with breakfast.",
    "due_date": "Wednesday 25 November",
    "due_time": "08:00",
    "reply_keywords": "DONE",
    "link": "https://slipguard.example/c/0123456789abcdef0123",
}
ANCHOR_SAMPLE_DATE = "Friday 27 November"
ANCHOR_SAMPLE_TIME = "10:30"


@lru_cache(maxsize=1)
def environment() -> SandboxedEnvironment:
    """A sandbox: templates come from authors, so they may not reach Python internals."""
    return SandboxedEnvironment(
        undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
    )


def allowed_variables(anchors: Iterable[str]) -> dict[str, str]:
    """Every variable a journey's templates may use, with sample values."""
    out = dict(VARIABLES)
    for anchor in anchors:
        out[f"{anchor}_date"] = ANCHOR_SAMPLE_DATE
        out[f"{anchor}_time"] = ANCHOR_SAMPLE_TIME
    return out


def undeclared(text: str) -> set[str]:
    """Names the template reads; raises TemplateSyntaxError on bad syntax."""
    return meta.find_undeclared_variables(environment().parse(text))


@lru_cache(maxsize=1024)
def _compiled(text: str) -> Template:
    """A template compiled once: compiling costs far more than rendering, and a journey's
    few templates are rendered for every message (a compiled template is safe to share
    between threads)."""
    return environment().from_string(text)


def render(text: str, values: Mapping[str, Any]) -> str:
    """Render a checked template."""
    return _compiled(text).render(**values).strip()


__all__ = ["TemplateSyntaxError", "allowed_variables", "render", "undeclared"]
