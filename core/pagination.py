"""Keyset cursors for list endpoints: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import re
import struct
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from core import clock
from core.errors import FieldError, Invalid

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


# A cursor is a position: microseconds since 1970 (8 bytes, signed) and a row id (16), in
# 32 URL-safe base64 characters. Every string of that form is a position (one before or
# after every row at worst), so the schema's pattern says exactly which cursors are valid.
CURSOR_PATTERN = "^[A-Za-z0-9_-]{32}$"
_CURSOR = struct.Struct(">q16s")
_CURSOR_FORM = re.compile(CURSOR_PATTERN)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SPAN = (
    (clock.EARLIEST - _EPOCH) // timedelta(microseconds=1),
    (clock.LATEST - _EPOCH) // timedelta(microseconds=1),
)


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    """An opaque cursor pointing just after (created_at, id)."""
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(_CURSOR.pack(micros, row_id.bytes)).decode()


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Parse a cursor from :func:`encode_cursor`; a malformed one is a 422 naming ``cursor``.
    Times beyond the accepted range count as its ends (still a position)."""
    try:
        if not _CURSOR_FORM.match(cursor):
            raise ValueError("not a cursor")
        micros, raw_id = _CURSOR.unpack(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (ValueError, TypeError, struct.error, UnicodeEncodeError):
        raise Invalid(
            "invalid cursor", [FieldError("cursor", "not a cursor from this API")]
        ) from None
    micros = min(max(micros, _SPAN[0]), _SPAN[1])
    return _EPOCH + timedelta(microseconds=micros), UUID(bytes=raw_id)


def check_limit(limit: int) -> int:
    """Clamp-free validation: out-of-range limits are an error, not silently changed."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("invalid limit", [FieldError("limit", f"must be between 1 and {MAX_LIMIT}")])
    return limit


def keyset(query: Any, table: Any, cursor: str | None, limit: int) -> Any:
    """Order ``query`` by (created_at, id) and start after ``cursor``; fetch limit+1 rows."""
    if cursor is not None:  # an empty cursor is not a position
        stamp, row_id = decode_cursor(cursor)
        query = query.where(
            (table.created_at > stamp) | ((table.created_at == stamp) & (table.id > row_id))
        )
    return query.order_by(table.created_at, table.id).limit(check_limit(limit) + 1)


def page(rows: list[Any], limit: int) -> tuple[list[Any], str | None]:
    """Split limit+1 fetched rows into the page and the next cursor."""
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    created_at = last["created_at"] if isinstance(last, dict) else last.created_at
    row_id = last["id"] if isinstance(last, dict) else last.id
    return rows[:limit], encode_cursor(created_at, row_id)
