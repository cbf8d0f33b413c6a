"""Keyset cursors for list endpoints: stable under inserts, no OFFSET scans."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any
from uuid import UUID

from core import clock
from core.errors import FieldError, Invalid

MAX_LIMIT = 500
DEFAULT_LIMIT = 50


def encode_cursor(created_at: datetime, row_id: UUID) -> str:
    """An opaque cursor pointing just after (created_at, id)."""
    raw = json.dumps([created_at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, UUID]:
    """Parse a cursor from :func:`encode_cursor`; a tampered one is a 422 naming ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        stamp, row_id = json.loads(base64.urlsafe_b64decode(padded))
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None or not clock.in_range(moment):
            raise ValueError("out of range")
        return moment, UUID(row_id)
    except (ValueError, TypeError, json.JSONDecodeError):
        raise Invalid(
            "invalid cursor", [FieldError("cursor", "not a cursor from this API")]
        ) from None


def check_limit(limit: int) -> int:
    """Clamp-free validation: out-of-range limits are an error, not silently changed."""
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid("invalid limit", [FieldError("limit", f"must be between 1 and {MAX_LIMIT}")])
    return limit


def keyset(query: Any, table: Any, cursor: str | None, limit: int) -> Any:
    """Order ``query`` by (created_at, id) and start after ``cursor``; fetch limit+1 rows."""
    if cursor:
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
