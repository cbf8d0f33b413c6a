"""Twilio SDK HTTP clients that can target another base URL and remember Retry-After.

Pointing the SDK at a different origin lets local development and tests run against a fake
Twilio server without changing any call sites. The SDK's TwilioRestException carries neither
response headers nor Retry-After, so the clients keep the last response's headers aside.
"""

from __future__ import annotations

import base64
import contextvars
import math
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from requests.structures import CaseInsensitiveDict
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

__all__ = [
    "RedirectingAsyncTwilioHttpClient",
    "RedirectingTwilioHttpClient",
    "parse_retry_after",
    "rewrite_url",
]

_TWILIO_DOMAIN = "twilio.com"


def rewrite_url(url: str, base_url: str | None) -> str:
    """Move a request for any *.twilio.com host onto base_url, keeping path and query."""
    if not base_url:
        return url
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if host != _TWILIO_DOMAIN and not host.endswith("." + _TWILIO_DOMAIN):
        return url
    base = urlsplit(base_url)
    path = base.path.rstrip("/") + parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, parts.fragment))


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After value (delta-seconds or HTTP-date), or None."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            # HTTP-dates are always GMT; a naive result means the zone was written as -0000.
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


def _basic_auth(username: str, password: str) -> str:
    """Build an HTTP Basic Authorization header value."""
    raw = f"{username}:{password}"
    try:
        encoded = raw.encode("latin-1")
    except UnicodeEncodeError:
        encoded = raw.encode()
    return "Basic " + base64.b64encode(encoded).decode("ascii")


def _copy_headers(headers: Any) -> CaseInsensitiveDict[str]:
    """Snapshot response headers (requests or aiohttp) into a case-insensitive dict."""
    copied: CaseInsensitiveDict[str] = CaseInsensitiveDict()
    if headers:
        for key, value in headers.items():
            copied[str(key)] = str(value)
    return copied


class RedirectingTwilioHttpClient(TwilioHttpClient):
    """Synchronous Twilio HTTP client with optional base-URL rewriting and header capture."""

    def __init__(self, base_url: str | None = None, timeout: float = 10, **kw: Any) -> None:
        """Create the client; base_url (e.g. "http://127.0.0.1:8080") replaces *.twilio.com."""
        super().__init__(timeout=timeout, **kw)
        self.base_url = base_url
        # Per thread, because one client is typically shared by all worker threads.
        self._local = threading.local()

    def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request (to base_url when set) and remember its response headers."""
        self._local.headers = None
        response: Response = super().request(
            method,
            rewrite_url(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            auth=auth,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )
        self._local.headers = _copy_headers(response.headers)
        return response

    def last_response_headers(self) -> Mapping[str, str] | None:
        """Headers of this thread's last completed response, or None."""
        headers: Mapping[str, str] | None = getattr(self._local, "headers", None)
        return headers

    def last_retry_after(self) -> float | None:
        """Seconds from the Retry-After header of this thread's last response, or None."""
        headers = self.last_response_headers()
        return parse_retry_after(headers.get("Retry-After")) if headers else None


class RedirectingAsyncTwilioHttpClient(AsyncTwilioHttpClient):
    """Asynchronous Twilio HTTP client with optional base-URL rewriting and header capture."""

    def __init__(self, base_url: str | None = None, timeout: float = 10, **kw: Any) -> None:
        """Create the client (inside a running event loop, as aiohttp requires)."""
        super().__init__(timeout=timeout, **kw)
        self.base_url = base_url
        # Per task rather than per thread: concurrent sends share one thread.
        self._headers: contextvars.ContextVar[CaseInsensitiveDict[str] | None] = (
            contextvars.ContextVar(f"twilio_last_headers_{id(self)}", default=None)
        )

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,
        allow_redirects: bool = False,
    ) -> Response:
        """Send the request (to base_url when set) and remember its response headers."""
        self._headers.set(None)
        if auth is not None:
            # aiohttp deprecates its auth= parameter; an explicit header means the same thing.
            headers = {**(headers or {}), "Authorization": _basic_auth(*auth)}
        response: Response = await super().request(
            method,
            rewrite_url(url, self.base_url),
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=self.timeout if timeout is None else timeout,
            allow_redirects=allow_redirects,
        )
        self._headers.set(_copy_headers(response.headers))
        return response

    def last_response_headers(self) -> Mapping[str, str] | None:
        """Headers of the current task's last completed response, or None."""
        return self._headers.get()

    def last_retry_after(self) -> float | None:
        """Seconds from the Retry-After header of the current task's last response, or None."""
        headers = self._headers.get()
        return parse_retry_after(headers.get("Retry-After")) if headers else None
