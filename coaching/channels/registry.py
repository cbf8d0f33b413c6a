"""Which channel carries each kind of message, from settings: real providers when they
are configured, the development outbox otherwise."""

from __future__ import annotations

from dataclasses import dataclass

from coaching.channels.base import Channel
from coaching.channels.email import SmtpEmail
from coaching.channels.outbox import OutboxChannel
from coaching.channels.sms import TwilioSms
from settings import Settings

STATUS_CALLBACK_PATH = "/webhooks/twilio/status"


@dataclass(frozen=True)
class Channels:
    """The channel for ``sms`` and for ``email``."""

    sms: Channel
    email: Channel

    def of(self, name: str) -> Channel:
        return self.sms if name == "sms" else self.email


def channels_for(settings: Settings) -> Channels:
    """Twilio when its account is set, SMTP when a host is set; the outbox otherwise (and
    for both when ``SLIPGUARD_OUTBOX_CHANNEL`` is on)."""
    record = settings.delivery.outbox_channel
    sms: Channel
    email: Channel
    if settings.twilio.configured and not record:
        callback = settings.server.public_url.rstrip("/") + STATUS_CALLBACK_PATH
        sms = TwilioSms(settings.twilio, callback)
    else:
        sms = OutboxChannel("sms")
    email = (
        SmtpEmail(settings.email)
        if settings.email.smtp_host and not record
        else OutboxChannel("email")
    )
    return Channels(sms, email)
