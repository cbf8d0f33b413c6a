"""SMS through the real Twilio SDK (pointed at another host with ``TWILIO_API_BASE``)."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import requests
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from coaching.channels.base import Outcome, Outgoing, Permanent, Sent, Transient
from coaching.channels.twilio_http import RedirectingTwilioHttpClient
from settings import TwilioSettings

# Twilio error codes that will never succeed for this address, with our reason for them.
PERMANENT = {
    21610: "unsubscribed",  # the recipient replied STOP at the carrier
    21211: "invalid_number",
    21614: "not_mobile",
    30006: "landline",
    21408: "region_not_enabled",
    21612: "unreachable_route",
}
OPTED_OUT = {21610}
# Codes that say "not now": rate limits and queue overflows.
TRANSIENT = {20429, 30001, 20500, 20503}


def classify(exc: TwilioRestException, retry_after: float | None) -> Outcome:
    """Turn a refused request into an outcome: retry, or give up with a reason."""
    code = int(exc.code) if exc.code is not None else 0
    if code in PERMANENT:
        return Permanent(str(code), PERMANENT[code], opted_out=code in OPTED_OUT)
    if exc.status == 429 or code in TRANSIENT or exc.status >= 500:
        return Transient(str(code or exc.status), f"twilio answered {exc.status}", retry_after)
    if exc.status in (401, 403):
        # Wrong credentials are an operator's mistake: keep the messages until it is fixed.
        return Transient(str(code or exc.status), "twilio refused the credentials", 300.0)
    return Permanent(str(code or exc.status), "rejected")


class TwilioSms:
    """One SDK client per worker thread (the SDK's HTTP session is not shared)."""

    provider = "twilio"

    def __init__(self, settings: TwilioSettings, status_callback: str | None) -> None:
        self.settings = settings
        self.status_callback = status_callback
        self._local = threading.local()
        # The SDK imports its resources on first use (a few hundred milliseconds): done
        # here, not on a worker's first send, which would then leave late and crowd the
        # next one at the provider.
        _ = self._client()[0].messages

    def _client(self) -> tuple[Client, RedirectingTwilioHttpClient]:
        pair = getattr(self._local, "pair", None)
        if pair is None:
            http = RedirectingTwilioHttpClient(base_url=self.settings.api_base or None, timeout=10)
            client = Client(
                self.settings.account_sid, self.settings.auth_token.get(), http_client=http
            )
            pair = self._local.pair = (client, http)
        return pair

    def send(self, message: Outgoing) -> Outcome:
        client, http = self._client()
        sender = message.sender
        params: dict[str, str] = {"to": message.to, "body": message.body}
        if sender.messaging_service_sid:
            params["messaging_service_sid"] = sender.messaging_service_sid
        else:
            params["from_"] = sender.sms_from
        if self.status_callback:
            params["status_callback"] = self.status_callback
        try:
            created = client.messages.create(**params)
        except TwilioRestException as exc:
            return classify(exc, http.last_retry_after())
        except requests.RequestException as exc:
            return Transient("network", type(exc).__name__)
        return Sent(str(created.sid))

    def find_sent(self, message: Outgoing, since: datetime) -> str | None:
        client, _ = self._client()
        try:
            found = client.messages.list(
                to=message.to, date_sent_after=since - timedelta(minutes=1), limit=100
            )
        except (TwilioRestException, requests.RequestException):
            raise LookupError("the provider could not be asked") from None
        for m in found:
            if m.body == message.body:
                return str(m.sid)
        return None
