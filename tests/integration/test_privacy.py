"""Privacy rights on a real database: the access export holds everything about the
customer and only them; an erasure leaves none of their identifying strings anywhere in
the database (SQLite file and log bytes, a PostgreSQL dump) while every ranking number
stays the same; both leave an audit record that admins can list."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from coaching import advisories, inbound, privacy, tasks
from coaching.tables import InboundMessage, Nudge, PhoneCheck
from core import audit
from core.tables import Organization
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.enrollments import services as enrollments
from journeys.tables import Step
from settings import get_settings
from slips import validation, writes
from slips.tables import Slip
from tests.conftest import Org, missing
from tests.factories import assert_problem

BASE = "/api/v1/customers"

CHECK_IN = """\
key: privacy-check
title: Daily check-in
anchors: [start]
behaviours:
  - key: check-in
    title: Check in
    stage: encounter
    importance: 6
    schedule: {every: 1d, at: "08:00", from: start, for: 400d}
    confirm: {reply: [DONE], grace: 4h}
    failure_modes:
      - {key: forgot, deficit: forgetfulness}
    nudges:
      - {at: due, channel: sms, template: check}
templates:
  check: {en: "Hi {{ first_name }}, time to check in. Reply DONE."}
"""


def sms_grant() -> ConsentIn:
    return ConsentIn(
        "sms", "informational", "granted", "staff", "Reminders by SMS", "ip 198.51.100.7"
    )


async def own_number(org: Org) -> str:
    sender = f"+1202555{secrets.randbelow(10_000):04d}"
    await Organization.update({Organization.sms_from: sender}).where(Organization.id == org.id)
    return sender


async def slip_for(org: Org, customer_id: UUID, at: datetime, note: str) -> Any:
    return await writes.record_slip(
        org.tenant,
        validation.SlipInput(
            journey="privacy-check",
            behaviour="check-in",
            failure_mode="forgot",
            customer_id=customer_id,
            occurred_at=at,
            note=note,
        ),
        validation.Reporter(),
        "staff",
    )


class Person:
    """A customer whose every identifying string is distinctive (and random where it
    could otherwise collide with another test's data)."""

    def __init__(self) -> None:
        tag = secrets.token_hex(4)
        self.first = "Zephyrine"
        self.last = f"Quillfeather{tag}"
        self.phone = f"+1737555{secrets.randbelow(10_000):04d}"
        self.email = f"zephyrine.{tag}@example.org"
        self.ref = f"ZQ-{tag}"
        self.note = f"Zephyrine said the Quillfeather{tag} pharmacy was shut"
        self.text = f"this is Zephyrine {tag}, my inhaler is lost"
        self.task = f"She told us: Quillfeather{tag} lives alone"
        self.new_phone = f"+1737556{secrets.randbelow(10_000):04d}"

    def strings(self) -> list[str]:
        return [
            self.first, self.last, self.phone, self.phone[1:], self.email, self.ref,
            self.note, self.text, self.task, self.new_phone,
        ]  # fmt: skip


async def person_with_history(client: Any, org: Org, p: Person) -> tuple[UUID, datetime]:
    """The customer, created over HTTP (so a stored idempotent response names them),
    enrolled, with slips, a text they sent, messages with their name, and a staff task."""
    tenant = org.tenant
    await journeys.load_journey(tenant, CHECK_IN)
    r = await client.post(
        BASE,
        headers={**org.auth("staff"), "Idempotency-Key": secrets.token_hex(8)},
        json={
            "first_name": p.first, "last_name": p.last, "phone": p.phone, "email": p.email,
            "external_ref": p.ref, "timezone": "UTC",
            "consent": [{"channel": "sms", "purpose": "informational", "status": "granted",
                         "source": "staff", "text_shown": "Reminders", "evidence": p.email}],
        },
    )  # fmt: skip
    assert r.status_code in (200, 201), r.text
    cid = UUID(r.json()["id"])
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)
    done = await enrollments.enroll(
        tenant, cid, "privacy-check", {"start": start.isoformat()}, backfill=True
    )
    t0 = datetime.now(UTC)
    # A slip logged over HTTP with an idempotency key (its stored response quotes the note).
    r = await client.post(
        "/api/v1/slips",
        headers={**org.auth("staff"), "Idempotency-Key": secrets.token_hex(8)},
        json={
            "journey": "privacy-check", "behaviour": "check-in", "failure_mode": "forgot",
            "customer_id": str(cid), "note": p.note,
            "occurred_at": (t0 - timedelta(hours=5)).isoformat(),
        },
    )  # fmt: skip
    assert r.status_code == 201, r.text
    await slip_for(org, cid, t0 - timedelta(days=1), p.note)
    # A text they sent, through the real inbound path.
    to = await own_number(org)
    message = inbound.Inbound("SM" + secrets.token_hex(16), p.phone, to, "", p.text)
    assert (await inbound.receive(message, get_settings())).outcome == "unmatched"
    # A reminder that went out (as the worker records it) and an advisory written with
    # their name.
    first = await Nudge.objects().where(Nudge.enrollment == done.enrollment.id).first()
    assert first is not None
    await Nudge.update(
        {
            Nudge.status: "sent",
            Nudge.body: f"Hi {p.first}, time to check in. Reply DONE.",
            Nudge.recipient: p.phone,
            Nudge.sent_at: t0,
        }
    ).where(Nudge.id == first.id)
    await advisories.create_advisory(
        tenant,
        advisories.AdvisoryRequest(
            "privacy-check", None, "{{ first_name }} {{ last_name }}: the desk opens at 10.",
            "sms", "informational", t0 + timedelta(hours=2),
        ),
    )  # fmt: skip
    task = await tasks.open_task(
        tenant, key=f"privacy:{cid}", reason="escalate",
        title=tasks.title_for("escalate", f"{p.first} {p.last}", "check in"),
        detail=p.task, due_hours=24, now=t0, customer=cid, behaviour="check-in",
    )  # fmt: skip
    assert task is not None
    await tasks.close_task(tenant, task, f"Called {p.first}; {p.task}")
    # A new number they asked to switch to, waiting for its texted code.
    await PhoneCheck.insert(
        tenant.new(
            PhoneCheck,
            customer=cid,
            phone=p.new_phone,
            code_hash="0" * 64,
            expires_at=t0 + timedelta(hours=1),
        )
    )
    return cid, t0


