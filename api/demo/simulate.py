"""The simulated history as rows: customers and their consent, enrollments, steps with
their outcomes, messages with theirs, and the slips the failed steps left.

Pure apart from the random generator it is given: the same seed, clock and journey
library give the same history. Steps and messages are planned by the product's own
planner (``journeys.enrollments.planning``, the outbox companion), as if each customer had
been enrolled at their enrollment time; the simulation then plays each step and message
out up to now with the rates of ``api.demo.model``.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from api.demo import model
from core.ids import new_id
from journeys.definition import Behaviour, JourneyDefinition
from journeys.enrollments.planning import (
    Planned,
    StepFacts,
    horizon,
    horizon_after,
    plan,
    step_facts,
)
from journeys.schedule import last_due, resolve_local
from slips.validation import SlipRow

FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena"]
LAST = ["Okafor", "Smith", "Wang", "Novak", "Garcia", "Haddad", "Kowalski", "Sato", "Brown"]
FIRST_ZH = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳"]
LAST_ZH = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵"]
CONSENT_TEXT = (
    "Reminders about your appointments and care by text and email. "
    "Msg & data rates may apply. Reply STOP to opt out, HELP for help."
)

CUSTOMER_COLUMNS = (
    "id", "organization", "external_ref", "first_name", "last_name", "phone", "email",
    "locale", "timezone", "pseudonym", "created_at", "updated_at",
)  # fmt: skip
CONSENT_COLUMNS = (
    "id", "organization", "customer", "channel", "purpose", "status", "source",
    "text_shown", "evidence", "recorded_at",
)  # fmt: skip
ENROLLMENT_COLUMNS = (
    "id", "organization", "customer", "journey", "journey_version", "anchors", "timezone",
    "holdout", "backfill", "status", "materialised_until", "ends_at", "created_at",
)  # fmt: skip
# The planner's step and message columns, then what the outcome adds.
STEP_EXTRA = ("completed_at", "completed_via")
NUDGE_EXTRA = (
    "attempts", "claimed_at", "provider", "provider_id", "error_code", "locale",
    "recipient", "sent_at",
)  # fmt: skip
# Positions in the planner's message tuple (coaching.outbox.NUDGE_COLUMNS).
N_CHANNEL, N_UNLESS, N_SEND_AFTER, N_STATUS, N_REASON, N_UPDATED = 8, 11, 13, 14, 15, 17


@dataclass(frozen=True)
class Mode:
    """One way a behaviour fails, with its share of the behaviour's rate."""

    key: str | None
    deficit: str | None
    root_cause: str | None
    rate: float


@dataclass
class JourneyRef:
    """A loaded library journey: its ids, definition and the failure model per behaviour."""

    journey_id: UUID
    version_id: UUID
    definition: JourneyDefinition
    facts: StepFacts = field(init=False)
    behaviours: dict[str, Behaviour] = field(init=False)
    modes: dict[str, list[Mode]] = field(init=False)

    def __post_init__(self) -> None:
        d = self.definition
        self.facts = step_facts(d)
        self.behaviours = {b.key: b for b in d.behaviours}
        self.modes = {}
        for b in d.behaviours:
            rate = model.base_rate(d.key, b.key)
            if not b.failure_modes:
                self.modes[b.key] = [Mode(None, None, None, rate)]
                continue
            shares = model.mode_weights(len(b.failure_modes))
            self.modes[b.key] = [
                Mode(m.key, m.deficit, m.root_cause, rate * s)
                for m, s in zip(b.failure_modes, shares, strict=True)
            ]


@dataclass
class Rows:
    """Everything the simulation writes, as tuples in the column orders above."""

    customers: list[tuple[Any, ...]] = field(default_factory=list)
    consents: list[tuple[Any, ...]] = field(default_factory=list)
    enrollments: list[tuple[Any, ...]] = field(default_factory=list)
    steps: list[tuple[Any, ...]] = field(default_factory=list)
    nudges: list[tuple[Any, ...]] = field(default_factory=list)
    slips: list[SlipRow] = field(default_factory=list)

    def total(self) -> int:
        """How many rows there are to write."""
        return sum(
            len(x)
            for x in (
                self.customers,
                self.consents,
                self.enrollments,
                self.steps,
                self.nudges,
                self.slips,
            )
        )


