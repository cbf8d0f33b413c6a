"""The journeys' part of a customer's privacy rights: what an access export holds about
them here, and what an erasure blanks and stops here (``coaching.privacy`` is the whole
operation, adding the messages)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from core import clock
from core.tenancy import Tenant
from journeys.customers.consent import consent_history, derive_consent
from journeys.customers.records import get_customer
from journeys.customers.schemas import utc
from journeys.tables import ConsentRecord, Customer, Enrollment, Step


def iso(moment: datetime | None) -> str | None:
    stamp = utc(moment)
    return stamp.isoformat().replace("+00:00", "Z") if stamp else None


def plain(row: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if isinstance(value, datetime):
            out[key] = iso(value)
        elif isinstance(value, UUID):
            out[key] = str(value)
        else:
            out[key] = value
    return out


def _anchors(text: str) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return text


async def export_profile(tenant: Tenant, customer_id: UUID) -> dict[str, Any]:
    """What the journeys context holds about the customer, as plain JSON: profile, consent,
    enrollments with their steps (``coaching.privacy`` adds the messages)."""
    customer = await get_customer(tenant, customer_id)
    profile = plain(customer.to_dict())
    profile.pop("organization", None)
    records = await consent_history(tenant, customer_id)
    history = []
    for r in records:
        item = plain(r.to_dict())
        for internal in ("organization", "customer"):
            item.pop(internal, None)
        history.append(item)
    current = [
        plain(
            {
                "channel": s.channel,
                "purpose": s.purpose,
                "status": s.status,
                "source": s.source,
                "recorded_at": s.recorded_at,
            }
        )
        for _, s in sorted(derive_consent(records).items())
    ]
    enrollments = await (
        tenant.select(
            Enrollment,
            Enrollment.id,
            Enrollment.journey.key.as_alias("journey_key"),
            Enrollment.journey.title.as_alias("journey_title"),
            Enrollment.journey_version.version.as_alias("journey_version"),
            Enrollment.anchors,
            Enrollment.timezone,
            Enrollment.holdout,
            Enrollment.status,
            Enrollment.ends_at,
            Enrollment.created_at,
            Enrollment.cancelled_at,
        )
        .where(Enrollment.customer == customer_id)
        .order_by(Enrollment.created_at, Enrollment.id)
    )
    steps = await (
        tenant.select(
            Step,
            Step.id,
            Step.enrollment,
            Step.behaviour,
            Step.occurrence,
            Step.due_at,
            Step.grace_until,
            Step.status,
            Step.completed_at,
            Step.completed_via,
            Step.created_at,
        )
        .where(Step.customer == customer_id)
        .order_by(Step.due_at, Step.id)
    )
    steps_of: dict[str, list[dict[str, Any]]] = {}
    for s in steps:
        item = plain(s)
        steps_of.setdefault(item.pop("enrollment"), []).append(item)
    out_enrollments = []
    for e in enrollments:
        item = plain(e)
        item["anchors"] = _anchors(e["anchors"])
        item["steps"] = steps_of.get(item["id"], [])
        out_enrollments.append(item)
    return {
        "format": "slipguard-customer-export/1",
        "exported_at": iso(clock.now()),
        "customer": profile,
        "current_consent": current,
        "consent_history": history,
        "enrollments": out_enrollments,
    }


@dataclass(frozen=True)
class ErasedProfile:
    """What :func:`erase_profile` did."""

    customer_id: UUID
    enrollment_ids: list[UUID]  # every enrollment of the customer, whatever its status
    enrollments_cancelled: int
    steps_cancelled: int
    consent_records_kept: int


async def erase_profile(tenant: Tenant, customer_id: UUID, moment: datetime) -> ErasedProfile:
    """The journeys' part of an erasure, in the caller's transaction (``coaching.privacy``
    runs the whole of it): names are blanked; phone, email and external_ref become null;
    ``erased_at`` is set (the first time only); active enrollments are cancelled and
    pending steps not yet due too. The pseudonym stays: it identifies no one and keeps the error
    statistics whole. Anchors stay as well: on a pseudonymous row they identify no one.

    Consent records are kept, because proof that consent was given (and withdrawn) must be
    retained for years after the fact; their ``evidence`` is blanked, since it may hold
    personal data such as an IP address or a signature. Repeating an erasure is harmless.
    """
    customer = await get_customer(tenant, customer_id)
    if customer.erased_at is None:
        await tenant.update(
            Customer,
            {
                Customer.first_name: "",
                Customer.last_name: "",
                Customer.phone: None,
                Customer.email: None,
                Customer.external_ref: None,
                Customer.erased_at: moment,
                Customer.updated_at: moment,
            },
        ).where(Customer.id == customer_id)
    # The rest runs on every call, so a repeat also stops anything that slipped in since.
    every = await tenant.select(Enrollment, Enrollment.id, Enrollment.status).where(
        Enrollment.customer == customer_id
    )
    active = [e["id"] for e in every if e["status"] == "active"]
    if active:
        await tenant.update(
            Enrollment, {Enrollment.status: "cancelled", Enrollment.cancelled_at: moment}
        ).where(Enrollment.id.is_in(active))
    # Every pending step of the customer not yet due, not only the active enrollments':
    # an erased person must receive nothing at all. Steps already due stay as they are
    # (the missed-step check closes them as it would have): they were asked of someone,
    # so they count in the statistics, which must read the same after an erasure.
    pending = await (
        tenant.update(Step, {Step.status: "cancelled"})
        .where((Step.customer == customer_id) & (Step.status == "pending") & (Step.due_at > moment))
        .returning(Step.id)
    )
    await tenant.update(ConsentRecord, {ConsentRecord.evidence: ""}).where(
        ConsentRecord.customer == customer_id
    )
    kept = await tenant.select(ConsentRecord, ConsentRecord.id).where(
        ConsentRecord.customer == customer_id
    )
    return ErasedProfile(
        customer_id, [e["id"] for e in every], len(active), len(pending), len(kept)
    )