async def database_bytes() -> bytes:
    """Everything the database holds, as bytes: the SQLite file and its log, or a
    ``pg_dump`` of the PostgreSQL database."""
    db = get_settings().database
    if db.is_postgres:
        pg_dump = shutil.which("pg_dump")
        if pg_dump is None:
            missing("pg_dump not found: install postgresql-client to check the dump")
        out = subprocess.run(
            [pg_dump, "--data-only", "--no-owner", db.url],
            capture_output=True,
            check=True,
            timeout=120,
        )
        return out.stdout
    path = Path(db.sqlite_path)
    data = path.read_bytes()
    wal = Path(f"{path}-wal")
    return data + (wal.read_bytes() if wal.exists() else b"")


async def test_erasure_leaves_no_identifying_string_and_keeps_every_number(
    client: Any, org: Org
) -> None:
    p = Person()
    cid, t0 = await person_with_history(client, org, p)
    window = {
        "since": (t0 - timedelta(days=7)).isoformat(),
        # Up to now: steps still to come are cancelled by an erasure (nobody is left to do
        # them), so a window reaching past now loses their exposure; past numbers stay.
        "until": t0.isoformat(),
    }
    before = await client.get("/api/v1/rankings", headers=org.auth("manager"), params=window)
    assert before.status_code == 200 and before.json()["total"] == 2, before.text
    dump = await database_bytes()
    for s in p.strings():  # the check can see them at all
        assert s.encode() in dump, s
    slips_before = (
        await Slip.select(Slip.id, Slip.customer).where(Slip.customer == cid).order_by(Slip.id)
    )
    steps_before = await Step.select(Step.id).where(Step.customer == cid)

    r = await client.post(f"{BASE}/{cid}/erase", headers=org.auth("admin"))
    assert r.status_code == 200, r.text

    dump = await database_bytes()
    found = [s for s in p.strings() if s.encode() in dump]
    assert found == [], f"still in the database after erasure: {found}"
    after = await client.get("/api/v1/rankings", headers=org.auth("manager"), params=window)
    assert after.json() == before.json()
    assert (
        await Slip.select(Slip.id, Slip.customer).where(Slip.customer == cid).order_by(Slip.id)
        == slips_before
    )
    assert len(await Step.select(Step.id).where(Step.customer == cid)) == len(steps_before)
    (row,) = await InboundMessage.select().where(InboundMessage.customer == cid)
    assert row["outcome"] == "unmatched" and row["body"] is None and row["sender"] is None
    waiting = await Nudge.select(Nudge.status).where(
        (Nudge.customer == cid) & Nudge.status.is_in(["scheduled", "queued"])
    )
    assert waiting == []

    events, _ = await audit.list_events(org.tenant, None, 50, "erasure", cid)
    (event,) = events
    assert event.actor == f"key:{org.key_ids['admin']}"


