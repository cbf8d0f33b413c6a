"""Security headers on every response; pages also get a content security policy."""

from __future__ import annotations

# Pages load scripts, styles and data only from this origin, run no inline script, and may
# not be framed (clickjacking); forms post only here.
PAGE_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)
ALWAYS = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"same-origin")]
PAGES = [
    (b"content-security-policy", PAGE_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]
ALWAYS_AND_PAGES = ALWAYS + PAGES
# The API reference renders with its own scripts; it gets the headers every response does.
NO_PAGE_POLICY = ("/api/", "/schema")


def for_path(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers a response to ``path`` carries (added by the request
    middleware, which already rewrites every response's headers for the request id)."""
    return ALWAYS if path.startswith(NO_PAGE_POLICY) else ALWAYS_AND_PAGES
