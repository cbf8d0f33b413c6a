"""What every channel takes and answers: one rendered message in, one outcome out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID


@dataclass(frozen=True)
class Sender:
    """Who the message comes from: an SMS number or messaging service, an email address."""

    sms_from: str = ""
    messaging_service_sid: str = ""
    email_from: str = ""

    @property
    def key(self) -> str:
        """The name pacing counts under (one limit per sending number or service)."""
        return self.messaging_service_sid or self.sms_from or "default"


@dataclass(frozen=True)
class Outgoing:
    """A rendered message ready for a channel."""

    nudge_id: UUID
    to: str
    body: str
    sender: Sender
    subject: str = ""
    html: str | None = None
    unsubscribe_url: str | None = None
    footer: str = ""
    page_url: str | None = None  # the customer's own page (steps, preferences, their data)


@dataclass(frozen=True)
class Sent:
    """The provider accepted the message."""

    provider_id: str


@dataclass(frozen=True)
class Transient:
    """Try again later (rate limited, provider down, timeout); ``retry_after`` in seconds."""

    code: str
    detail: str
    retry_after: float | None = None


@dataclass(frozen=True)
class Permanent:
    """Never going to work for this address; ``opted_out``: the customer unsubscribed."""

    code: str
    reason: str
    opted_out: bool = False


Outcome = Sent | Transient | Permanent


class Channel(Protocol):
    """A way to reach customers; blocking calls, run off the event loop by the caller."""

    provider: str

    def send(self, message: Outgoing) -> Outcome:
        """Hand the message to the provider and classify what it answered."""
        ...

    def find_sent(self, message: Outgoing, since: datetime) -> str | None:
        """The provider id of this message if the provider already has it (a send whose
        outcome was lost), else None. Channels that cannot tell answer None."""
        ...
