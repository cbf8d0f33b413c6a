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
# Dashboards draw with Plotly, which adds its own rules to one empty <style> element it
# creates (through the CSS object model, which no policy governs). Only an *empty* inline
# style is allowed, by the hash of the empty string; no inline script, as everywhere.
EMPTY_STYLE = "'sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU='"
DASHBOARD_POLICY = PAGE_POLICY.replace("style-src 'self'", f"style-src 'self' {EMPTY_STYLE}")
DASHBOARD_PAGES = [
    *ALWAYS,
    (b"content-security-policy", DASHBOARD_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
]
# The API reference renders with its own scripts; it gets the headers every response does.
NO_PAGE_POLICY = ("/api/", "/schema")


def for_path(path: str) -> list[tuple[bytes, bytes]]:
    """The security headers a response to ``path`` carries (added by the request
    middleware, which already rewrites every response's headers for the request id)."""
    if path.startswith(NO_PAGE_POLICY):
        return ALWAYS
    return DASHBOARD_PAGES if path.startswith("/dashboards") else ALWAYS_AND_PAGES
