"""Shared test data and helpers: journeys, customers, problem checks, the CLI runner and
the schedule strategies. Test modules import these from here, never from each other."""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import available_timezones

import msgspec
from hypothesis import strategies as st

from coaching import dispatch
from coaching.tables import Nudge
from core import clock
from dashboards.queries import Window
from journeys import services as journeys
from journeys.customers import records
from journeys.customers.schemas import ConsentIn, CustomerIn
from journeys.definition import JourneyDefinition
from journeys.enrollments import services as enrollments
from journeys.tables import Customer
from settings import Settings, get_settings
from slips import corrections, validation, writes
from tests.conftest import Org, slipguard_bin

PROBLEM = "application/problem+json"

# --- journeys -------------------------------------------------------------------------------

JOURNEY = """\
key: tenancy-check
title: Daily check-in
anchors: [start, appointment]
behaviours:
  - key: check-in
    title: Check in
    stage: encounter
    importance: 6
    schedule: {every: 1d, at: "08:00", from: start, for: 30d}
    confirm: {reply: [DONE], grace: 4h}
    nudges:
      - {at: due, channel: sms, template: check}
templates:
  check: {en: "Hi {{ first_name }}, time to check in. Reply DONE."}
""".replace("anchors: [start, appointment]", "anchors: [start]")

APPOINTMENT = """\
key: visit
title: Clinic visit
anchors: [appointment]
behaviours:
  - key: attend
    title: Attend your appointment
    stage: encounter
    importance: 8
    schedule: {once: appointment}
    confirm: {reply: [OK], grace: 1h}
    nudges:
      - {at: due - 3d, channel: sms, template: reserved}
      - {at: due - 1d, channel: sms, template: reserved}
templates:
  reserved:
    en: "{{ first_name }}, your visit on {{ due_date }} at {{ due_time }} is reserved for you."
"""


def journey(
    schedule: dict[str, object], nudges: list[dict[str, str]] | None = None
) -> JourneyDefinition:
    return msgspec.convert(
        {
            "key": "j",
            "title": "J",
            "anchors": ["start", "appointment"],
            "behaviours": [
                {
                    "key": "b",
                    "title": "B",
                    "stage": "encounter",
                    "importance": 5,
                    "schedule": schedule,
                    "nudges": nudges or [],
                }
            ],
        },
        JourneyDefinition,
    )


# --- dashboards -----------------------------------------------------------------------------

DASH_DOSE = """\
key: dash-dose
title: Dose diary
behaviours:
  - key: take-dose
    title: Take the tablet
    stage: post_encounter
    importance: 9
    schedule: {every: 1d, at: "08:00", from: start, for: 60d}
    failure_modes:
      - {key: forgot, title: Forgot, deficit: forgetfulness, guidance: Keep the box in sight.}
      - {key: ran-out, deficit: financial, root_cause: process}
  - key: bring-card
    title: Bring the card
    stage: pre_encounter
    importance: 4
    schedule: {once: "start + 30d"}
"""

DASH_WALK_IN = """\
key: dash-walkin
title: Walk-in desk
behaviours:
  - key: sign-in
    title: Sign in at the desk
    stage: encounter
    importance: 3
    schedule: {once: start}
"""


@dataclass
class DashboardScene:
    """An organisation with known slips and steps, and the 7-day window they fill."""

    org: Org
    window: Window


async def log_slip(
    org: Org,
    journey: str,
    behaviour: str,
    at: datetime,
    mode: str | None = None,
    who: Any = None,
    source: str = "staff",
    site: str | None = None,
) -> Any:
    return await writes.record_slip(
        org.tenant,
        validation.SlipInput(
            journey=journey,
            behaviour=behaviour,
            failure_mode=mode,
            customer_id=who.id if who else None,
            site=site,
            occurred_at=at,
        ),
        validation.Reporter(),
        source,  # type: ignore[arg-type]
    )


async def dashboard_scene(org: Org) -> DashboardScene:
    """The dashboards' hand-counted scene (tests/integration/test_dashboards.py spells out
    every number): three customers on a daily dose journey for 20 days, slips of five
    sources in the last 7 days, one voided, three in the 7 days before, one just after."""

    tenant = org.tenant
    await journeys.load_journey(tenant, DASH_DOSE)
    await journeys.load_journey(tenant, DASH_WALK_IN)
    a, b, c = [await customer(org, tz="UTC") for _ in range(3)]
    start = (clock.now() - timedelta(days=20)).isoformat()
    for who in (a, b, c):
        await enrollments.enroll(tenant, who.id, "dash-dose", {"start": start}, backfill=True)
    t0 = clock.now()

    def day(k: int) -> datetime:
        """Day 6 - k of the window [t0 - 7 d, t0): k days and 3 hours before its end."""
        return t0 - timedelta(days=k, hours=3)

    for k, who in [(0, a), (1, a), (2, b), (3, c), (4, None), (4, None)]:
        await log_slip(org, "dash-dose", "take-dose", day(k), "forgot", who)
    for k in (1, 5):
        await log_slip(org, "dash-dose", "take-dose", day(k), "ran-out", a, source="system")
    await log_slip(org, "dash-dose", "take-dose", day(2), None, b)  # a single event
    for k, who in [(0, a), (0, b), (6, None)]:
        await log_slip(org, "dash-dose", "bring-card", day(k), None, who)
    for _ in range(2):  # no steps, no enrollments: zero exposure
        await log_slip(org, "dash-walkin", "sign-in", day(3), site="north")
    voided = await log_slip(org, "dash-dose", "take-dose", day(1), "forgot", a)
    await corrections.void_slip(tenant, voided.id, "logged twice", validation.Reporter(), True)
    for k in (8, 9, 10):  # the previous equal period
        await log_slip(org, "dash-dose", "take-dose", day(k), "forgot", b)
    await log_slip(org, "dash-dose", "take-dose", t0 + timedelta(minutes=1), "forgot", b)  # after
    return DashboardScene(org, Window(t0 - timedelta(days=7), t0))


