"""Coaching API shapes: messages, and the views that add them to an enrollment or an erasure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any
from uuid import UUID

import msgspec

from journeys.customers.schemas import CustomerOut
from journeys.schemas import EnrollmentOut, StepOut

if TYPE_CHECKING:
    from coaching.privacy import Erasure


class NudgeOut(msgspec.Struct):
    """A planned or sent message. ``kind`` is reminder (at or before the due time) or
    follow_up (after it); ``reason`` says why a message was cancelled or suppressed."""

    id: UUID
    enrollment_id: UUID | None
    step_id: UUID | None
    kind: str
    channel: str
    template: str
    unless_confirmed: bool
    due_at: datetime
    status: str
    reason: str | None
    attempts: int
    sent_at: datetime | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> NudgeOut:
        return cls(
            row["id"], row["enrollment"], row["step"], row["kind"], row["channel"],
            row["template"], bool(row["unless_confirmed"]), row["due_at"], row["status"],
            row["reason"], row["attempts"], row["sent_at"],
        )  # fmt: skip


class EnrollmentDetail(msgspec.Struct):
    """An enrollment with its materialised steps and their messages."""

    enrollment: EnrollmentOut
    steps: list[StepOut]
    nudges: list[NudgeOut]


class ErasureOut(msgspec.Struct):
    """What an erasure did; repeating it changes nothing and reports zero counts."""

    customer: CustomerOut
    enrollments_cancelled: int
    steps_cancelled: int
    nudges_cancelled: int
    consent_records_kept: int

    @classmethod
    def of(cls, e: Erasure) -> ErasureOut:
        return cls(
            CustomerOut.of(e.customer),
            e.enrollments_cancelled,
            e.steps_cancelled,
            e.nudges_cancelled,
            e.consent_records_kept,
        )
