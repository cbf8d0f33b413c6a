"""Request and response bodies for journeys, enrollments and steps."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

import msgspec

from core.schemas import Input
from journeys.definition import Validation
from journeys.tables import Enrollment, Journey, JourneyVersion, Step


class JourneySourceIn(Input):
    """A journey definition as YAML text (or send the YAML itself as application/yaml)."""

    source: str
    filename: str = "<upload>"


class Issue(msgspec.Struct, omit_defaults=True):
    """One validation message with its location."""

    field: str
    message: str
    line: int | None = None


class JourneyOut(msgspec.Struct):
    """A journey and its current version number."""

    id: UUID
    key: str
    title: str
    current_version: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, j: Journey) -> JourneyOut:
        return cls(j.id, j.key, j.title, j.current_version, j.created_at, j.updated_at)


class JourneyLoaded(msgspec.Struct):
    """The outcome of a load: ``created`` is false when the definition was unchanged."""

    journey: JourneyOut
    version: int
    created: bool
    warnings: list[Issue]

    @classmethod
    def of(cls, journey: Journey, version: int, created: bool, v: Validation) -> JourneyLoaded:
        warnings = [Issue(w.field, w.message, w.line) for w in v.warnings]
        return cls(JourneyOut.of(journey), version, created, warnings)


class VersionOut(msgspec.Struct):
    """One immutable version."""

    version: int
    digest: str
    created_at: datetime

    @classmethod
    def of(cls, v: JourneyVersion) -> VersionOut:
        return cls(v.version, v.digest, v.created_at)


class JourneyDetail(msgspec.Struct):
    """A journey with its current definition and every version."""

    journey: JourneyOut
    definition: dict[str, Any]
    source: str
    versions: list[VersionOut]


class EnrollmentIn(Input):
    """Enroll a customer. ``anchors`` maps anchor names to ISO 8601 times with an offset."""

    customer_id: UUID
    journey: str
    anchors: dict[str, str] = {}
    holdout: bool | None = None
    backfill: bool = False


class StepOut(msgspec.Struct):
    """A behaviour occurrence with its due time."""

    id: UUID
    enrollment_id: UUID
    customer_id: UUID
    behaviour: str
    occurrence: int
    due_at: datetime
    grace_until: datetime
    status: str
    completed_at: datetime | None
    completed_via: str | None

    @classmethod
    def of(cls, s: Step) -> StepOut:
        return cls(
            s.id, s.enrollment, s.customer, s.behaviour, s.occurrence, s.due_at,
            s.grace_until, s.status, s.completed_at, s.completed_via,
        )  # fmt: skip


class EnrollmentOut(msgspec.Struct):
    """An enrollment; ``journey_version`` is the version it is pinned to."""

    id: UUID
    customer_id: UUID
    journey: str
    journey_version: int
    anchors: dict[str, str]
    timezone: str
    holdout: bool
    status: str
    materialised_until: datetime | None
    ends_at: datetime | None
    created_at: datetime
    cancelled_at: datetime | None

    @classmethod
    def of(cls, e: Enrollment, journey_key: str, version: int) -> EnrollmentOut:
        return cls(
            e.id, e.customer, journey_key, version, json.loads(e.anchors), e.timezone, e.holdout,
            e.status, e.materialised_until, e.ends_at, e.created_at, e.cancelled_at,
        )  # fmt: skip


class EnrollmentCreated(msgspec.Struct):
    """A new enrollment, its first horizon of steps and messages, and what was done with
    steps and messages already in the past (a message is never planned in the past)."""

    enrollment: EnrollmentOut
    steps_created: int
    past_steps_skipped: int
    past_steps_backfilled: int
    nudges_planned: int
    past_nudges_skipped: int
    # A holdout enrollment's messages: recorded as suppressed (reason holdout), never sent.
    nudges_held_out: int = 0


class CompleteIn(Input):
    """How the step was confirmed."""

    via: Literal["staff", "customer", "sms", "email", "api"] = "api"
