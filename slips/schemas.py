"""Request and response bodies for slips."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from core.errors import FieldError
from core.schemas import Input
from journeys.vocabulary import SlipKind
from slips.tables import Slip
from slips.validation import SlipRow

MAX_BATCH = 1000
Short = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Note = Annotated[str, msgspec.Meta(max_length=2000)]


class SlipIn(Input, kw_only=True):
    """A slip: which behaviour failed and how; customer optional (a tick mark still counts)."""

    journey: Short
    behaviour: Short
    failure_mode: Short | None = None
    root_cause: Short | None = None
    deficit: Short | None = None
    customer_id: UUID | None = None
    customer_ref: Annotated[str, msgspec.Meta(max_length=128)] | None = None
    enrollment_id: UUID | None = None
    step_id: UUID | None = None
    severity: Annotated[int, msgspec.Meta(ge=1, le=10)] | None = None
    site: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    channel: Annotated[str, msgspec.Meta(max_length=32)] | None = None
    note: Note = ""
    occurred_at: datetime | None = None
    # A complaint about the service gets the five-step recovery rather than coaching.
    kind: SlipKind = "error"


class SlipItemIn(SlipIn, kw_only=True):
    """A batch item; ``key`` makes it safe to resend (same meaning as Idempotency-Key)."""

    key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class SlipBatchIn(Input):
    """Up to 1,000 slips, each validated and stored on its own."""

    items: Annotated[list[SlipItemIn], msgspec.Meta(min_length=1, max_length=MAX_BATCH)]


class SlipPatch(Input, kw_only=True):
    """Corrections; only the fields given change."""

    journey: Short | msgspec.UnsetType = msgspec.UNSET
    behaviour: Short | msgspec.UnsetType = msgspec.UNSET
    failure_mode: Short | msgspec.UnsetType | None = msgspec.UNSET
    root_cause: Short | msgspec.UnsetType | None = msgspec.UNSET
    deficit: Short | msgspec.UnsetType | None = msgspec.UNSET
    customer_id: UUID | msgspec.UnsetType | None = msgspec.UNSET
    severity: Annotated[int, msgspec.Meta(ge=1, le=10)] | msgspec.UnsetType = msgspec.UNSET
    site: Annotated[str, msgspec.Meta(max_length=100)] | msgspec.UnsetType | None = msgspec.UNSET
    channel: Annotated[str, msgspec.Meta(max_length=32)] | msgspec.UnsetType | None = msgspec.UNSET
    note: Note | msgspec.UnsetType = msgspec.UNSET
    occurred_at: datetime | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, object]:
        """The fields that were given."""
        return {
            f: getattr(self, f)
            for f in self.__struct_fields__
            if getattr(self, f) is not msgspec.UNSET
        }


class VoidIn(Input):
    """Why the slip is voided."""

    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class SlipOut(msgspec.Struct):
    """A recorded slip."""

    id: UUID
    journey_id: UUID
    journey: str  # the journey's key
    behaviour: str
    failure_mode: str | None
    root_cause: str | None
    deficit: str | None
    stage: str
    severity: int
    source: str
    customer_id: UUID | None
    enrollment_id: UUID | None
    step_id: UUID | None
    reporter_user_id: UUID | None
    reporter_key_id: UUID | None
    site: str | None
    channel: str | None
    note: str
    occurred_at: datetime
    created_at: datetime
    voided_at: datetime | None
    void_reason: str | None
    key: str | None
    kind: str

    @classmethod
    def of(cls, s: Slip | SlipRow, journey_key: str) -> SlipOut:
        """From a stored slip, or from a row just inserted (never voided), with its
        journey's key."""
        voided_at, reason = (s.voided_at, s.void_reason) if isinstance(s, Slip) else (None, None)
        return cls(
            s.id, s.journey, journey_key, s.behaviour, s.failure_mode, s.root_cause, s.deficit,
            s.stage, s.severity, s.source, s.customer, s.enrollment, s.step, s.reporter_user,
            s.reporter_key, s.site, s.channel, s.note, s.occurred_at, s.created_at,
            voided_at, reason, s.idempotency_key, s.kind,
        )  # fmt: skip


class ItemError(msgspec.Struct):
    """A problem with one field of one item."""

    field: str
    message: str

    @classmethod
    def of(cls, e: FieldError) -> ItemError:
        return cls(e.field, e.message)


class ItemResultOut(msgspec.Struct, omit_defaults=True):
    """What happened to one batch item."""

    index: int
    status: Literal["created", "duplicate", "error"]
    slip_id: UUID | None = None
    errors: list[ItemError] = []


class SlipBatchOut(msgspec.Struct):
    """Per-item results and totals."""

    created: int
    duplicates: int
    errors: int
    results: list[ItemResultOut]