# --- customers ------------------------------------------------------------------------------


async def customer(org: Org, tz: str = "Europe/London") -> Customer:
    row = org.tenant.new(Customer, first_name="Mia", timezone=tz, pseudonym="p" * 16)
    await row.save()
    return row


# --- HTTP and the command line ----------------------------------------------------------------


def assert_problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    assert "Traceback" not in response.text
    return body


def csrf_token(html: str) -> str:
    match = re.search(r'name="_csrf_token" value="([^"]+)"', html)
    assert match, "login form carries a CSRF token"
    return match.group(1)


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [slipguard_bin(), *args],
        capture_output=True,
        text=True,
        env=env or dict(os.environ),
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


# --- schedules (hypothesis) -------------------------------------------------------------------

ZONES = sorted(
    z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))
)
units = st.sampled_from(["m", "h", "d", "w"])


@st.composite
def schedules(draw: st.DrawFn) -> dict[str, object]:
    form = draw(st.sampled_from(["once", "once_at", "every_at", "every", "taper"]))
    at = f"{draw(st.integers(0, 23)):02d}:{draw(st.sampled_from([0, 15, 30, 45])):02d}"
    if form in ("once", "once_at"):
        sign = draw(st.sampled_from(["+", "-"]))
        out: dict[str, object] = {
            "once": f"appointment {sign} {draw(st.integers(0, 60))}{draw(units)}"
        }
        if form == "once_at":
            out["at"] = at
        return out
    if form == "every_at":
        return {
            "every": f"{draw(st.integers(1, 9))}d",
            "at": at,
            "from": "start",
            "for": f"{draw(st.integers(1, 120))}d",
        }
    if form == "every":
        unit = draw(units)
        return {
            "every": f"{draw(st.integers(1, 48))}{unit}",
            "from": "start",
            "for": f"{draw(st.integers(1, 400))}{unit}",
        }
    phases = [
        {"every": f"{draw(st.integers(1, 7))}d", "for": f"{draw(st.integers(1, 30))}d"}
        for _ in range(draw(st.integers(1, 4)))
    ]
    return {"taper": phases, "at": at, "from": "start"}


# --- delivery -------------------------------------------------------------------------------

FROM = "+15005550006"
REMIND = """\
key: remind
title: Medication
anchors: [start]
locales: [en, zh-CN]
behaviours:
  - key: dose
    title: Take your tablet
    stage: post_encounter
    importance: 7
    schedule: {once: start}
    confirm: {reply: [DONE], grace: 4h}
    nudges:
      - {at: due, channel: sms, template: due}
      - {at: due + 1m, channel: sms, template: due}
      - {at: due + 2m, channel: sms, template: due}
      - {at: due + 3m, channel: sms, template: due}
templates:
  due: {en: "Hi {{ first_name }}, time for your tablet.", zh-CN: "{{ first_name }}，该吃药了。"}
"""  # noqa: RUF001 - full-width punctuation is right in Chinese


def zone_at(hour: int, now: datetime | None = None) -> str:
    """A fixed-offset zone where the local time is now about ``hour`` o'clock."""
    now = now or datetime.now(UTC)
    offset = (hour - now.hour + 12) % 24 - 12  # Etc/GMT zones span -12..+14; stay inside
    # Etc/GMT signs are inverted: Etc/GMT-3 is three hours ahead of UTC.
    return "UTC" if offset == 0 else f"Etc/GMT{-offset:+d}"


def delivery_settings(**delivery: Any) -> Settings:
    base = get_settings()
    return dataclasses.replace(
        base,
        twilio=dataclasses.replace(base.twilio, from_number=FROM),
        delivery=dataclasses.replace(base.delivery, sender_rate_per_second=1000.0, **delivery),
    )


async def sms_customer(
    org: Org, *, consent: bool = True, hour: int = 12, locale: str = "en"
) -> Any:
    grants = [ConsentIn("sms", "informational", "granted", "staff", "Reminders by SMS")]
    return await records.create_customer(
        org.tenant,
        CustomerIn(
            first_name="Mia",
            phone=f"+1415555{secrets.randbelow(10_000):04d}",
            timezone=zone_at(hour),
            locale=locale,
            consent=grants if consent else [],
        ),
    )


async def enroll_due(org: Org, customer: Any) -> tuple[UUID, datetime]:
    """Enroll on REMIND with the dose due in two minutes; returns (enrollment, due)."""
    await journeys.load_journey(org.tenant, REMIND)
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=2)
    done = await enrollments.enroll(org.tenant, customer.id, "remind", {"start": due.isoformat()})
    return done.enrollment.id, due


async def claim_all(org: Org, at: datetime) -> list[UUID]:
    return await dispatch.claim_due(now=at, organization=org.id)


async def nudge_rows(enrollment: UUID) -> list[dict[str, Any]]:
    return await Nudge.select().where(Nudge.enrollment == enrollment).order_by(Nudge.position)
