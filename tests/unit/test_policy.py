"""The follow-up policy's decision table (coaching.policy.decide), case by case and over
every combination of its inputs."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coaching.policy import MESSAGES, Decision, Situation, decide
from journeys.vocabulary import DEFICITS, SLIP_KINDS, SLIP_SOURCES


@pytest.mark.parametrize(
    ("deficit", "messages", "task"),
    [
        ("role_clarity", ("guidance",), None),
        ("forgetfulness", ("extra_reminder",), None),
        ("motivation", ("encourage",), None),
        ("ability", (), "ability"),
        ("financial", (), "financial"),
        ("other", (), None),
    ],
)
def test_each_cause_has_its_follow_up(deficit: str, messages: tuple[str, ...], task: str) -> None:
    d = decide(Situation(kind="error", source="customer", deficit=deficit, has_step=True))
    assert (d.messages, d.task) == (messages, task)


def test_motivation_escalates_after_n_misses_in_a_row() -> None:
    def at(run: int, n: int = 3) -> Decision:
        return decide(
            Situation(
                "error",
                "customer",
                "motivation",
                misses_in_a_row=run,
                escalate_after=n,
                has_step=True,
            )
        )

    assert at(2).task is None and at(2).messages == ("encourage",)
    assert at(3).task == "repeated_misses" and at(3).messages == ("encourage",)
    assert at(7).task == "repeated_misses"
    assert at(1, n=1).task == "repeated_misses"
    assert at(4, n=5).task is None


def test_an_unexplained_missed_step_asks_why() -> None:
    missed = Situation("error", "system", None, has_step=True, has_failure_modes=True)
    assert decide(missed) == Decision("ask_why", ("why",), None)
    # Nothing to offer as answers, or no step to ask about: nothing to ask.
    assert decide(Situation("error", "system", None, has_step=True)).messages == ()
    assert decide(Situation("error", "system", None, has_failure_modes=True)).messages == ()
    # A customer who answered with words we could not match is not asked again.
    customer = Situation("error", "customer", None, has_step=True, has_failure_modes=True)
    assert decide(customer).messages == ()


def test_a_complaint_gets_recovery_a_check_back_and_a_task() -> None:
    d = decide(Situation("complaint", "staff", "motivation", escalate=True))
    assert d == Decision("recovery", ("recovery", "check_back"), "complaint")


situations = st.builds(
    Situation,
    kind=st.sampled_from(SLIP_KINDS),
    source=st.sampled_from(SLIP_SOURCES),
    deficit=st.none() | st.sampled_from(DEFICITS),
    escalate=st.booleans(),
    has_step=st.booleans(),
    has_failure_modes=st.booleans(),
    misses_in_a_row=st.integers(0, 40),
    escalate_after=st.integers(1, 30),
)


@given(situations)
def test_the_table_holds_for_every_situation(s: Situation) -> None:
    d = decide(s)
    assert set(d.messages) <= set(MESSAGES) and len(set(d.messages)) == len(d.messages)
    if s.source == "import":  # history is never followed up
        assert d == Decision("history")
        return
    if s.kind == "complaint":
        assert d.task == "complaint" and d.messages == ("recovery", "check_back")
        return
    # A person is brought in exactly when the cause needs one.
    needs_person = (
        s.escalate
        or s.deficit in ("ability", "financial")
        or (s.deficit == "motivation" and s.misses_in_a_row >= s.escalate_after)
    )
    assert (d.task is not None) == needs_person
    # The why-question only for a missed step nobody has explained, with answers to offer.
    assert ("why" in d.messages) == (
        s.deficit is None and s.source == "system" and s.has_step and s.has_failure_modes
    )
    # Recovery texts belong to complaints only.
    assert not {"recovery", "check_back"} & set(d.messages)
    # Money and ability are never answered with a message alone.
    if s.deficit in ("ability", "financial"):
        assert d.messages == ()
