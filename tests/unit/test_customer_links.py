"""Customers' signed links: what a token opens, for how long, across a key rotation; and
what the page's texts, the send decision and the access log do with them."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from hypothesis import given
from hypothesis import strategies as st

from api.observability import redact_tokens
from api.pages.customer_texts import TEXTS
from coaching import links
from coaching.decisions import PAUSED, Go, Snapshot, Stop, decide
from coaching.errors import LinkExpired, LinkInvalid
from settings import Secret, Settings, load_settings

OLD_KEY = "o" * 40
NEW_KEY = "n" * 40


def settings_with(secret: str, previous: str = "", days: int = 30) -> Settings:
    base = load_settings({"SLIPGUARD_DATA_DIR": "/nonexistent-not-used"})
    server = dataclasses.replace(
        base.server,
        secret_key=Secret(secret),
        previous_secret_key=Secret(previous),
        link_days=days,
    )
    return dataclasses.replace(base, server=server)


def test_a_token_names_its_customer_and_nobody_else() -> None:
    s = settings_with(NEW_KEY)
    a, b = uuid.uuid4(), uuid.uuid4()
    ta, tb = links.make_token(s, a), links.make_token(s, b)
    assert links.read_token(s, ta) == a and links.read_token(s, tb) == b
    assert ta != tb and len(ta) < 80
    assert links.link(s, a).endswith("/c/" + ta)


@given(st.text(max_size=120))
def test_anything_that_is_not_a_genuine_token_is_refused_cleanly(text: str) -> None:
    with pytest.raises(LinkInvalid):
        links.read_token(settings_with(NEW_KEY), text)


@given(st.integers(0, 72), st.characters(codec="ascii"))
def test_changing_any_character_breaks_the_token(at: int, new: str) -> None:
    """Any change is refused, except one that base64 reads as the same bytes: the last
    character of a 32-byte signature carries two padding bits that decoders ignore."""
    s = settings_with(NEW_KEY)
    who = uuid.uuid4()
    token = links.make_token(s, who)
    at %= len(token)
    if token[at] == new:
        return
    changed = token[:at] + new + token[at + 1 :]
    if at == len(token) - 1 and _same_bytes(token[-1], new):
        assert links.read_token(s, changed) == who  # same signature, same customer
        return
    with pytest.raises(LinkInvalid):
        links.read_token(s, changed)


def _same_bytes(a: str, b: str) -> bool:
    """Whether two final base64 characters of a 32-byte value decode alike (only their top
    four bits are data)."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return b in alphabet and alphabet.index(a) >> 2 == alphabet.index(b) >> 2


def test_a_final_character_that_only_changes_padding_bits_names_the_same_customer() -> None:
    s = settings_with(NEW_KEY)
    who = uuid.uuid4()
    token = links.make_token(s, who)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for other in alphabet:
        if other == token[-1]:
            continue
        changed = token[:-1] + other
        if _same_bytes(token[-1], other):
            assert links.read_token(s, changed) == who
        else:
            with pytest.raises(LinkInvalid):
                links.read_token(s, changed)


def test_a_link_expires_after_its_days_and_still_says_whose_it_was() -> None:
    s = settings_with(NEW_KEY, days=30)
    who = uuid.uuid4()
    made = datetime.now(UTC)
    with time_machine.travel(made, tick=False):
        token = links.make_token(s, who)
    with time_machine.travel(made + timedelta(days=29, hours=23), tick=False):
        assert links.read_token(s, token) == who
    with (
        time_machine.travel(made + timedelta(days=30, minutes=1), tick=False),
        pytest.raises(LinkExpired) as expired,
    ):
        links.read_token(s, token)
    assert expired.value.customer == who


def test_a_reader_whose_clock_is_a_little_behind_the_signer_still_opens_the_link() -> None:
    """The worker signs and the web server reads, often on two hosts: a link "from the
    future" by a few seconds (or minutes) of clock skew is genuine; by hours it is not."""
    s = settings_with(NEW_KEY)
    who = uuid.uuid4()
    made = datetime.now(UTC)
    with time_machine.travel(made, tick=False):
        token = links.make_token(s, who)
    for behind in (timedelta(seconds=1), timedelta(seconds=30), links.CLOCK_SKEW):
        with time_machine.travel(made - behind, tick=False):
            assert links.read_token(s, token) == who, behind
    with (
        time_machine.travel(made - links.CLOCK_SKEW - timedelta(seconds=2), tick=False),
        pytest.raises(LinkInvalid),
    ):
        links.read_token(s, token)


