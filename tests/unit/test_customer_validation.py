"""Pure customer validation: phone, email, locale, timezone, sending window, consent folding."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from journeys.customers.consent import derive_consent
from journeys.customers.normalize import (
    check_ref,
    check_timezone,
    normalize_email,
    normalize_hhmm,
    normalize_locale,
    normalize_phone,
)
from journeys.tables import ConsentRecord


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("(415) 555-0132", "US", "+14155550132"),
        ("415.555.0132", "US", "+14155550132"),
        ("+1 415 555 0132", "GB", "+14155550132"),
        ("+44 20 7946 0958", "US", "+442079460958"),
        ("020 7946 0958", "GB", "+442079460958"),
        ("0044 20 7946 0958", "DE", "+442079460958"),
    ],
)
def test_phone_numbers_become_e164(raw: str, region: str, expected: str) -> None:
    assert normalize_phone(raw, region) == expected


@pytest.mark.parametrize(
    "raw", ["", "   ", "12", "abc", "+999", "555-0132", "415-555-0132 ext 5", "+1 415 555 01329"]
)
def test_invalid_phone_numbers_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_phone(raw, "US")


@given(st.integers(min_value=2_000_000, max_value=9_999_999))
def test_e164_output_is_stable_when_normalised_again(local: int) -> None:
    try:
        first = normalize_phone(f"415{local}", "US")
    except ValueError:
        return
    assert first.startswith("+1415") and normalize_phone(first, "GB") == first


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Ada@Example.COM", "Ada@example.com"),
        ("  ada.lovelace+tag@mail.example.co.uk ", "ada.lovelace+tag@mail.example.co.uk"),
        ("jose@BÜCHER.example", "jose@bücher.example"),
    ],
)
def test_email_domain_is_lower_cased_and_mailbox_kept(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "ada",
        "ada@",
        "@example.com",
        "ada@example",
        "ada@@example.com",
        "a da@example.com",
        ".ada@example.com",
        "ada..l@example.com",
        "ada@-example.com",
        "ada@example..com",
        "ada@example.c0m",
        "a" * 65 + "@example.com",
        "ada@" + "a" * 250 + ".com",
    ],
)
def test_invalid_emails_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_email(raw)


@given(
    st.from_regex(r"[a-z0-9]([a-z0-9._+-]{0,20}[a-z0-9])?", fullmatch=True),
    st.from_regex(r"[a-z0-9]{1,20}\.[a-z]{2,6}", fullmatch=True),
)
def test_emails_round_trip_and_domain_case_does_not_matter(local: str, domain: str) -> None:
    if ".." in local:
        return
    address = f"{local}@{domain}"
    assert normalize_email(address) == address
    assert normalize_email(f"{local}@{domain.upper()}") == address


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("en", "en"),
        ("EN", "en"),
        ("en-gb", "en-GB"),
        ("en_GB", "en-GB"),
        ("zh-CN", "zh-CN"),
        ("zh-hans-cn", "zh-Hans-CN"),
        ("es-419", "es-419"),
        ("fil", "fil"),
    ],
)
def test_locales_are_cased_canonically(raw: str, expected: str) -> None:
    assert normalize_locale(raw) == expected


@pytest.mark.parametrize("raw", ["", "e", "english", "en-", "en-GBR", "en GB", "12", "en-1234"])
def test_invalid_locales_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_locale(raw)


@given(
    st.from_regex(r"[a-zA-Z]{2,3}", fullmatch=True),
    st.one_of(st.none(), st.from_regex(r"[a-zA-Z]{2}|[0-9]{3}", fullmatch=True)),
)
def test_locale_normalisation_is_idempotent(lang: str, region: str | None) -> None:
    tag = normalize_locale(lang if region is None else f"{lang}-{region}")
    assert normalize_locale(tag) == tag


@pytest.mark.parametrize("name", ["UTC", "Europe/London", "America/Argentina/Buenos_Aires"])
def test_iana_timezones_are_accepted(name: str) -> None:
    assert check_timezone(name) == name


@pytest.mark.parametrize(
    "name", ["", "Mars/Base", "America", "../etc/passwd", "/etc/localtime", "localtime", "+01:00"]
)
def test_unknown_timezones_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        check_timezone(name)


@given(st.integers(min_value=0, max_value=23), st.integers(min_value=0, max_value=59))
def test_every_valid_time_round_trips(hour: int, minute: int) -> None:
    text = f"{hour:02d}:{minute:02d}"
    assert normalize_hhmm(text) == text
    assert normalize_hhmm(f"{hour}:{minute:02d}") == text


@given(st.text(max_size=8))
def test_anything_else_is_rejected_or_a_valid_time(text: str) -> None:
    try:
        out = normalize_hhmm(text)
    except ValueError:
        return
    hour, minute = out.split(":")
    assert len(out) == 5 and 0 <= int(hour) <= 23 and 0 <= int(minute) <= 59


@pytest.mark.parametrize("raw", ["24:00", "12:60", "9", "09-00", "noon", "", "1:5", "123:00"])
def test_invalid_times_are_rejected(raw: str) -> None:
    with pytest.raises(ValueError):
        normalize_hhmm(raw)


def test_external_refs_are_trimmed_and_bounded() -> None:
    assert check_ref("  P-1 ") == "P-1"
    for bad in ("", "   ", "x" * 129):
        with pytest.raises(ValueError):
            check_ref(bad)


KEYS = st.tuples(st.sampled_from(["sms", "email"]), st.sampled_from(["informational", "marketing"]))


@given(st.lists(st.tuples(KEYS, st.sampled_from(["granted", "revoked"]), st.integers(0, 10**6))))
def test_current_consent_is_the_latest_record_per_channel_and_purpose(
    events: list[tuple[tuple[str, str], str, int]],
) -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    records = [
        ConsentRecord(
            id=uuid.uuid4(),
            organization=uuid.uuid4(),
            customer=uuid.uuid4(),
            channel=channel,
            purpose=purpose,
            status=status,
            source="staff",
            recorded_at=start + timedelta(seconds=offset),
        )
        for (channel, purpose), status, offset in events
    ]
    current = derive_consent(records)
    assert set(current) == {key for key, _, _ in events}
    for key, state in current.items():
        mine = [r for r in records if (r.channel, r.purpose) == key]
        latest = max(mine, key=lambda r: (r.recorded_at, str(r.id)))
        assert (state.status, state.recorded_at) == (latest.status, latest.recorded_at)
