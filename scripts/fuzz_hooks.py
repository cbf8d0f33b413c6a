"""Schemathesis hooks for ``scripts/fuzz.py``: how to make values of the formats the
Slipguard schema names beyond JSON Schema's own."""

from __future__ import annotations

import phonenumbers
import schemathesis
from hypothesis import strategies as st

# ``format: phone``: a number that can receive text messages. Valid numbers follow each
# country's numbering plan, which no pattern states; these are real plans' example numbers.
REGIONS = ["US", "GB", "DE", "FR", "AU", "CN", "IN", "BR", "JP", "ZA", "NL", "CA"]
NUMBERS = [
    phonenumbers.format_number(
        phonenumbers.example_number_for_type(region, phonenumbers.PhoneNumberType.MOBILE),
        phonenumbers.PhoneNumberFormat.E164,
    )
    for region in REGIONS
]
schemathesis.openapi.format("phone", st.sampled_from(NUMBERS))
