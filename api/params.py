"""Query parameters whose text the API reads strictly (no lenient conversions)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from litestar.params import Parameter

from core.clock import EARLIEST_YEAR, LATEST_YEAR
from core.errors import FieldError, Invalid

_CENTURIES = "|".join(str(c) for c in range(EARLIEST_YEAR // 100, LATEST_YEAR // 100))
# RFC 3339 with an offset, in the accepted years (``core.clock.in_range``).
INSTANT_PATTERN = (
    f"^({_CENTURIES})[0-9]{{2}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}"
    "(\\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})$"
)

# An optional time in a query: RFC 3339 with an offset. Typed as text so that nothing else
# (a bare number read as a Unix time, a time without an offset) is taken for one.
Instant = Annotated[
    str | None,
    Parameter(
        pattern=INSTANT_PATTERN,
        description="An RFC 3339 time with an offset, years 1900 to 2199",
        schema_extra={"format": "date-time"},
    ),
]


def instant(value: str | None, field: str) -> datetime | None:
    """An :data:`Instant` parameter as a datetime (None when absent)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(
            f"invalid {field}", [FieldError(field, "not an RFC 3339 time with an offset")]
        ) from None
