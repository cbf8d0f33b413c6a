"""Demo data for the embedded default: the library journeys, customers, enrollments and
two months of slips with a realistic skew (a few failure modes cause most slips)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from core import clock
from core.tenancy import Tenant
from journeys import services
from journeys.definition import JourneyDefinition
from journeys.enrollments import services as enrollments
from journeys.tables import ConsentRecord, Customer
from slips import validation, writes

LIBRARY = Path(services.__file__).parent / "library"
FIRST = ["Ana", "Ben", "Chen", "Dara", "Eli", "Fatima", "Gus", "Hana", "Ivan", "Jo", "Kai", "Lena"]
LAST = ["Okafor", "Smith", "Wang", "Novak", "Garcia", "Haddad", "Kowalski", "Sato", "Brown"]
ZONES = ["Europe/London", "America/New_York", "Asia/Shanghai", "Australia/Sydney"]
# Candidates for the "live" customers, whose first messages go out a minute after the demo
# is loaded: those where it is daytime now (a reminder at night would rightly be held).
LIVE_ZONES = [
    "Pacific/Honolulu", "America/Los_Angeles", "America/Chicago", "America/New_York",
    "America/Sao_Paulo", "Europe/London", "Europe/Berlin", "Africa/Nairobi", "Asia/Dubai",
    "Asia/Kolkata", "Asia/Shanghai", "Asia/Tokyo", "Australia/Sydney", "Pacific/Auckland",
]  # fmt: skip
LIVE_CUSTOMERS = 6
SITES = ["north clinic", "south clinic", "front desk", "phone line"]


def _anchor_times(d: JourneyDefinition, now: datetime, rng: random.Random) -> dict[str, str]:
    out = {}
    for name in d.anchors:
        if name != "start":
            out[name] = (
                now + timedelta(days=rng.randint(2, 20), hours=rng.randint(0, 8))
            ).isoformat()
    return out


async def seed(tenant: Tenant, seed_value: int = 7) -> dict[str, int]:
    """Load the library and create customers, enrollments and slips (call once per org)."""
    rng = random.Random(seed_value)
    now = clock.now()
    definitions: list[JourneyDefinition] = []
    for path in sorted(LIBRARY.glob("*.yaml")):
        await services.load_journey(tenant, path.read_text(encoding="utf-8"), path.name)
        definitions.append((await services.current_definition(tenant, path.stem))[2])
    customers = []
    for i in range(24):
        c = tenant.new(
            Customer,
            external_ref=f"DEMO-{1000 + i}",
            first_name=FIRST[i % len(FIRST)],
            last_name=LAST[i % len(LAST)],
            phone=f"+1415555{i:04d}",
            email=f"customer{i}@example.com",
            locale="zh-CN" if i % 5 == 0 else "en",
            timezone=ZONES[i % len(ZONES)],
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
            text_shown=(
                "Reminders about your care by text. Msg & data rates may apply. "
                "Reply STOP to opt out."
            ),
        ).save()
        customers.append(c)
    enrolled = 0
    for i, c in enumerate(customers):
        d = definitions[i % len(definitions)]
        await enrollments.enroll(tenant, c.id, d.key, _anchor_times(d, now, rng))
        enrolled += 1
    items: list[validation.SlipInput] = []
    for d in definitions:
        for b in d.behaviours:
            modes: list[str | None] = [m.key for m in b.failure_modes] or [None]
            # Zipf-like weights: the first failure modes dominate, as on real tick sheets.
            weights = [1 / (k + 1) ** 1.3 for k in range(len(modes))]
            for _ in range(rng.randint(4, 4 + b.importance * 3)):
                when = now - timedelta(days=rng.uniform(0, 60))
                items.append(
                    validation.SlipInput(
                        journey=d.key,
                        behaviour=b.key,
                        failure_mode=rng.choices(modes, weights)[0],
                        customer_id=rng.choice(customers).id if rng.random() < 0.6 else None,
                        site=rng.choice(SITES),
                        occurred_at=when,
                        key=f"demo:{d.key}:{len(items)}",
                    )
                )
    results = await writes.record_batch(tenant, items, validation.Reporter())
    live = await _live_deliveries(tenant, now, rng)
    return {
        "journeys": len(definitions),
        "customers": len(customers) + live,
        "enrollments": enrolled + live,
        "slips": sum(1 for r in results if r.status == "created"),
        "texts due within a minute": live,
    }


def daytime_zones(now: datetime) -> list[str]:
    """Zones of LIVE_ZONES where it is between 09:00 and 19:00 now (never empty: the
    list spans the globe, so some of it is always in daytime)."""
    return [z for z in LIVE_ZONES if 9 <= now.astimezone(ZoneInfo(z)).hour < 19]


async def _live_deliveries(tenant: Tenant, now: datetime, rng: random.Random) -> int:
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
