"""A fake Twilio REST API (Messages resource only) served over real HTTP on 127.0.0.1.

It speaks the wire format the official SDK expects, so production code can be exercised with
the real twilio Client pointed at it, including authentication failures, rate limiting and
Twilio's error codes.
"""

from __future__ import annotations

import base64
import hmac
import json
import re
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, NamedTuple
from urllib.parse import parse_qs, urlencode, urlsplit

from journeys.sms import segments

DEFAULT_ACCOUNT_SID = "AC" + "0" * 31 + "1"
DEFAULT_AUTH_TOKEN = "fake-auth-token"
API_VERSION = "2010-04-01"

# Messages Twilio documents for the error codes tests are most likely to inject.
ERROR_MESSAGES: dict[int, str] = {
    20003: "Authenticate",
    20404: "The requested resource was not found",
    20429: "Too Many Requests",
    20500: "An internal server error has occurred",
    21211: "Invalid 'To' Phone Number",
    21602: "Message body is required.",
    21603: "A 'From' or 'MessagingServiceSid' parameter is required to send a message.",
    21604: "A 'To' phone number is required.",
    21610: "Attempt to send to unsubscribed recipient",
    21614: "'To' number is not a valid mobile number",
    30001: "Queue overflow",
}

_MESSAGES_PATH = re.compile(rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages\.json$")
_MESSAGE_PATH = re.compile(
    rf"^/{API_VERSION}/Accounts/(?P<account>[^/]+)/Messages/(?P<sid>[^/]+)\.json$"
)
_PHONE_NUMBER = re.compile(r"^(?:[a-z]+:)?\+[1-9]\d{6,14}$")


@dataclass(frozen=True)
class SentMessage:
    """A message the fake accepted."""

    sid: str
    to: str
    from_: str | None
    body: str
    status_callback: str | None
    messaging_service_sid: str | None
    received_at: datetime
    account_sid: str = DEFAULT_ACCOUNT_SID


class InboundAnswer(NamedTuple):
    """What a receiver answered an incoming-message webhook with."""

    status: int
    body: str
    content_type: str


@dataclass
class _Fault:
    """An injected error response."""

    status: int
    code: int
    retry_after: float | None = None
    json_body: bool = True
    message: str | None = None


def num_segments(body: str) -> int:
    """Count SMS segments the way carriers split GSM-7 and UCS-2 bodies."""
    return segments(body)


def status_callback_params(
    message: SentMessage, status: str, error_code: int | None = None
) -> dict[str, str]:
    """Form parameters Twilio POSTs to a message's StatusCallback URL."""
    params = {
        "AccountSid": message.account_sid,
        "ApiVersion": API_VERSION,
        "MessageSid": message.sid,
        "SmsSid": message.sid,
        "MessageStatus": status,
        "SmsStatus": status,
        "To": message.to,
    }
    if message.from_ is not None:
        params["From"] = message.from_
    if message.messaging_service_sid is not None:
        params["MessagingServiceSid"] = message.messaging_service_sid
    if error_code is not None:
        params["ErrorCode"] = str(error_code)
    return params


def _phrase(status: int) -> str:
    """The standard reason phrase for an HTTP status, tolerating non-standard codes."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def _rfc2822(moment: datetime) -> str:
    """Format a timestamp the way Twilio's JSON does ("Thu, 30 Jul 2015 20:12:31 +0000")."""
    return format_datetime(moment.astimezone(UTC))


class FakeTwilio:
    """Fake Twilio Messages API on a free 127.0.0.1 port, with fault injection."""

    def __init__(
        self,
        account_sid: str = DEFAULT_ACCOUNT_SID,
        auth_token: str = DEFAULT_AUTH_TOKEN,
        host: str = "127.0.0.1",
    ) -> None:
        """Configure the credentials the fake accepts; call start() to listen."""
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.host = host
        self._lock = threading.Condition()
        self._messages: list[SentMessage] = []
        self._resources: dict[str, dict[str, Any]] = {}
        self._faults: deque[_Fault] = deque()
        self._recipient_faults: dict[str, _Fault] = {}
        self._rate_limit: int | None = None
        self._window = 1.0
        self._accepted_at: deque[float] = deque()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL (scheme and host:port) to hand to RedirectingTwilioHttpClient."""
        return f"http://{self.host}:{self.port}"

    @property
    def port(self) -> int:
        """The port the server listens on."""
        if self._server is None:
            raise RuntimeError("FakeTwilio is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def messages(self) -> list[SentMessage]:
        """Snapshot of the accepted messages, oldest first."""
        with self._lock:
            return list(self._messages)

    def start(self) -> FakeTwilio:
        """Start serving in a daemon thread."""
        if self._server is not None:
            return self
        server = ThreadingHTTPServer((self.host, 0), _make_handler(self))
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and release the port."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeTwilio:
        """Start the server for a with-block."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the server at the end of a with-block."""
        self.stop()

    def reset(self) -> None:
        """Forget recorded messages, pending faults and the rate limit."""
        with self._lock:
            self._messages.clear()
            self._resources.clear()
            self._faults.clear()
            self._recipient_faults.clear()
            self._rate_limit = None
            self._accepted_at.clear()

    def wait_for(self, count: int, timeout: float = 5.0) -> list[SentMessage]:
        """Block until at least `count` messages were accepted; TimeoutError otherwise."""
        with self._lock:
            if not self._lock.wait_for(lambda: len(self._messages) >= count, timeout):
                raise TimeoutError(
                    f"expected {count} Twilio message(s) within {timeout} s, "
                    f"got {len(self._messages)}"
                )
            return list(self._messages)

    def fail_next(
        self,
        status: int,
        code: int,
        *,
        times: int = 1,
        retry_after: float | None = None,
        json_body: bool = True,
        message: str | None = None,
    ) -> None:
        """Answer the next `times` message-create requests with this error instead."""
        with self._lock:
            for _ in range(times):
                self._faults.append(_Fault(status, code, retry_after, json_body, message))

    def fail_to(self, number: str, status: int, code: int, *, message: str | None = None) -> None:
        """Reject every message to `number` with this error (e.g. 400/21610 for STOP)."""
        with self._lock:
            self._recipient_faults[number] = _Fault(status, code, message=message)

    def rate_limit(self, per_second: int | None, jitter: float = 0.0) -> None:
        """Answer 429/20429 once more than `per_second` messages fall in one second (None:
        off); ``jitter`` seconds of arrival noise are forgiven (the window is that much
        shorter), as a provider's counting is not exact to the millisecond either."""
        with self._lock:
            self._rate_limit = per_second
            self._window = 1.0 - jitter
            self._accepted_at.clear()

    def set_status(self, sid: str, status: str, error_code: int | None = None) -> None:
        """Change what fetching message `sid` reports, as delivery progress would."""
        with self._lock:
            resource = self._resources[sid]
            resource["status"] = status
            resource["error_code"] = error_code
            resource["error_message"] = ERROR_MESSAGES.get(error_code) if error_code else None
            resource["date_updated"] = _rfc2822(datetime.now(UTC))

    def status_callback_params(
        self, message: SentMessage, status: str, error_code: int | None = None
    ) -> dict[str, str]:
        """Form parameters Twilio would POST to the message's StatusCallback."""
        return status_callback_params(message, status, error_code)

    def post_status(
        self,
        sid: str,
        status: str,
        error_code: int | None = None,
        *,
        url: str | None = None,
        tamper: bool = False,
    ) -> int:
        """POST a signed status callback for message ``sid`` to its StatusCallback (or
        ``url``), as Twilio does; returns the HTTP status the receiver answered.
        ``tamper`` changes the body after signing."""
        from twilio.request_validator import RequestValidator

        message = next(m for m in self.messages if m.sid == sid)
        target = url or message.status_callback
        if not target:
            raise ValueError(f"message {sid} has no status callback")
        self.set_status(sid, status, error_code)
        params = status_callback_params(message, status, error_code)
        signature = RequestValidator(self.auth_token).compute_signature(target, params)
        if tamper:
            params["MessageStatus"] = "delivered" if status != "delivered" else "failed"
        request = urllib.request.Request(
            target,
            data=urlencode(params).encode(),
            headers={
                "X-Twilio-Signature": signature,
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)

    def post_inbound(
        self,
        url: str,
        sender: str,
        to: str,
        body: str,
        *,
        messaging_service_sid: str | None = None,
        sid: str | None = None,
        tamper: bool = False,
        signed: bool = True,
    ) -> InboundAnswer:
        """POST a signed incoming-message webhook to ``url``, as Twilio does when a phone
        texts one of the account's numbers; returns the receiver's answer (TwiML).
        ``tamper`` changes the text after signing; ``signed=False`` sends no signature."""
        from twilio.request_validator import RequestValidator

        sid = sid or "SM" + secrets.token_hex(16)
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "MessageSid": sid,
            "SmsMessageSid": sid,
            "SmsSid": sid,
            "From": sender,
            "To": to,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": str(num_segments(body)),
        }
        if messaging_service_sid is not None:
            params["MessagingServiceSid"] = messaging_service_sid
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        if signed:
            signature = RequestValidator(self.auth_token).compute_signature(url, params)
            headers["X-Twilio-Signature"] = signature
        if tamper:
            params["Body"] = body + " (changed)"
        request = urllib.request.Request(
            url, data=urlencode(params).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                return InboundAnswer(
                    int(response.status),
                    response.read().decode(),
                    response.headers.get("Content-Type", ""),
                )
        except urllib.error.HTTPError as exc:
            return InboundAnswer(
                int(exc.code),
                exc.read().decode(errors="replace"),
                exc.headers.get("Content-Type", ""),
            )

    def error_body(self, status: int, code: int, message: str | None = None) -> dict[str, Any]:
        """Twilio's JSON error document."""
        return {
            "code": code,
            "message": message or ERROR_MESSAGES.get(code, _phrase(status)),
            "more_info": f"https://www.twilio.com/docs/errors/{code}",
            "status": status,
        }

    # --- request handling, called from server threads --------------------------------------

    def _authorised(self, header: str | None) -> bool:
        """Check HTTP Basic credentials against the configured account."""
        if not header or not header.startswith("Basic "):
            return False
        try:
            decoded = base64.b64decode(header[6:], validate=True).decode()
        except (ValueError, UnicodeDecodeError):
            return False
        user, _, password = decoded.partition(":")
        expected = f"{self.account_sid}:{self.auth_token}"
        return hmac.compare_digest(f"{user}:{password}".encode(), expected.encode())

    def _create(self, account: str, form: dict[str, str]) -> dict[str, Any] | _Fault:
        """Apply faults, validation and rate limiting, then record and return the message."""
        to = form.get("To", "")
        with self._lock:
            if self._faults:
                return self._faults.popleft()
            if to in self._recipient_faults:
                return self._recipient_faults[to]
            invalid = self._validate(form)
            if invalid is not None:
                return invalid
            now = time.monotonic()
            if self._rate_limit is not None:
                while self._accepted_at and now - self._accepted_at[0] >= self._window:
                    self._accepted_at.popleft()
                if len(self._accepted_at) >= self._rate_limit:
                    return _Fault(429, 20429, retry_after=1)
                self._accepted_at.append(now)
            message = SentMessage(
                sid="SM" + secrets.token_hex(16),
                to=to,
                from_=form.get("From"),
                body=form.get("Body", ""),
                status_callback=form.get("StatusCallback"),
                messaging_service_sid=form.get("MessagingServiceSid"),
                received_at=datetime.now(UTC),
                account_sid=account,
            )
            resource = self._resource(message)
            self._messages.append(message)
            self._resources[message.sid] = resource
            self._lock.notify_all()
            return dict(resource)

    def _validate(self, form: dict[str, str]) -> _Fault | None:
        """Reject requests the real API would refuse."""
        to = form.get("To")
        if not to:
            return _Fault(400, 21604)
        if not _PHONE_NUMBER.match(to):
            return _Fault(400, 21211, message=f"The 'To' number {to} is not a valid phone number.")
        if not form.get("From") and not form.get("MessagingServiceSid"):
            return _Fault(400, 21603)
        if not form.get("Body") and not form.get("MediaUrl") and not form.get("ContentSid"):
            return _Fault(400, 21602)
        return None

    def _resource(self, message: SentMessage) -> dict[str, Any]:
        """Build the JSON message resource Twilio returns."""
        uri = f"/{API_VERSION}/Accounts/{message.account_sid}/Messages/{message.sid}"
        created = _rfc2822(message.received_at)
        # Without a From number Twilio picks a sender later and reports "accepted" first.
        status = "queued" if message.from_ else "accepted"
        return {
            "account_sid": message.account_sid,
            "api_version": API_VERSION,
            "body": message.body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": message.from_,
            "messaging_service_sid": message.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(num_segments(message.body)),
            "price": None,
            "price_unit": "USD",
            "sid": message.sid,
            "status": status,
            "subresource_uris": {"media": f"{uri}/Media.json", "feedback": f"{uri}/Feedback.json"},
            "to": message.to,
            "uri": f"{uri}.json",
        }

    def _list(self, account: str, query: dict[str, str]) -> dict[str, Any]:
        """One page of messages, newest first, filtered by ``To`` and ``DateSent>``, as
        the SDK's ``messages.list`` reads them (recovery after a lost send outcome)."""
        to = query.get("To")
        after = query.get("DateSent>")
        since = datetime.fromisoformat(after.replace("Z", "+00:00")) if after else None
        size = min(int(query.get("PageSize") or 50), 1000)
        with self._lock:
            chosen = [
                self._resources[m.sid]
                for m in reversed(self._messages)
                if (to is None or m.to == to) and (since is None or m.received_at >= since)
            ][:size]
        uri = f"/{API_VERSION}/Accounts/{account}/Messages.json"
        return {
            "messages": [dict(r) for r in chosen],
            "end": max(0, len(chosen) - 1),
            "first_page_uri": uri,
            "next_page_uri": None,
            "page": 0,
            "page_size": size,
            "previous_page_uri": None,
            "start": 0,
            "uri": uri,
        }

    def _fetch(self, sid: str) -> dict[str, Any] | None:
        """Return a copy of a stored message resource."""
        with self._lock:
            resource = self._resources.get(sid)
            return dict(resource) if resource is not None else None


def _make_handler(fake: FakeTwilio) -> type[BaseHTTPRequestHandler]:
    """Build a request handler class bound to one FakeTwilio."""

    class Handler(BaseHTTPRequestHandler):
        """Routes the Messages endpoints to the FakeTwilio."""

        server_version = "FakeTwilio/1.0"

        def log_message(self, format: str, *args: Any) -> None:
            """Stay quiet: tests do not want a line per request on stderr."""

        def do_POST(self) -> None:
            """Create a message."""
            path = urlsplit(self.path).path
            match = _MESSAGES_PATH.match(path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if not self._check_auth():
                return
            if match is None or match["account"] != fake.account_sid:
                self._error(
                    _Fault(404, 20404, message=f"The requested resource {path} was not found")
                )
                return
            parsed = parse_qs(raw.decode(errors="replace"), keep_blank_values=True)
            form = {key: values[0] for key, values in parsed.items()}
            result = fake._create(match["account"], form)
            if isinstance(result, _Fault):
                self._error(result)
            else:
                self._json(201, result)

        def do_GET(self) -> None:
            """Fetch a message, or list them."""
            parts = urlsplit(self.path)
            path = parts.path
            match = _MESSAGE_PATH.match(path)
            if not self._check_auth():
                return
            listing = _MESSAGES_PATH.match(path)
            if listing is not None and listing["account"] == fake.account_sid:
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                self._json(200, fake._list(listing["account"], query))
                return
            resource = None
            if match is not None and match["account"] == fake.account_sid:
                resource = fake._fetch(match["sid"])
            if resource is None:
                self._error(
                    _Fault(404, 20404, message=f"The requested resource {path} was not found")
                )
            else:
                self._json(200, resource)

        def _check_auth(self) -> bool:
            """Answer 401 unless the request carries the account's credentials."""
            if fake._authorised(self.headers.get("Authorization")):
                return True
            self._error(_Fault(401, 20003), {"WWW-Authenticate": 'Basic realm="Twilio API"'})
            return False

        def _error(self, fault: _Fault, headers: dict[str, str] | None = None) -> None:
            extra = dict(headers or {})
            if fault.retry_after is not None:
                extra["Retry-After"] = f"{fault.retry_after:g}"
            if fault.json_body:
                self._json(
                    fault.status, fake.error_body(fault.status, fault.code, fault.message), extra
                )
            else:
                text = fault.message or _phrase(fault.status)
                self._send(fault.status, text.encode(), "text/plain; charset=utf-8", extra)

        def _json(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            self._send(status, json.dumps(body).encode(), "application/json", headers or {})

        def _send(
            self, status: int, payload: bytes, content_type: str, headers: dict[str, str]
        ) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

    return Handler
