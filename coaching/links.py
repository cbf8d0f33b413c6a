"""A customer's own link (``/c/<token>``): their steps, preferences and privacy rights,
without an account.

The token names the customer and when it was made, signed with HMAC-SHA256 under a key
derived for this purpose only (itsdangerous' timestamp signer). It expires after
``SLIPGUARD_LINK_DAYS``; after a key rotation, links signed with the previous key keep
working until they expire (``SLIPGUARD_SECRET_KEY_PREVIOUS``). A genuine but expired link
still tells us who is asking, so the page can offer to send a fresh one to the contact on
file — never to an address the visitor types. An erased customer's links open nothing.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from functools import lru_cache
from uuid import UUID

from itsdangerous import BadSignature, TimestampSigner

from coaching import outbox
from coaching.errors import LinkExpired, LinkInvalid, LinkRateLimited, SelfServiceInvalid
from core import clock
from core.keys import derived_keys
from core.tables import Organization
from core.tenancy import Tenant
from journeys.customers.consent import may_contact
from journeys.tables import Customer
from settings import Settings

PATH = "/c/"
PURPOSE = "customer-link"
# At most this many fresh links per customer per hour: each one is a text or an email to a
# real person, and the button is on a public page.
NEW_LINKS_PER_HOUR = 3
NEW_LINK_TEMPLATE = outbox.LINK_TEMPLATE
# Links are signed by the worker that renders a message and read by the web server, often
# on another host: a link signed "in the future" by up to this much is clock skew between
# the two, not forgery (the signature already proved it genuine).
CLOCK_SKEW = timedelta(minutes=5)


@lru_cache(maxsize=8)
def _signer(settings: Settings) -> TimestampSigner:
    """Built once per settings: every message the worker renders signs a link, and the
    keys come from the secret (a file read when none is configured)."""
    return TimestampSigner(
        derived_keys(settings, PURPOSE), salt=PURPOSE, digest_method=hashlib.sha256
    )


def make_token(settings: Settings, customer: UUID) -> str:
    """A fresh token for ``customer`` (URL-safe, 73 characters)."""
    value = base64.urlsafe_b64encode(customer.bytes).rstrip(b"=")
    return _signer(settings).sign(value).decode()


def _customer_of(value: bytes) -> UUID:
    raw = base64.urlsafe_b64decode(value + b"=" * (-len(value) % 4))
    if len(raw) != 16:
        raise ValueError("not a customer id")
    return UUID(bytes=raw)


def read_token(settings: Settings, token: str) -> UUID:
    """The customer a genuine, unexpired token names. Raises :class:`LinkExpired` (naming
    the customer) when it is genuine but too old, :class:`LinkInvalid` otherwise."""
    try:
        # The age is checked here rather than by itsdangerous, which calls any negative
        # age expired: a reader whose clock is a second behind the signer's would refuse
        # a link sent that very second.
        value, signed_at = _signer(settings).unsign(token.encode(), return_timestamp=True)
        customer = _customer_of(value)
    except (BadSignature, ValueError, UnicodeError):
        raise LinkInvalid("this link is not valid") from None
    age = clock.now() - signed_at
    if age > timedelta(days=settings.server.link_days):
        raise LinkExpired(customer)
    if age < -CLOCK_SKEW:
        raise LinkInvalid("this link is not valid")
    return customer


def link(settings: Settings, customer: UUID) -> str:
    """The full URL of the customer's page, for a message."""
    return settings.server.public_url.rstrip("/") + PATH + make_token(settings, customer)


async def holder(settings: Settings, token: str) -> Customer:
    """The customer a token opens the page of; an erased customer's links open nothing."""
    customer_id = read_token(settings, token)
    customer = await Customer.objects().where(Customer.id == customer_id).first()
    if customer is None or customer.erased_at is not None:
        raise LinkInvalid("this link no longer works")
    return customer


async def send_new_link(settings: Settings, token: str) -> str:
    """Send a fresh link to the customer an (expired) token names, by SMS when they have a
    phone and agreed to texts, else by email; returns the channel. Refused after
    :data:`NEW_LINKS_PER_HOUR` in the last hour."""
    try:
        customer = await holder(settings, token)
    except LinkExpired as exc:
        found = await Customer.objects().where(Customer.id == exc.customer).first()
        if found is None or found.erased_at is not None:
            raise LinkInvalid("this link no longer works") from None
        customer = found
    tenant = Tenant(customer.organization)
    now = clock.now()
    recent = await outbox.written_since(
        tenant, customer.id, NEW_LINK_TEMPLATE, now - timedelta(hours=1)
    )
    if recent >= NEW_LINKS_PER_HOUR:
        raise LinkRateLimited("a new link was sent a short while ago; please wait an hour")
    # By SMS when they agreed to texts, else by email.
    channel = None
    for candidate in ("sms", "email"):
        if await may_contact(tenant, customer.id, candidate, outbox.STEP_PURPOSE):
            channel = candidate
            break
    if channel is None:
        raise SelfServiceInvalid(
            "we have no phone or email we may use to send you a new link; please contact us"
        )
    org = await Organization.objects().where(Organization.id == customer.organization).first()
    name = org.name if org else ""
    url = link(settings, customer.id)
    body = (
        f"{name}: 这是您的新链接 {url}"
        if customer.locale.lower().startswith("zh")
        else f"{name}: here is your new link {url}"
    )
    await outbox.plan_message(
        tenant,
        customer=customer.id,
        dedupe_key=f"link:{customer.id}:{now.isoformat()}",
        kind="link",
        channel=channel,
        template=NEW_LINK_TEMPLATE,
        due_at=now,
        critical=True,
        body=body,
    )
    return channel
