"""``slipguard notify-breach`` against the real database: all or nothing, a notice through
each channel a customer can receive (an SMS STOP falls back to email), erased customers
skipped, unreachable ones listed, and every customer notified recorded."""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from coaching import delivery, privacy
from coaching.channels.outbox import OutboxChannel
from coaching.channels.registry import Channels
from coaching.channels.sms import TwilioSms
from coaching.tables import Nudge
from core import audit
from journeys.customers import consent as consents
from journeys.customers import records
from journeys.customers.schemas import ConsentIn, CustomerIn
from settings import Secret, TwilioSettings
from tests.conftest import Org
from tests.factories import FROM, claim_all, delivery_settings, run, zone_at
from tests.support.fake_twilio import DEFAULT_ACCOUNT_SID, DEFAULT_AUTH_TOKEN, FakeTwilio

NOTICE = "{{ first_name }}, {{ org_name }} must tell you that your details were exposed."


def grant(channel: str) -> ConsentIn:
    return ConsentIn(channel, "informational", "granted", "staff", "Reminders")  # type: ignore[arg-type]


async def people(org: Org) -> dict[str, Any]:
    tenant = org.tenant
    tag = secrets.token_hex(3)

    async def make(name: str, **fields: Any) -> UUID:
        c = await records.create_customer(
            tenant, CustomerIn(first_name=name, timezone="UTC", **fields)
        )
        return c.id

    phone = lambda: f"+1415555{secrets.randbelow(10_000):04d}"  # noqa: E731
    both = await make(
        "Ana", phone=phone(), email=f"ana{tag}@example.org", consent=[grant("sms"), grant("email")]
    )
    stopped = await make(
        "Bo", phone=phone(), email=f"bo{tag}@example.org", external_ref=f"BR-{tag}",
        consent=[grant("sms"), grant("email")],
    )  # fmt: skip
    await consents.add_consent(
        tenant, stopped, ConsentIn("sms", "informational", "revoked", "sms_keyword", "", "STOP")
    )
    texter = await make("Cy", phone=phone(), consent=[grant("sms")])
    silent = await make("Di", phone=phone())  # no consent on any channel
    erased = await make("Ed", phone=phone(), consent=[grant("sms")])
    await privacy.erase_customer(tenant, erased, actor=audit.CLI)
    return {
        "both": both, "stopped": stopped, "ref": f"BR-{tag}", "texter": texter,
        "silent": silent, "erased": erased,
    }  # fmt: skip


async def notices(org: Org) -> list[dict[str, Any]]:
    return await (
        Nudge.select(Nudge.customer, Nudge.channel, Nudge.body, Nudge.critical, Nudge.status)
        .where((Nudge.organization == org.id) & Nudge.dedupe_key.like("breach:%"))
        .order_by(Nudge.customer)
    )


