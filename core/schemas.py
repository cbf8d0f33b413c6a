"""Shapes every context's request and response bodies build on."""

from __future__ import annotations

from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Input(msgspec.Struct, forbid_unknown_fields=True):
    """Base of request bodies: unknown fields are an error, never silently ignored."""


class Page(msgspec.Struct, Generic[T]):
    """A list response: items plus the cursor of the next page (None at the end)."""

    items: list[T]
    next_cursor: str | None = None
