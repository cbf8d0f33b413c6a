"""Coaching API shapes: messages, and the views that add them to an enrollment or an erasure."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any
from uuid import UUID

import msgspec

from core.schemas import Input
from journeys.customers.schemas import CustomerOut
from journeys.schemas import EnrollmentOut, StepOut
from journeys.vocabulary import Channel, Purpose

if TYPE_CHECKING:
    from coaching.privacy import Erasure


def mask(address: str | None) -> str | None:
    """An address shown to staff lists: enough to recognise, not to copy."""
    if not address:
        return None
    if "@" in address:
        name, _, domain = address.partition("@")
        return f"{name[:1]}…@{domain}"
    return f"…{address[-4:]}"


class NudgeOut(msgspec.Struct):
    """A planned or sent message. ``kind`` is reminder (at or before the due time) or
    follow_up (after it); ``reason`` says why a message was cancelled, suppressed, held
    or failed (e.g. ``no_consent``, ``held_send_window``, ``holdout``, ``unsubscribed``)."""

    id: UUID
    enrollment_id: UUID | None
    step_id: UUID | None
    customer_id: UUID | None
    kind: str
    channel: str
    purpose: str
    critical: bool
    template: str
    unless_confirmed: bool
    due_at: datetime
    send_after: datetime | None
    status: str
    reason: str | None
    attempts: int
    sent_at: datetime | None
    provider: str | None
    provider_id: str | None
    error_code: str | None
    locale: str | None
    recipient: str | None  # masked
    body: str | None  # what was sent (None until then, blank after erasure)

    @classmethod
    def of(cls, row: dict[str, Any]) -> NudgeOut:
        g = row.get
        return cls(
            row["id"], row["enrollment"], row["step"], g("customer"), row["kind"],
            row["channel"], g("purpose") or "informational", bool(g("critical")),
            row["template"], bool(row["unless_confirmed"]), row["due_at"], g("send_after"),
            row["status"], row["reason"], row["attempts"], row["sent_at"], g("provider"),
            g("provider_id"), g("error_code"), g("locale"), mask(g("recipient")), g("body"),
        )  # fmt: skip


class DeliveryEventOut(msgspec.Struct):
    """A provider's report on a message, as received; ``applied``: it moved the status."""

    status: str
    error_code: str | None
    applied: bool
    received_at: datetime

    @classmethod
    def of(cls, row: dict[str, Any]) -> DeliveryEventOut:
        return cls(row["status"], row["error_code"], bool(row["applied"]), row["received_at"])


class NudgeDetail(msgspec.Struct):
    """One message with its delivery events."""

    nudge: NudgeOut
    events: list[DeliveryEventOut]


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


class InboxItemOut(msgspec.Struct):
    """A text no rule could act on, for staff to read: from an unknown number
    (``unknown_sender``) or a customer's words that were no keyword, confirmation or
    answer (``unmatched``). ``question_id``: the "why did you miss?" message it may answer."""

    id: UUID
    received_at: datetime
    customer_id: UUID | None
    sender: str | None  # masked to its last digits; None after erasure
    body: str | None  # None after erasure
    outcome: str
    question_id: UUID | None
    status: str  # open | closed
    closed_at: datetime | None
    closed_by: UUID | None

    @classmethod
    def of(cls, row: dict[str, Any]) -> InboxItemOut:
        return cls(
            row["id"], row["received_at"], row["customer"], mask(row["sender"]), row["body"],
            row["outcome"], row["question"], "closed" if row["closed_at"] else "open",
            row["closed_at"], row["closed_by"],
        )  # fmt: skip


class TaskOut(msgspec.Struct):
    """A staff task: an escalation a person must handle by ``due_at`` (the organisation's
    service standard); ``overdue`` when it is open past that."""

    id: UUID
    reason: str  # complaint | ability | financial | escalate | repeated_misses
    title: str
    detail: str
    status: str  # open | closed
    overdue: bool
    due_at: datetime
    customer_id: UUID | None
    slip_id: UUID | None
    enrollment_id: UUID | None
    step_id: UUID | None
    behaviour: str
    assigned_to: UUID | None
    outcome: str | None
    closed_at: datetime | None
    closed_by_user_id: UUID | None
    closed_by_key_id: UUID | None
    created_at: datetime

    @classmethod
    def of(cls, t: Any, now: datetime) -> TaskOut:
        """From a stored task, judged overdue at ``now``."""
        return cls(
            t.id, t.reason, t.title, t.detail, t.status, t.status == "open" and t.due_at < now,
            t.due_at, t.customer, t.slip, t.enrollment, t.step, t.behaviour, t.assigned_to,
            t.outcome, t.closed_at, t.closed_by_user, t.closed_by_key, t.created_at,
        )  # fmt: skip


class TaskCloseIn(Input):
    """How the task ended (what was done, what the customer said)."""

    outcome: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class AdvisoryIn(Input, kw_only=True):
    """A one-off message to everyone on ``journey`` (with an active enrollment), or only to
    those with a pending step of ``behaviour``. ``template`` may use ``{{ first_name }}``,
    ``{{ last_name }}``, ``{{ org_name }}`` and ``{{ journey_title }}``; ``send_at``
    defaults to now."""

    journey: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    behaviour: Annotated[str, msgspec.Meta(min_length=1, max_length=64)] | None = None
    template: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]
    channel: Channel
    purpose: Purpose = "informational"
    send_at: datetime | None = None


class AdvisoryProgress(msgspec.Struct):
    """Where the advisory's messages are. ``waiting``: not yet sent (scheduled, queued or
    sending, including those held for a customer's sending window); ``suppressed`` by
    reason (e.g. ``no_consent``)."""

    waiting: int
    sent: int  # accepted by the provider (delivered ones included)
    delivered: int
    failed: int
    cancelled: int
    suppressed: dict[str, int]
    done: bool


class AdvisoryOut(msgspec.Struct):
    """An advisory and its progress."""

    id: UUID
    journey: str
    behaviour: str | None
    channel: str
    purpose: str
    template: str
    send_at: datetime
    recipients: int
    created_at: datetime
    progress: AdvisoryProgress

    @classmethod
    def of(cls, a: Any, by_status: dict[str, int], suppressed: dict[str, int]) -> AdvisoryOut:
        waiting = sum(by_status.get(s, 0) for s in ("scheduled", "queued", "sending"))
        progress = AdvisoryProgress(
            waiting=waiting,
            sent=by_status.get("sent", 0) + by_status.get("delivered", 0),
            delivered=by_status.get("delivered", 0),
            failed=by_status.get("failed", 0) + by_status.get("undelivered", 0),
            cancelled=by_status.get("cancelled", 0),
            suppressed=suppressed,
            done=waiting == 0,
        )
        return cls(
            a.id, a.journey_key, a.behaviour or None, a.channel, a.purpose, a.template,
            a.send_at, a.recipients, a.created_at, progress,
        )  # fmt: skip


class Advisories(msgspec.Struct):
    """Advisories, the most recent first."""

    items: list[AdvisoryOut]