def test_after_a_key_rotation_old_links_work_only_while_the_previous_key_is_kept() -> None:
    who = uuid.uuid4()
    before = links.make_token(settings_with(OLD_KEY), who)
    rotated = settings_with(NEW_KEY, previous=OLD_KEY)
    assert links.read_token(rotated, before) == who
    after = links.make_token(rotated, who)
    assert after != before and links.read_token(settings_with(NEW_KEY), after) == who
    with pytest.raises(LinkInvalid):
        links.read_token(settings_with(NEW_KEY), before)  # grace over: previous key dropped


def test_the_link_key_is_its_own() -> None:
    """A token signed for another purpose (an unsubscribe link) is no customer link."""
    from coaching import unsubscribe

    s = settings_with(NEW_KEY)
    other = unsubscribe.make_token(s, unsubscribe.Target(uuid.uuid4(), "sms", "informational"))
    with pytest.raises(LinkInvalid):
        links.read_token(s, other)


def test_access_logs_never_show_a_token() -> None:
    assert redact_tokens("/c/abc.def.ghi/preferences") == "/c/…/preferences"
    assert redact_tokens("/c/abc.def.ghi") == "/c/…"
    assert redact_tokens("/unsubscribe/QUJD") == "/unsubscribe/…"
    assert redact_tokens("/staff/customers/1") == "/staff/customers/1"


def test_every_language_has_every_text() -> None:
    english = set(TEXTS["en"])
    for locale, texts in TEXTS.items():
        assert set(texts) == english, locale
        assert all(value.strip() for value in texts.values()), locale


def snapshot(**changes: object) -> Snapshot:
    base = Snapshot(
        kind="reminder", channel="sms", purpose="informational", critical=False,
        unless_confirmed=False, step_status="pending", enrollment_status="active",
        erased=False, address="+14155550100", consent=True, timezone="UTC",
        window=("00:00", "23:59"), sent_last_day=[],
    )  # fmt: skip
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_a_pause_suppresses_reminders_but_not_critical_messages() -> None:
    now = datetime.now(UTC)
    assert decide(snapshot(paused=True), now, 3) == Stop("suppressed", PAUSED)
    assert isinstance(decide(snapshot(paused=True, critical=True), now, 3), Go)
    assert isinstance(decide(snapshot(), now, 3), Go)


def test_what_the_customer_asked_for_is_not_held_for_quiet_hours() -> None:
    now = datetime.now(UTC).replace(hour=3)
    quiet = ("08:00", "21:00")
    assert not isinstance(decide(snapshot(window=quiet), now, 3), Go)
    assert isinstance(decide(snapshot(window=quiet, requested=True), now, 3), Go)
    # ... but consent still rules.
    assert decide(snapshot(requested=True, consent=False), now, 3) == Stop(
        "suppressed", "no_consent"
    )


def test_link_settings_are_checked_by_name() -> None:
    from settings import SettingsError

    with pytest.raises(SettingsError, match="SLIPGUARD_SECRET_KEY_PREVIOUS: needs"):
        load_settings({"SLIPGUARD_SECRET_KEY_PREVIOUS": OLD_KEY})
    with pytest.raises(SettingsError, match="SLIPGUARD_SECRET_KEY_PREVIOUS: must be at least"):
        load_settings({"SLIPGUARD_SECRET_KEY": NEW_KEY, "SLIPGUARD_SECRET_KEY_PREVIOUS": "short"})
    with pytest.raises(SettingsError, match="SLIPGUARD_LINK_DAYS"):
        load_settings({"SLIPGUARD_LINK_DAYS": "0"})
    assert load_settings({"SLIPGUARD_LINK_DAYS": "7"}).server.link_days == 7


def test_every_email_links_the_customers_own_page() -> None:
    from coaching.channels.base import Outgoing, Sender
    from coaching.channels.email import compose

    page = "https://clinic.example/c/abc.def.ghi"
    mail = compose(
        Outgoing(
            nudge_id=uuid.uuid4(), to="ada@example.test", body="See you tomorrow.",
            sender=Sender(sms_from="", messaging_service_sid="", email_from=""),
            subject="Visit", unsubscribe_url="https://clinic.example/unsubscribe/x",
            page_url=page,
        ),
        "Clinic <desk@clinic.example>",
    )  # fmt: skip
    text = mail.get_body(("plain",))
    html = mail.get_body(("html",))
    assert text is not None and html is not None
    assert f"Your steps, preferences and data: {page}" in text.get_content()
    assert f'<a href="{page}">' in html.get_content()
    assert "Stop these emails" in html.get_content()
