"""Coaching API shapes."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec


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