async def test_export_holds_a_year_of_steps_with_slips_texts_and_message_bodies(
    client: Any, org: Org, other_org: Org
) -> None:
    tenant = org.tenant
    await journeys.load_journey(tenant, CHECK_IN)
    c = await records.create_customer(
        tenant,
        CustomerIn(first_name="Ines", phone="+14155550161", timezone="UTC", consent=[sms_grant()]),
    )
    someone_else = await records.create_customer(
        tenant, CustomerIn(first_name="Other", timezone="UTC")
    )
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=398)
    done = await enrollments.enroll(
        tenant, c.id, "privacy-check", {"start": start.isoformat()}, backfill=True
    )
    steps = await Step.select(Step.id).where(Step.enrollment == done.enrollment.id)
    assert len(steps) >= 399
    # A year of messages that went out, each with its text.
    step_ids = [s["id"] for s in steps]
    for i, sid in enumerate(step_ids):
        await Nudge.insert(
            Nudge(
                organization=org.id, enrollment=done.enrollment.id, customer=c.id, step=sid,
                position=5, dedupe_key=f"test:{sid}", kind="reminder", channel="sms",
                template="check", due_at=start + timedelta(days=i), send_after=start,
                status="sent", body=f"Hi Ines, check-in number {i}", recipient="+14155550161",
                sent_at=start + timedelta(days=i),
            )
        )  # fmt: skip
    now = datetime.now(UTC)
    await slip_for(org, c.id, now - timedelta(days=2), "forgot again")
    await slip_for(org, someone_else.id, now - timedelta(days=2), "not hers")
    to = await own_number(org)
    message = inbound.Inbound("SM" + secrets.token_hex(16), "+14155550161", to, "", "call me")
    assert (await inbound.receive(message, get_settings())).outcome == "unmatched"

    r = await client.get(f"{BASE}/{c.id}/export", headers=org.auth("manager"))
    assert r.status_code == 200, r.text
    data = r.json()
    assert data["format"] == "slipguard-customer-export/2"
    (enrollment,) = data["enrollments"]
    assert len(enrollment["steps"]) == len(steps)
    bodies = [m["body"] for m in enrollment["messages"] if m["body"]]
    assert len(bodies) == len(steps) and "Hi Ines, check-in number 0" in bodies
    assert [s["note"] for s in data["slips"]] == ["forgot again"]
    (slip,) = data["slips"]
    assert (slip["behaviour"], slip["failure_mode"], slip["source"]) == (
        "check-in", "forgot", "staff",
    )  # fmt: skip
    assert slip["occurred_at"].endswith("Z") and slip["voided_at"] is None
    (text,) = data["inbound_messages"]
    assert (text["body"], text["sender"], text["outcome"]) == (
        "call me",
        "+14155550161",
        "unmatched",
    )
    assert data["other_messages"] == [] and data["changes"] == []

    # Another organisation cannot export them; staff cannot export at all.
    assert_problem(await client.get(f"{BASE}/{c.id}/export", headers=other_org.auth("admin")), 404)
    assert_problem(await client.get(f"{BASE}/{c.id}/export", headers=org.auth("staff")), 403)
    events, _ = await audit.list_events(tenant, None, 50, "export", c.id)
    assert [e.actor for e in events] == [f"key:{org.key_ids['manager']}"]


async def test_admins_list_privacy_events_of_their_own_organisation(
    client: Any, org: Org, other_org: Org
) -> None:
    tenant = org.tenant
    c = await records.create_customer(tenant, CustomerIn(first_name="Ada", timezone="UTC"))
    await privacy.export_customer(tenant, c.id, audit.CUSTOMER)
    await privacy.erase_customer(tenant, c.id, actor=audit.CUSTOMER)
    await privacy.erase_customer(tenant, c.id, actor=f"user:{org.users['admin'].id}")
    r = await client.get("/api/v1/privacy/events", headers=org.auth("admin"), params={"limit": 2})
    assert r.status_code == 200, r.text
    page = r.json()
    assert [(e["kind"], e["actor"]) for e in page["items"]] == [
        ("export", "customer"),
        ("erasure", "customer"),
    ]
    assert page["items"][0]["customer_id"] == str(c.id) and page["next_cursor"]
    rest = await client.get(
        "/api/v1/privacy/events",
        headers=org.auth("admin"),
        params={"cursor": page["next_cursor"]},
    )
    assert [e["actor"] for e in rest.json()["items"]] == [f"user:{org.users['admin'].id}"]
    erasures = await client.get(
        "/api/v1/privacy/events", headers=org.auth("admin"), params={"kind": "erasure"}
    )
    assert len(erasures.json()["items"]) == 2
    # Nothing of what was erased is in an event; other organisations see none of them.
    assert set(page["items"][0]) == {"id", "kind", "customer_id", "actor", "batch", "at"}
    theirs = await client.get("/api/v1/privacy/events", headers=other_org.auth("admin"))
    assert theirs.json()["items"] == []
    assert_problem(await client.get("/api/v1/privacy/events", headers=org.auth("manager")), 403)