@dataclass
class _Person:
    """What the simulation knows of one customer while playing out their messages."""

    id: UUID
    tz: ZoneInfo
    locale: str
    phone: str
    email: str | None
    opt_out: str | None  # None | "stop" | "carrier"
    opt_out_at: datetime | None
    landline: bool


class Simulation:
    """Plays out ``customers`` customers' last :data:`model.DAYS` days."""

    def __init__(
        self,
        organization: UUID,
        journeys: dict[str, JourneyRef],
        now: datetime,
        rng: random.Random,
    ) -> None:
        self.org = organization
        self.journeys = journeys
        self.now = now
        self.rng = rng
        self.first = model.first_day(now)
        self.changed_at = model.CHANGED.starts_at(self.first)
        self.horizon_end = now + horizon()
        self.rows = Rows()
        keys = [k for k in model.JOURNEY_SHARES if k in journeys]
        keys += sorted(k for k in journeys if k not in model.JOURNEY_SHARES)
        self.journey_keys = keys
        self.journey_weights = [model.JOURNEY_SHARES.get(k, 0.05) for k in keys]

    def run(self, customers: int, progress: Callable[[int], None] | None = None) -> Rows:
        """Simulate every customer; ``progress`` is told after each one."""
        for i in range(customers):
            self._customer(i)
            if progress is not None:
                progress(1)
        return self.rows

    # -- customers ---------------------------------------------------------------------

    def _customer(self, i: int) -> None:
        rng = self.rng
        zone, zh_share = self._zone()
        zh = rng.random() < zh_share
        cid = new_id()
        phone = f"+86138{i:08d}" if zone == "Asia/Shanghai" else f"+1415555{i % 10000:04d}"
        email = f"customer{i}@example.com" if rng.random() < model.EMAIL_SHARE else None
        starts = sorted(self._enrollment_time() for _ in range(self._journey_count()))
        joined = starts[0] - timedelta(minutes=rng.uniform(1, 120))
        first, last = (
            (rng.choice(FIRST_ZH), rng.choice(LAST_ZH))
            if zh
            else (rng.choice(FIRST), rng.choice(LAST))
        )
        self.rows.customers.append(
            (
                cid, self.org, f"DEMO-{10000 + i}", first, last, phone, email,
                "zh-CN" if zh else "en", zone, f"{rng.getrandbits(64):016x}", joined, joined,
            )
        )  # fmt: skip
        channels = ["sms"] + (["email"] if email else [])
        for channel in channels:
            self._consent(cid, channel, "granted", "staff", joined, CONSENT_TEXT)
        roll = rng.random()
        opt_out = (
            "stop"
            if roll < model.STOP_REPLY
            else "carrier"
            if roll < model.STOP_REPLY + model.CARRIER_OPT_OUT
            else None
        )
        opt_out_at = joined + (self.now - joined) * rng.uniform(0.1, 0.9) if opt_out else None
        if opt_out == "stop" and opt_out_at is not None:
            self._consent(cid, "sms", "revoked", "sms_keyword", opt_out_at, "", "inbound: STOP")
        person = _Person(
            cid, ZoneInfo(zone), "zh-CN" if zh else "en", phone, email, opt_out, opt_out_at,
            rng.random() < model.LANDLINE,
        )  # fmt: skip
        chosen = rng.choices(self.journey_keys, self.journey_weights, k=len(starts))
        if len(set(chosen)) < len(chosen):
            chosen = list(dict.fromkeys(chosen))
        messages: list[list[Any]] = []
        done_at: dict[UUID, datetime | None] = {}
        for key, created in zip(chosen, starts, strict=False):
            messages += self._enroll(person, self.journeys[key], created, done_at)
        self._deliver(person, messages, done_at)

    def _zone(self) -> tuple[str, float]:
        zones = model.ZONES
        zone, _, zh = self.rng.choices(zones, [z[1] for z in zones])[0]
        return zone, zh

    def _journey_count(self) -> int:
        return 2 if self.rng.random() < model.SECOND_JOURNEY else 1

    def _enrollment_time(self) -> datetime:
        span = (self.now - timedelta(hours=1)) - self.first
        return self.first + span * self.rng.random()

    def _consent(
        self,
        customer: UUID,
        channel: str,
        status: str,
        source: str,
        at: datetime,
        text: str,
        evidence: str = "",
    ) -> None:
        self.rows.consents.append(
            (new_id(), self.org, customer, channel, "informational", status, source, text,
             evidence, at)
        )  # fmt: skip

    # -- enrollments and steps ---------------------------------------------------------

    def _anchors(
        self, d: JourneyDefinition, created: datetime, tz: ZoneInfo
    ) -> dict[str, datetime]:
        out = {}
        for name in d.anchors:
            if name == "start":
                out[name] = created
                continue
            day = (created + timedelta(days=self.rng.randint(2, 14))).astimezone(tz).date()
            out[name] = resolve_local(
                day, time(self.rng.randint(9, 16), 30 * self.rng.randint(0, 1)), tz
            )
        return out

    def _enroll(
        self,
        person: _Person,
        ref: JourneyRef,
        created: datetime,
        done_at: dict[UUID, datetime | None],
    ) -> list[list[Any]]:
        """One enrollment with its steps played out; returns its messages (as lists, whose
        outcome :meth:`_deliver` fills in)."""
        d = ref.definition
        holdout = d.holdout > 0 and self.rng.random() < d.holdout
        anchors = self._anchors(d, created, person.tz)
        eid = new_id()
        planned = Planned()
        upcoming = plan(
            planned, (self.org, eid, person.id), d, ref.facts, (None, self.horizon_end),
            anchors, person.tz, holdout, created, due_from=created,
        )  # fmt: skip
        ends_at = last_due(d, anchors, person.tz)
        self.rows.enrollments.append(
            (
                eid, self.org, person.id, ref.journey_id, ref.version_id,
                json.dumps({k: v.isoformat() for k, v in anchors.items()}), person.tz.key,
                holdout, False, "active", horizon_after(self.horizon_end, upcoming, ends_at),
                ends_at, created,
            )
        )  # fmt: skip
        for step in planned.steps:
            done_at[step[0]] = self._play_step(step, ref, person, holdout)
        return [list(n) for n in planned.nudges]

    def _play_step(
        self, step: tuple[Any, ...], ref: JourneyRef, person: _Person, holdout: bool
    ) -> datetime | None:
        """Decide a step's outcome and record it (with its slip); returns when it was
        confirmed, if it was."""
        sid, _org, eid, _cust, key, _occ, due, grace_until, confirmable, _status, _c = step
        rng = self.rng
        if grace_until >= self.now:  # not over yet: still pending
            self.rows.steps.append((*step, None, None))
            return None
        mode = self._failure(ref, key, due.astimezone(person.tz).weekday(), holdout, due)
        behaviour = ref.behaviours[key]
        # Steps with a reply keyword are settled by the customer's reply (or detected as
        # missed); the others by staff at the encounter, who also log the slip. Left
        # alone, the scheduler would excuse those (still exposure, but with no outcome).
        if mode is None:
            done = due + (grace_until - due) * rng.uniform(0.02, 0.6)
            via = "sms" if confirmable else "staff"
            self.rows.steps.append((*step[:9], "done", step[10], done, via))
            return done
        self.rows.steps.append((*step[:9], "missed", step[10], None, None))
        if confirmable:
            source = "customer" if rng.random() < model.CUSTOMER_REPORTED else "system"
            given = source == "customer" or rng.random() < model.REASON_GIVEN
            site, channel, logged = None, ("web" if source == "customer" else None), grace_until
            note = "step not confirmed before its grace period ended"
        else:
            source, given, site, channel = "staff", True, rng.choice(model.SITES), "in_person"
            logged, note = due + timedelta(minutes=rng.uniform(5, 90)), ""
        failure = mode if given else Mode(None, None, None, 0.0)
        self.rows.slips.append(
            SlipRow(
                id=new_id(), organization=self.org, journey=ref.journey_id,
                journey_version=ref.version_id, behaviour=key, failure_mode=failure.key,
                root_cause=failure.root_cause, deficit=failure.deficit, stage=behaviour.stage,
                severity=behaviour.importance, source=source, customer=person.id,
                enrollment=eid, step=sid, reporter_user=None, reporter_key=None, site=site,
                channel=channel, note=note, occurred_at=due, created_at=logged,
                updated_at=logged,
                idempotency_key=f"missed:{sid}" if source == "system" else f"demo:{sid}",
            )
        )  # fmt: skip
        return None

    def _failure(
        self, ref: JourneyRef, behaviour: str, weekday: int, holdout: bool, due: datetime
    ) -> Mode | None:
        """The failure mode a step fails by, or None when it goes well."""
        roll = self.rng.random()
        factor = model.WEEKDAY[weekday]
        changed = model.CHANGED
        for mode in ref.modes[behaviour]:
            p = mode.rate * factor
            if holdout and mode.deficit is not None:
                p *= model.HOLDOUT.get(mode.deficit, 1.0)
            if (
                due >= self.changed_at
                and ref.definition.key == changed.journey
                and behaviour == changed.behaviour
                and mode.key == changed.failure_mode
            ):
                p *= changed.factor
            if roll < p:
                return mode
            roll -= p
        return None

    # -- messages ----------------------------------------------------------------------

    def _deliver(
        self, person: _Person, messages: list[list[Any]], done_at: dict[UUID, datetime | None]
    ) -> None:
        """Play out one customer's messages in time order (an opt-out stops later ones)."""
        rng = self.rng
        messages.sort(key=lambda n: n[N_SEND_AFTER])
        revoked_at = person.opt_out_at if person.opt_out == "stop" else None
        carrier_pending = person.opt_out == "carrier"
        for n in messages:
            at: datetime = n[N_SEND_AFTER]
            extra: list[Any] = [0, None, None, None, None, None, None, None]
            if n[N_STATUS] == "scheduled" and at < self.now:
                channel = n[N_CHANNEL]
                confirmed = done_at.get(n[4])
                address = person.phone if channel == "sms" else person.email
                status, reason, code, sent = "delivered", None, None, True
                if n[N_UNLESS] and confirmed is not None and confirmed <= at:
                    status, reason, sent = "suppressed", "confirmed", False
                elif address is None:
                    status, reason, sent = "suppressed", "no_address", False
                elif channel == "sms" and revoked_at is not None and revoked_at <= at:
                    status, reason, sent = "suppressed", "no_consent", False
                elif channel == "sms" and person.landline:
                    status, reason, code, sent = "failed", "landline", "30006", False
                elif (
                    channel == "sms"
                    and carrier_pending
                    and person.opt_out_at is not None
                    and person.opt_out_at <= at
                ):
                    status, reason, code, sent = "failed", "unsubscribed", "21610", False
                    carrier_pending, revoked_at = False, at
                    self._consent(
                        person.id, "sms", "revoked", "provider", at, "",
                        "provider error 21610 (unsubscribed)",
                    )  # fmt: skip
                elif channel == "sms" and rng.random() < model.UNREACHABLE:
                    status, reason, code = "failed", "undelivered", "30003"
                elif channel == "email" or rng.random() < model.RECEIPT_PENDING:
                    status = "sent"
                n[N_STATUS], n[N_REASON] = status, reason
                if status != "suppressed":
                    claimed = at + timedelta(seconds=rng.uniform(0.2, 4))
                    sent_at = claimed + timedelta(seconds=rng.uniform(0.1, 1.5)) if sent else None
                    provider = "twilio" if channel == "sms" else "smtp"
                    prefix = "SM" if channel == "sms" else ""
                    provider_id = f"{prefix}{rng.getrandbits(128):032x}" if sent else None
                    extra = [1, claimed, provider, provider_id, code, person.locale, address,
                             sent_at]  # fmt: skip
                    n[N_UPDATED] = sent_at or claimed
                else:
                    n[N_UPDATED] = at
            self.rows.nudges.append((*n, *extra))
