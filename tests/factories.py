"""Shared test data and helpers: journeys, customers, problem checks, the CLI runner and
the schedule strategies. Test modules import these from here, never from each other."""

from __future__ import annotations

import os
import re
import subprocess
from typing import Any
from zoneinfo import available_timezones

import msgspec
from hypothesis import strategies as st

from journeys.definition import JourneyDefinition
from journeys.tables import Customer
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
