"""Slips that do not come from staff: customers' own reports (SMS replies, the
self-service page), their reasons matched to the behaviour's failure modes."""

from __future__ import annotations

from uuid import UUID

from core.tenancy import Tenant
from journeys.definition import Behaviour
from journeys.replies import normalize
from slips.catalogue import current_journeys
from slips.tables import Slip
from slips.validation import Reporter, SlipInput, SlipRow
from slips.writes import record_slip


def match_failure_mode(behaviour: Behaviour, text: str) -> str | None:
    """The failure mode a customer's words name: its number in the behaviour's list
    (``2``: a numbered "why did you miss?" question lists the modes in that order), a
    reply keyword (compared in ``journeys.replies`` normal form), or the mode's key/title."""
    words = text.split()
    whole = normalize(text)
    first = normalize(words[0]) if words else ""
    if whole.isdecimal() and whole.isascii():
        n = int(whole)
        modes = behaviour.failure_modes
        return modes[n - 1].key if 1 <= n <= len(modes) else None
    for mode in behaviour.failure_modes:
        if {whole, first} & {normalize(k) for k in mode.reply}:
            return mode.key
    lowered = text.lower()
    for mode in behaviour.failure_modes:
        names = {mode.key.replace("-", " "), mode.title.lower()} - {""}
        if any(name in lowered for name in names):
            return mode.key
    return None


async def record_customer_report(
    tenant: Tenant, customer_id: UUID, journey: str, behaviour: str, text: str,
    step_id: UUID | None = None, channel: str | None = None, key: str | None = None,
    failure_mode: str | None = None,
) -> Slip | SlipRow:  # fmt: skip
    """A customer's own account of a slip (SMS reply, self-service page), reason mapped
    to a failure mode when it matches (or ``failure_mode``, when the caller matched it
    against the version the customer was asked from); the free text is kept as the note."""
    mode = failure_mode
    if mode is None:
        current = (await current_journeys(tenant, [journey])).get(journey)
        definition_behaviour = current.definition.behaviour(behaviour) if current else None
        mode = match_failure_mode(definition_behaviour, text) if definition_behaviour else None
    if key is not None:
        existing = await tenant.objects(Slip).where(Slip.idempotency_key == key).first()
        if existing is not None:
            return existing
    item = SlipInput(
        journey=journey,
        behaviour=behaviour,
        failure_mode=mode,
        customer_id=customer_id,
        step_id=step_id,
        channel=channel,
        note=text[:2000],
        key=key,
    )
    return await record_slip(tenant, item, Reporter(), source="customer")
