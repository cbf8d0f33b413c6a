"""The accepted forms of contact data, shared by the checks (``normalize``) and the
request schemas that document them."""

from __future__ import annotations

import zoneinfo
from functools import lru_cache

NAME_MAX = 100
REF_MAX = 128
EMAIL_MAX = 254
TEXT_MAX = 10_000

# Surrounding spaces are trimmed before a value is checked.
LOCALE_PATTERN = (
    r"^\s*(?P<lang>[A-Za-z]{2,3})(?:[-_](?P<script>[A-Za-z]{4}))?"
    r"(?:[-_](?P<region>[A-Za-z]{2}|\d{3}))?\s*$"
)
HHMM_PATTERN = r"^\s*(?P<h>[01]?\d|2[0-3]):(?P<m>[0-5]\d)\s*$"
NOT_BLANK = r"\S"


@lru_cache(maxsize=1)
def zones() -> frozenset[str]:
    """IANA zone names a customer may have (reading the list touches the filesystem; it
    does not change while we run)."""
    return frozenset(zoneinfo.available_timezones() - {"localtime", "Factory", "posixrules"})
