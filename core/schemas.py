"""Shapes every context's request and response bodies build on."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

T = TypeVar("T")
_encode = msgspec.json.encode
_ESCAPED_NUL = b"\\u0000"


def _has_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    return False


class Input(msgspec.Struct, forbid_unknown_fields=True):
    """Base of request bodies: unknown fields are an error, never silently ignored, and no
    text may hold a NUL character (PostgreSQL cannot store one; SQLite would keep a string
    that every reader then mishandles), so both databases refuse it alike."""

    def __post_init__(self) -> None:
        # One encode in C finds whether any text holds a NUL (it can only appear escaped);
        # walking the fields in Python cost several times more on every request.
        try:
            if _ESCAPED_NUL not in _encode(self):
                return
        except (TypeError, ValueError):
            pass  # a field JSON cannot hold: look field by field
        for name in self.__struct_fields__:
            if _has_nul(getattr(self, name)):
                raise ValueError(f"`{name}` must not contain NUL characters (\\u0000)")


class Page(msgspec.Struct, Generic[T]):
    """A list response: items plus the cursor of the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None = None


class PrivacyEventOut(msgspec.Struct):
    """That a customer's data was erased, exported or a breach notice sent to them, by
    whom (``user:<id>``, ``key:<id>``, ``customer``, ``cli``) and when; ``batch`` ties the
    events of one operation together (a breach notification)."""

    id: UUID
    kind: str  # erasure | export | breach_notice
    customer_id: UUID | None
    actor: str
    batch: UUID | None
    at: datetime

    @classmethod
    def of(cls, e: Any) -> PrivacyEventOut:
        return cls(e.id, e.kind, e.customer, e.actor, e.batch, e.created_at)
