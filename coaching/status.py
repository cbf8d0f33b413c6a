"""Provider status callbacks: kept as events, and moving a message's status forward only.

Callbacks arrive late, twice and out of order; a late ``sent`` must never overwrite
``delivered``. Each status has a rank and a callback applies only when it ranks higher
than the message's current one (a conditional update, so two racing callbacks agree).
"""

from __future__ import annotations

import logging
from typing import Any

from twilio.request_validator import RequestValidator

from coaching.errors import SignatureInvalid
from coaching.tables import DeliveryEvent, Nudge
from core import clock
from core.ids import new_id

log = logging.getLogger("slipguard.status")

# Twilio's words → ours (None: in flight at the provider, nothing to record on the row).
PROVIDER_STATUS: dict[str, str | None] = {
    "accepted": None,
    "scheduled": None,
    "queued": None,
    "sending": None,
    "sent": "sent",
    "delivered": "delivered",
    "read": "delivered",
    "undelivered": "failed",
    "failed": "failed",
}
RANK = {"sending": 1, "sent": 2, "delivered": 3, "failed": 3}


def verify_twilio(auth_token: str, url: str, params: dict[str, str], signature: str) -> None:
    """Raise unless ``signature`` is Twilio's for this exact URL and these parameters."""
    if not auth_token or not signature:
        raise SignatureInvalid("the request is not signed by the configured Twilio account")
    if not RequestValidator(auth_token).validate(url, params, signature):
        raise SignatureInvalid("the signature does not match this URL and body")


async def record_status(provider_id: str, status: str, error_code: str | None) -> bool:
    """Keep the callback as an event and apply it if it moves the message forward;
    returns False when no message has that provider id (logged, nothing stored)."""
    row = (
        await Nudge.select(Nudge.id, Nudge.organization, Nudge.status)
        .where(Nudge.provider_id == provider_id)
        .first()
    )
    if row is None:
        log.warning("status for an unknown message", extra={"provider_id": provider_id[:40]})
        return False
    ours = PROVIDER_STATUS.get(status)
    applied = False
    current = row["status"]
    if ours is not None and RANK.get(ours, 0) > RANK.get(current, 99):
        values: dict[Any, Any] = {Nudge.status: ours, Nudge.updated_at: clock.now()}
        if ours == "failed":
            values[Nudge.reason] = status  # undelivered or failed
            values[Nudge.error_code] = (error_code or "")[:16] or None
        moved = (
            await Nudge.update(values)
            .where((Nudge.id == row["id"]) & (Nudge.status == current))
            .returning(Nudge.id)
        )
        applied = bool(moved)
    await DeliveryEvent.insert(
        DeliveryEvent(
            id=new_id(),
            organization=row["organization"],
            nudge=row["id"],
            provider_id=provider_id[:64],
            status=status[:16],
            error_code=(error_code or "")[:16] or None,
            applied=applied,
            received_at=clock.now(),
        )
    )
    return True