async def test_notify_breach_writes_each_notice_once_and_records_who(
    client: Any, org: Org, tmp_path: Path
) -> None:
    p = await people(org)
    listed = tmp_path / "affected.txt"
    listed.write_text(
        f"# customers in the leaked export\n{p['both']}\n\n{p['ref']}\n{p['texter']}\n"
        f"{p['silent']}\n{p['erased']}\nnobody-{p['ref']}\n"
    )
    base = ["notify-breach", "--org", org.slug, "--customers", str(listed)]

    refused = run(*base, "--template", NOTICE)
    assert refused.returncode == 1
    assert f"{listed}:8: no customer 'nobody-{p['ref']}'" in refused.stderr
    assert await notices(org) == []

    listed.write_text(listed.read_text().replace(f"nobody-{p['ref']}\n", ""))
    bad = run(*base, "--template", "{{ nickname }}, sorry")
    assert bad.returncode == 1 and "template" in bad.stderr and "nickname" in bad.stderr

    dry = run(*base, "--template", NOTICE, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would notify 3 customer(s) (2 by SMS, 2 by email)" in dry.stdout
    assert await notices(org) == []

    template = tmp_path / "notice.txt"
    template.write_text(NOTICE)
    done = run(*base, "--template", str(template))
    assert done.returncode == 0, done.stderr
    assert "notified 3 customer(s) (2 by SMS, 2 by email)" in done.stdout
    assert "1 erased customer(s) skipped" in done.stdout
    assert f"  {p['silent']}" in done.stdout  # unreachable, listed for another way
    batch = UUID(re.search(r"breach notice ([0-9a-f-]{36})", done.stdout).group(1))  # type: ignore[union-attr]

    sent = {(r["customer"], r["channel"]) for r in await notices(org)}
    assert sent == {
        (p["both"], "sms"), (p["both"], "email"), (p["stopped"], "email"), (p["texter"], "sms"),
    }  # fmt: skip
    rows = await notices(org)
    assert all(r["critical"] and r["status"] == "scheduled" for r in rows)
    ana = next(r["body"] for r in rows if r["customer"] == p["both"])
    assert ana == "Ana, Alpha Test must tell you that your details were exposed."

    r = await client.get(
        "/api/v1/privacy/events", headers=org.auth("admin"), params={"batch": str(batch)}
    )
    events = r.json()["items"]
    assert sorted(e["customer_id"] for e in events) == sorted(
        str(p[k]) for k in ("both", "stopped", "texter")
    )
    assert {(e["kind"], e["actor"]) for e in events} == {("breach_notice", "cli")}


async def test_notify_breach_all_customers_by_sms_falls_back_to_email(org: Org) -> None:
    p = await people(org)
    done = run(
        "notify-breach", "--org", org.slug, "--all", "--template", NOTICE, "--channel", "sms"
    )
    assert done.returncode == 0, done.stderr
    assert "notified 3 customer(s) (2 by SMS, 1 by email)" in done.stdout
    sent = {(r["customer"], r["channel"]) for r in await notices(org)}
    assert sent == {(p["both"], "sms"), (p["stopped"], "email"), (p["texter"], "sms")}
    long = NOTICE + " Please read our letter." * 12  # longer than any file name may be
    dry = run("notify-breach", "--org", org.slug, "--all", "--template", long, "--dry-run")
    assert dry.returncode == 0 and "would notify 3 customer(s)" in dry.stdout, dry.stderr
    neither = run("notify-breach", "--org", org.slug, "--template", NOTICE)
    assert neither.returncode == 2 and "--customers FILE or --all" in neither.stderr


@pytest.fixture
def fake() -> Iterator[FakeTwilio]:
    with FakeTwilio() as server:
        yield server


async def test_notices_go_out_through_the_ordinary_delivery_and_wait_for_the_window(
    org: Org, fake: FakeTwilio
) -> None:
    """Sent by the real delivery path (Twilio SDK against the fake; email through the
    development outbox), not held by the cap, held by the customer's night only until
    their sending window opens."""
    tenant = org.tenant
    day = await records.create_customer(
        tenant,
        CustomerIn(
            first_name="Flo", phone=f"+1415555{secrets.randbelow(10_000):04d}",
            timezone=zone_at(12), consent=[grant("sms")],
        ),
    )  # fmt: skip
    night = await records.create_customer(
        tenant,
        CustomerIn(
            first_name="Gil", email=f"gil{secrets.token_hex(3)}@example.org",
            timezone=zone_at(3), consent=[grant("email")],
        ),
    )  # fmt: skip
    # Flo already had a message today: with a cap of one a day, only a critical one goes.
    earlier = datetime.now(UTC) - timedelta(hours=1)
    await Nudge.insert(
        Nudge(
            organization=org.id, customer=day.id, dedupe_key=f"test:{secrets.token_hex(8)}",
            kind="advisory", channel="sms", template="advisory", due_at=earlier,
            send_after=earlier, status="sent", sent_at=earlier,
        )
    )  # fmt: skip
    done = run("notify-breach", "--org", org.slug, "--all", "--template", NOTICE)
    assert done.returncode == 0, done.stderr
    channels = Channels(
        TwilioSms(
            TwilioSettings(
                account_sid=DEFAULT_ACCOUNT_SID, auth_token=Secret(DEFAULT_AUTH_TOKEN),
                from_number=FROM, api_base=fake.url,
            ),
            None,
        ),
        OutboxChannel("email"),
    )  # fmt: skip
    now = datetime.now(UTC)
    settings = delivery_settings(frequency_cap_per_day=1)
    outcomes = {}
    for nudge_id in await claim_all(org, now):
        row = await Nudge.select(Nudge.customer).where(Nudge.id == nudge_id).first()
        assert row is not None
        outcomes[row["customer"]] = await delivery.deliver(nudge_id, channels, settings)
    assert outcomes == {day.id: "sent", night.id: "held"}
    (sms,) = fake.messages
    assert sms.to == day.phone
    assert sms.body.startswith("Flo, Alpha Test must tell you that your details were exposed.")
    held = await Nudge.select(Nudge.send_after, Nudge.status).where(Nudge.customer == night.id)
    assert held[0]["status"] == "scheduled"
    assert now < held[0]["send_after"] <= now + timedelta(hours=24)
