"""Unsubscribe links cannot be turned on someone else: a token names one customer,
channel and purpose under the deployment's key, and any change to it is refused."""

from __future__ import annotations

import base64
from typing import Any

from coaching import unsubscribe
from journeys.customers import records
from journeys.customers.consent import current_consent
from journeys.customers.schemas import ConsentIn, CustomerIn
from settings import get_settings
from tests.conftest import Org


def _raw(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _token(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


async def _emailed(org: Org, name: str) -> Any:
    grants = [
        ConsentIn("email", "informational", "granted", "staff", "Reminders by email"),
        ConsentIn("sms", "informational", "granted", "staff", "Reminders by SMS"),
    ]
    return await records.create_customer(
        org.tenant,
        CustomerIn(first_name=name, email=f"{name.lower()}@example.org", phone="+14155550142",
                   consent=grants),
    )  # fmt: skip


async def test_a_link_cannot_be_rewritten_to_unsubscribe_someone_else(
    client: Any, org: Org, other_org: Org
) -> None:
    mine = await _emailed(org, "Noor")
    theirs = await _emailed(other_org, "Sam")
    genuine = unsubscribe.make_token(
        get_settings(), unsubscribe.Target(mine.id, "email", "informational")
    )
    raw = _raw(genuine)
    forged = [
        raw[:0] + theirs.id.bytes + raw[16:],  # another customer, the same signature
        raw[:16] + bytes([0]) + raw[17:],  # the same customer, SMS instead of email
        raw[:17] + bytes([1]) + raw[18:],  # marketing instead of informational
    ]
    for attempt in map(_token, forged):
        for method in ("GET", "POST"):
            r = await client.request(method, f"/unsubscribe/{attempt}")
            assert r.status_code == 404, (method, r.status_code)
            assert "not valid" in r.text.lower() or "link" in r.text.lower()
    for who, tenant in ((mine, org.tenant), (theirs, other_org.tenant)):
        consent = await current_consent(tenant, who.id)
        assert {k: v.status for k, v in consent.items()} == {
            ("email", "informational"): "granted",
            ("sms", "informational"): "granted",
        }
    # The genuine link, with no session or key, stops exactly what it names.
    client.cookies.clear()
    done = await client.post(f"/unsubscribe/{genuine}")
    assert done.status_code == 200 and "You are unsubscribed" in done.text
    consent = await current_consent(org.tenant, mine.id)
    assert consent[("email", "informational")].status == "revoked"
    assert consent[("sms", "informational")].status == "granted"
    other = await current_consent(other_org.tenant, theirs.id)
    assert other[("email", "informational")].status == "granted"
