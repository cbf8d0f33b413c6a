"""Request and response bodies of the customers API.

Request bodies check only shape and types; the meaning of each value (a dialable phone, an
IANA zone, a sane locale, a sending window) is checked by ``journeys.customers.normalize``
so that every bad field is reported together in one problem rather than one per round trip.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import msgspec
from msgspec import UNSET, UnsetType

from core.schemas import Input
from journeys.customers.forms import (
    HHMM_PATTERN,
    LOCALE_PATTERN,
    NAME_MAX,
    NOT_BLANK,
    REF_MAX,
    TEXT_MAX,
    zones,
)
from journeys.vocabulary import Channel, ConsentSource, ConsentStatus, Purpose

if TYPE_CHECKING:
    from journeys.customers.consent import ConsentState
    from journeys.tables import ConsentRecord, Customer


def utc(moment: datetime | None) -> datetime | None:
    """The same instant in UTC, so every timestamp leaves the API as ``…Z``."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        # Both engines store UTC; a naive value can only be UTC that lost its zone.
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _utc(moment: datetime) -> datetime:
    out = utc(moment)
    assert out is not None
    return out


# --- requests ------------------------------------------------------------------------------


def documented(**schema: Any) -> msgspec.Meta:
    """A field's accepted form, for the API's schema only: the values are checked by
    ``journeys.customers.normalize``, which reports every bad field of a request at once."""
    return msgspec.Meta(extra_json_schema={"extra": schema})


def _portable(pattern: str) -> str:
    """A check's regular expression as a schema states it: no NUL, no named groups."""
    pattern = re.sub(r"\(\?P<\w+>", "(", pattern)
    return pattern.replace(r"\s", r"[^\S\u0000]").replace(r"\d", "[0-9]")


FirstName = Annotated[
    str, documented(pattern=f"^[^\\u0000]*{NOT_BLANK}[^\\u0000]*$", maxLength=NAME_MAX)
]
LastName = Annotated[str, documented(maxLength=NAME_MAX)]
ExternalRef = Annotated[
    str, documented(pattern=f"^[^\\u0000]*{NOT_BLANK}[^\\u0000]*$", maxLength=REF_MAX)
]
# A number that can receive text messages: E.164 (+14155550132), or national in the
# organisation's country.
Phone = Annotated[str, documented(format="phone")]
Locale = Annotated[str, documented(pattern=_portable(LOCALE_PATTERN))]
TimeZone = Annotated[str, documented(enum=sorted(zones()))]
ClockTime = Annotated[str, documented(pattern=_portable(HHMM_PATTERN))]
ConsentText = Annotated[str, documented(maxLength=TEXT_MAX)]


class ConsentIn(Input):
    """One consent decision, recorded as given (consent history is append-only)."""

    channel: Channel
    purpose: Purpose
    status: ConsentStatus
    source: ConsentSource
    text_shown: ConsentText = ""
    evidence: ConsentText = ""


class CustomerIn(Input):
    """Create a customer, optionally with the consent they gave at sign-up."""

    first_name: FirstName
    last_name: LastName = ""
    external_ref: ExternalRef | None = None
    phone: Phone | None = None
    email: str | None = None
    locale: Locale = "en"
    timezone: TimeZone | None = None  # None: the organisation's timezone
    send_window_start: ClockTime = "08:00"
    send_window_end: ClockTime = "21:00"
    consent: list[ConsentIn] = msgspec.field(default_factory=list)


class CustomerPatch(Input):
    """Change some of a customer's fields; absent fields keep their value, null clears."""

    first_name: FirstName | UnsetType = UNSET
    last_name: LastName | UnsetType = UNSET
    external_ref: ExternalRef | UnsetType | None = UNSET
    phone: Phone | UnsetType | None = UNSET
    email: str | UnsetType | None = UNSET
    locale: Locale | UnsetType = UNSET
    timezone: TimeZone | UnsetType = UNSET
    send_window_start: ClockTime | UnsetType = UNSET
    send_window_end: ClockTime | UnsetType = UNSET


# --- responses -----------------------------------------------------------------------------


class CustomerOut(msgspec.Struct):
    """A customer's profile (after erasure: blank personal fields and ``erased_at``)."""

    id: UUID
    external_ref: str | None
    first_name: str
    last_name: str
    phone: str | None
    email: str | None
    locale: str
    timezone: str
    send_window_start: str
    send_window_end: str
    pseudonym: str
    created_at: datetime
    updated_at: datetime
    erased_at: datetime | None

    @classmethod
    def of(cls, c: Customer) -> CustomerOut:
        return cls(
            id=c.id,
            external_ref=c.external_ref,
            first_name=c.first_name,
            last_name=c.last_name,
            phone=c.phone,
            email=c.email,
            locale=c.locale,
            timezone=c.timezone,
            send_window_start=c.send_window_start,
            send_window_end=c.send_window_end,
            pseudonym=c.pseudonym,
            created_at=_utc(c.created_at),
            updated_at=_utc(c.updated_at),
            erased_at=utc(c.erased_at),
        )


class ConsentStateOut(msgspec.Struct):
    """The current consent for one channel and purpose: its latest record."""

    channel: str
    purpose: str
    status: str
    recorded_at: datetime
    source: str

    @classmethod
    def of(cls, state: ConsentState) -> ConsentStateOut:
        return cls(
            state.channel, state.purpose, state.status, _utc(state.recorded_at), state.source
        )


class CustomerDetailOut(CustomerOut):
    """A customer with their current consent per channel and purpose."""

    consent: list[ConsentStateOut] = msgspec.field(default_factory=list)

    @classmethod
    def with_consent(
        cls, c: Customer, current: dict[tuple[str, str], ConsentState]
    ) -> CustomerDetailOut:
        base = CustomerOut.of(c)
        return cls(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            consent=[ConsentStateOut.of(current[k]) for k in sorted(current)],
        )


class ConsentOut(msgspec.Struct):
    """One consent record, as it was recorded."""

    id: UUID
    customer_id: UUID
    channel: str
    purpose: str
    status: str
    source: str
    text_shown: str
    evidence: str
    recorded_at: datetime

    @classmethod
    def of(cls, r: ConsentRecord) -> ConsentOut:
        return cls(
            id=r.id,
            customer_id=r.customer,
            channel=r.channel,
            purpose=r.purpose,
            status=r.status,
            source=r.source,
            text_shown=r.text_shown,
            evidence=r.evidence,
            recorded_at=_utc(r.recorded_at),
        )
