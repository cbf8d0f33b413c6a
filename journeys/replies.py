"""Words customers text back: one normal form for journey reply words and inbound SMS.

A reply is compared after NFKC normalisation (a full-width DONE, as Chinese and Japanese
keyboards type it, and ``DONE`` are one word), case folding, removal of every space and of
punctuation around the word (``Done!`` counts), so an author's ``DONE`` and a customer's
`` done.`` meet. The opt-out, opt-in and help keywords are the carriers' (they act on them
themselves), so journeys may not claim them.
"""

from __future__ import annotations

import unicodedata

STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "end", "quit", "cancel", "revoke", "optout"}
)
START_WORDS = frozenset({"start", "unstop", "yes"})
HELP_WORDS = frozenset({"help", "info"})
RESERVED = STOP_WORDS | START_WORDS | HELP_WORDS
MAX_WORD = 20


def normalize(text: str) -> str:
    """The comparable form of a reply: NFKC, case-folded, without spaces and without
    punctuation or symbols at either end."""
    # Folding, removing spaces and trimming can each bring characters together that
    # compose differently (``c``, space, combining cedilla): repeat until nothing changes.
    current = text
    for _ in range(4):
        after = _once(current)
        if after == current:
            break
        current = after
    return current


def _once(text: str) -> str:
    folded = unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", text).casefold())
    squeezed = "".join(ch for ch in folded if not ch.isspace() and ch.isprintable())
    start, end = 0, len(squeezed)
    while start < end and _edge(squeezed[start]):
        start += 1
    while end > start and _edge(squeezed[end - 1]):
        end -= 1
    return squeezed[start:end]


def _edge(ch: str) -> bool:
    return unicodedata.category(ch)[0] in ("P", "S")


def is_word(text: str) -> bool:
    """A journey reply word: 1-20 letters or digits (any script; combining marks allowed
    after a letter), not digits alone (numbers answer numbered questions)."""
    if not 1 <= len(text) <= MAX_WORD:
        return False
    if not all(unicodedata.category(ch)[0] in ("L", "N", "M") for ch in text):
        return False
    if unicodedata.category(text[0])[0] == "M":
        return False
    return not all(unicodedata.category(ch)[0] == "N" for ch in text)


def keyword_family(text: str) -> str | None:
    """``stop``, ``start`` or ``help`` when the whole reply is one of those keywords."""
    word = normalize(text)
    if word in STOP_WORDS:
        return "stop"
    if word in START_WORDS:
        return "start"
    if word in HELP_WORDS:
        return "help"
    return None


def is_reserved(word: str) -> bool:
    """Whether a journey word would collide with a carrier keyword."""
    return normalize(word) in RESERVED
