"""Contact data checked and put in canonical form (pure functions, no database)."""

from __future__ import annotations

import re
from typing import Any

import phonenumbers

from core.errors import FieldError
from journeys.customers.forms import (
    EMAIL_MAX,
    HHMM_PATTERN,
    LOCALE_PATTERN,
    REF_MAX,
    TEXT_MAX,
    zones,
)
from journeys.customers.schemas import ConsentIn
from journeys.errors import CustomerInvalid
from journeys.vocabulary import CHANNEL_ADDRESS

_LOCALE = re.compile(LOCALE_PATTERN)
_HHMM = re.compile(HHMM_PATTERN)
_EMAIL_LOCAL = re.compile(r"^[^\s@\"(),:;<>\[\\\]]+$")
_DOMAIN_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
_TLD = re.compile(r"^(?:[a-z]{2,63}|xn--[a-z0-9-]{1,59})$")


def normalize_phone(raw: str, region: str) -> str:
    """A dialable number in E.164 (``+14155550132``); ``region`` applies when there is no ``+``.

    Raises ValueError with a message for the user.
    """
    text = raw.strip()
    if not text:
        raise ValueError("must not be empty (use null for no phone)")
    try:
        number = phonenumbers.parse(text, region.upper())
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if number.extension:
        raise ValueError("extensions cannot receive text messages; give a direct number")
    if not phonenumbers.is_valid_number(number):
        raise ValueError(
            f"not a valid phone number (numbers without a country code are read as {region})"
        )
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalize_email(raw: str) -> str:
    """A plausible mailbox with its domain lower-cased (the local part is case-sensitive).

    Raises ValueError with a message for the user.
    """
    text = raw.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or not domain:
        raise ValueError("not an email address")
    if len(text) > EMAIL_MAX or len(local) > 64:
        raise ValueError(f"too long (at most {EMAIL_MAX} characters, 64 before the @)")
    if (
        not _EMAIL_LOCAL.match(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
    ):
        raise ValueError("not a valid mailbox name before the @")
    domain = domain.lower()
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        raise ValueError("not a valid domain after the @") from None
    labels = ascii_domain.split(".")
    if (
        len(labels) < 2
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
        or not _TLD.match(labels[-1])
    ):
        raise ValueError("not a valid domain after the @")
    return f"{local}@{domain}"


def normalize_locale(raw: str) -> str:
    """A BCP-47 style tag: ``en``, ``en-GB``, ``zh-Hans-CN``, ``es-419`` (cased canonically).

    Raises ValueError with a message for the user.
    """
    match = _LOCALE.match(raw.strip())
    if not match:
        raise ValueError("not a locale; use a language tag like en, en-GB or zh-CN")
    parts = [match["lang"].lower()]
    if match["script"]:
        parts.append(match["script"].title())
    if match["region"]:
        parts.append(match["region"].upper())
    return "-".join(parts)


def check_timezone(raw: str) -> str:
    """An IANA timezone name such as ``Europe/London``.

    Raises ValueError with a message for the user.
    """
    name = raw.strip()
    if name not in zones():
        raise ValueError("not an IANA timezone (for example Europe/London or America/New_York)")
    return name


def normalize_hhmm(raw: str) -> str:
    """A local clock time as ``HH:MM`` (``8:05`` becomes ``08:05``).

    Raises ValueError with a message for the user.
    """
    match = _HHMM.match(raw.strip())
    if not match:
        raise ValueError("not a time of day; use HH:MM between 00:00 and 23:59")
    return f"{int(match['h']):02d}:{match['m']}"


def text(value: str, limit: int, *, required: bool = False) -> str:
    text = value.strip()
    if required and not text:
        raise ValueError("must not be empty")
    if len(text) > limit:
        raise ValueError(f"at most {limit} characters")
    return text


class Checker:
    """Collects every field error of one request, so the caller hears about all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def run(self, field: str, check: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return check(*args, **kwargs)
        except ValueError as exc:
            self.errors.append(FieldError(field, str(exc)))
            return None

    def add(self, field: str, message: str) -> None:
        self.errors.append(FieldError(field, message))

    def raise_if_any(self, what: str) -> None:
        if self.errors:
            fields = ", ".join(e.field for e in self.errors)
            raise CustomerInvalid(f"invalid {what}: {fields}", self.errors)


def optional(check: Any, value: str | None, *args: Any) -> str | None:
    return None if value is None else check(value, *args)


def check_ref(raw: str) -> str:
    """An external reference: the customer's id in another system, unique per organisation.

    Raises ValueError with a message for the user.
    """
    ref = raw.strip()
    if not ref:
        raise ValueError("must not be empty (use null for none)")
    if len(ref) > REF_MAX:
        raise ValueError(f"at most {REF_MAX} characters")
    return ref


def check_consent(ck: Checker, c: ConsentIn, addresses: dict[str, Any], prefix: str = "") -> None:
    need = CHANNEL_ADDRESS[c.channel]
    if not addresses.get(need):
        ck.add(f"{prefix}channel", f"{c.channel} consent needs the customer's {need}")
    ck.run(f"{prefix}text_shown", text, c.text_shown, TEXT_MAX)
    ck.run(f"{prefix}evidence", text, c.evidence, TEXT_MAX)
