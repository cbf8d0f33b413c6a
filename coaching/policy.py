"""The follow-up policy by cause: what to do after a slip or a missed step (pure).

Reminders prevent forgetting; they do not fix misunderstanding, lost motivation or lack of
money. So the follow-up answers the cause the failure mode names (its ``deficit``):

==================  =====================================================================
cause               follow-up
==================  =====================================================================
role_clarity        the behaviour's instructions and guidance, as a message
forgetfulness       an extra reminder before the next occurrence of the behaviour
motivation          an encouraging message; after N misses in a row a staff task as well
ability, financial  a staff task at once
unknown             (a missed step nobody has explained) "why did you miss?", listing the
                    behaviour's failure modes as numbered options
complaint           the five-step recovery: apologise, say who we are, say how we will
                    handle it, state the follow-up, follow through (check-back + task)
==================  =====================================================================

A failure mode marked ``escalate: true`` adds a staff task whatever its cause. Imported
slips are history (tick sheets), so they are never followed up. :func:`decide` is the whole
table; ``coaching.followups`` applies it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The messages the policy may write, each a built-in text (coaching.followups.TEXTS).
Message = Literal["why", "guidance", "extra_reminder", "encourage", "recovery", "check_back"]
# Why a staff task was opened.
TaskReason = Literal["complaint", "ability", "financial", "escalate", "repeated_misses"]

MESSAGES: tuple[Message, ...] = (
    "why", "guidance", "extra_reminder", "encourage", "recovery", "check_back",
)  # fmt: skip


@dataclass(frozen=True)
class Situation:
    """What the policy needs to know about one slip (a missed step arrives as its
    ``system`` slip, which names no failure mode)."""

    kind: str  # error | complaint
    source: str  # staff | system | customer | import
    deficit: str | None  # the failure mode's (or the reporter's) cause, if known
    escalate: bool = False  # the failure mode says: always bring in a person
    has_step: bool = False  # the slip names the occurrence it is about
    has_failure_modes: bool = False  # the behaviour lists reasons to ask about
    misses_in_a_row: int = 0  # the customer's unbroken run of missed steps, this one included
    escalate_after: int = 3  # the journey's follow_up.escalate_after_misses


@dataclass(frozen=True)
class Decision:
    """The follow-up: messages to write, a staff task to open (or not), and a label."""

    action: str  # stored with the follow-up marker: what was decided, for audit
    messages: tuple[Message, ...] = ()
    task: TaskReason | None = None


NOTHING = Decision("none")


def decide(s: Situation) -> Decision:
    """The follow-up for one slip (the table in this module's docstring)."""
    if s.source == "import":
        return Decision("history")
    if s.kind == "complaint":
        return Decision("recovery", ("recovery", "check_back"), "complaint")
    task: TaskReason | None = "escalate" if s.escalate else None
    if s.deficit is None:
        if s.source == "system" and s.has_step and s.has_failure_modes:
            return Decision("ask_why", ("why",), task)
        return Decision("escalate", (), task) if task else NOTHING
    if s.deficit in ("ability", "financial"):
        return Decision(s.deficit, (), "ability" if s.deficit == "ability" else "financial")
    if s.deficit == "role_clarity":
        return Decision("clarify_role", ("guidance",), task)
    if s.deficit == "forgetfulness":
        return Decision("remind", ("extra_reminder",), task)
    if s.deficit == "motivation":
        if s.misses_in_a_row >= s.escalate_after:
            return Decision("encourage_and_escalate", ("encourage",), "repeated_misses")
        return Decision("encourage", ("encourage",), task)
    return Decision("escalate", (), task) if task else NOTHING
