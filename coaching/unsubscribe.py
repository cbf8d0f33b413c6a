"""Unsubscribe links: a signed token naming the customer, channel and purpose, so a
customer can stop messages from the message itself, without logging in.

The token is the credential: HMAC-SHA256 under a key derived for this purpose only,
compared in constant time. It does not expire (an old email's link must keep working);
it can do one thing, withdraw consent, which is always safe to allow.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from uuid import UUID

from coaching.errors import UnsubscribeInvalid
from core.keys import derived_key
from core.tenancy import Tenant
from journeys.customers.consent import add_consent
from journeys.customers.schemas import ConsentIn
from journeys.tables import Customer
from settings import Settings

CHANNELS = ("sms", "email")
PURPOSES = ("informational", "marketing")
PATH = "/unsubscribe/"


@dataclass(frozen=True)
class Target:
    """Whose consent a link withdraws, and for what."""

    customer: UUID
    channel: str
    purpose: str


def _mac(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:16]


def make_token(settings: Settings, target: Target) -> str:
    """The link token for ``target`` (URL-safe, 46 characters)."""
    body = target.customer.bytes + bytes(
        [CHANNELS.index(target.channel), PURPOSES.index(target.purpose)]
    )
    raw = body + _mac(derived_key(settings, "unsubscribe"), body)
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def read_token(settings: Settings, token: str) -> Target:
    """The target of a genuine token; raises UnsubscribeInvalid for anything else."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (ValueError, TypeError):
        raise UnsubscribeInvalid("this unsubscribe link is not valid") from None
    body, mac = raw[:18], raw[18:]
    if len(raw) != 34 or not hmac.compare_digest(
        mac, _mac(derived_key(settings, "unsubscribe"), body)
    ):
        raise UnsubscribeInvalid("this unsubscribe link is not valid")
    channel, purpose = body[16], body[17]
    if channel >= len(CHANNELS) or purpose >= len(PURPOSES):
        raise UnsubscribeInvalid("this unsubscribe link is not valid")
    return Target(UUID(bytes=body[:16]), CHANNELS[channel], PURPOSES[purpose])


def link(settings: Settings, target: Target) -> str:
    """The full unsubscribe URL for a message."""
    return settings.server.public_url.rstrip("/") + PATH + make_token(settings, target)


async def unsubscribe(settings: Settings, token: str) -> Target:
    """Withdraw the consent the token names (repeating it is harmless)."""
    target = read_token(settings, token)
    customer = await Customer.objects().where(Customer.id == target.customer).first()
    if customer is None:
        raise UnsubscribeInvalid("this unsubscribe link is not valid")
    if customer.erased_at is None:
        await add_consent(
            Tenant(customer.organization),
            customer.id,
            ConsentIn(
                channel=target.channel,
                purpose=target.purpose,
                status="revoked",
                source="unsubscribe",
                text_shown="",
                evidence="unsubscribe link",
            ),
        )
    return target
