"""The live part of the demo: parcel deliveries an hour from now, whose first texts fall
due within a minute of loading, so the outbox fills while you watch."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from core.tenancy import Tenant
from journeys.enrollments import services as enrollments
from journeys.tables import ConsentRecord, Customer

FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena"]
LAST = ["Okafor", "Smith", "Wang", "Novak", "Garcia", "Haddad", "Kowalski", "Sato", "Brown"]
# Candidates for the "live" customers: those where it is daytime now (a reminder at night
# would rightly be held).
LIVE_ZONES = [
    "Pacific/Honolulu", "America/Los_Angeles", "America/Chicago", "America/New_York",
    "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Africa/Nairobi", "Asia/Dubai",
    "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
]  # fmt: skip
LIVE_CUSTOMERS = 6


def daytime_zones(now: datetime) -> list[str]:
    """Zones of LIVE_ZONES where it is between 09:00 and 19:00 now (never empty: the
    list spans the globe, so some of it is always in daytime)."""
    return [z for z in LIVE_ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19]


async def live_deliveries(tenant: Tenant, now: datetime, rng: random.Random) -> int:
    """Parcel deliveries an hour and a little from now: each "driver is coming" text (an
    hour before) falls due within the first minute, so the outbox fills while you watch."""
    zones = daytime_zones(now)
    for i in range(LIVE_CUSTOMERS):
        c = tenant.new(
            Customer,
            external_ref=f"LIVE-{100 + i}",
            first_name=FIRST[(i + 3) % len(FIRST)],
            last_name=LAST[(i + 5) % len(LAST)],
            phone=f"+1415556{i:04d}",
            locale="en",
            timezone=zones[i % len(zones)],
            pseudonym=f"{rng.getrandbits(64):016x}",
        )
        await c.save()
        await tenant.new(
            ConsentRecord,
            customer=c.id,
            channel="sms",
            purpose="informational",
            status="granted",
            source="staff",
            text_shown="Texts about your delivery. Reply STOP to opt out.",
        ).save()
        delivery = now + timedelta(hours=1, seconds=15 + 8 * i)
        await enrollments.enroll(
            tenant, c.id, "parcel-delivery", {"delivery": delivery.isoformat()}
        )
    return LIVE_CUSTOMERS
