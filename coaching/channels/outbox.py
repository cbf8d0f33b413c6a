"""The development outbox: records messages instead of sending them.

The default when no Twilio or SMTP credentials are configured, so the whole loop (plan,
claim, check, render, "send", history) runs on a laptop; the ``/outbox`` page shows the
rendered messages, which the nudge rows keep.
"""

from __future__ import annotations

import logging
from datetime import datetime

from coaching.channels.base import Outcome, Outgoing, Sent

log = logging.getLogger("slipguard.outbox")


class OutboxChannel:
    """Accepts every message; its provider id is derived from the nudge, so a repeat is
    recognisably the same message."""

    provider = "outbox"

    def __init__(self, channel: str) -> None:
        self.channel = channel

    def send(self, message: Outgoing) -> Outcome:
        log.info("message recorded in the outbox", extra={"nudge_id": str(message.nudge_id)})
        return Sent(f"outbox-{message.nudge_id}")

    def find_sent(self, message: Outgoing, since: datetime) -> str | None:
        # Recording is the row update itself: a lost outcome means it was not recorded.
        return None
