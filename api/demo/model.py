"""The simulation's parameters, in one place: who the customers are, how often each
behaviour fails, and what changes the rate (weekday, holdout, the recorded countermeasure).

docs/demo.md explains every number here and what a manager should find on the dashboards;
change both together.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dashboards.measure_schemas import Strategy

DAYS = 90  # the simulated history ends now and starts this many days ago
DEFAULT_CUSTOMERS = 2000

# (zone, share of customers, share of them reading zh-CN)
ZONES: tuple[tuple[str, float, float], ...] = (
    ("Europe/London", 0.25, 0.05),
    ("America/New_York", 0.20, 0.05),
    ("America/Los_Angeles", 0.15, 0.10),
    ("Asia/Shanghai", 0.20, 0.95),
    ("Australia/Sydney", 0.10, 0.10),
    ("Europe/Berlin", 0.10, 0.02),
)
SITES = ("north clinic", "south clinic", "front desk", "phone line")

# Which journey a customer joins, and how many join a second one.
JOURNEY_SHARES = {
    "hypertension-adherence": 0.25,
    "clinic-appointment": 0.20,
    "weight-management": 0.15,
    "parcel-delivery": 0.15,
    "restaurant-booking": 0.15,
    "vehicle-delivery": 0.10,
}
SECOND_JOURNEY = 0.15
EMAIL_SHARE = 0.85  # customers who gave an email address

# Probability that one step of the behaviour fails (a nudged customer, on a Tuesday).
BASE_RATES: dict[tuple[str, str], float] = {
    ("clinic-appointment", "attend"): 0.10,
    ("clinic-appointment", "bring-documents"): 0.15,
    ("clinic-appointment", "fast-before"): 0.08,
    ("hypertension-adherence", "take-dose"): 0.14,
    ("hypertension-adherence", "review-visit"): 0.12,
    ("parcel-delivery", "plan-for-delivery"): 0.10,
    ("parcel-delivery", "check-parcel"): 0.05,
    ("restaurant-booking", "confirm-booking"): 0.20,
    ("restaurant-booking", "arrive-on-time"): 0.12,
    ("vehicle-delivery", "arrange-insurance"): 0.06,
    ("vehicle-delivery", "bring-documents"): 0.10,
    ("vehicle-delivery", "inspect-before-driving"): 0.18,
    ("vehicle-delivery", "first-service"): 0.25,
    ("weight-management", "weigh-in"): 0.22,
    ("weight-management", "group-meeting"): 0.30,
    ("weight-management", "review-visit"): 0.10,
}
DEFAULT_RATE = 0.10  # a behaviour added to the library later
# Failure modes share a behaviour's rate Zipf-like, in the order the journey lists them:
# mode k (0-based) gets a weight of 1 / (k + 1) ** ZIPF, as on real tick sheets.
ZIPF = 1.3

# Multiplier by the customer's local weekday of the due time (Monday = 0).
WEEKDAY = (1.1, 1.0, 1.0, 1.0, 1.1, 1.35, 1.35)

# Holdout customers get no messages; reminders work on forgetting, and a little on knowing
# what to do, so those failure modes are more frequent without them.
HOLDOUT = {"forgetfulness": 2.0, "role_clarity": 1.3}

# How a failed step is recorded: confirmable steps are detected as missed by the system
# (a share with the reason the customer replied, a share reported by the customer on the
# self-service page); others are logged by staff at a site.
REASON_GIVEN = 0.85
CUSTOMER_REPORTED = 0.10


@dataclass(frozen=True)
class ChangedSource:
    """The one error source whose rate drops part-way through the history: the target of
    the countermeasure the dashboards' before/after panel should show."""

    journey: str
    behaviour: str
    failure_mode: str
    day: int  # days after the first simulated day
    factor: float  # multiplier of the rate from that day on
    strategy: Strategy  # from the prevention-strategy enumeration
    title: str

    def starts_at(self, first_day: datetime) -> datetime:
        """When the change takes effect."""
        return first_day + timedelta(days=self.day)


CHANGED = ChangedSource(
    journey="hypertension-adherence",
    behaviour="take-dose",
    failure_mode="forgot",
    day=45,
    factor=0.5,
    strategy="planning_prompt",
    title="Ask each patient when and where they will take the tablet",
)

# Opt-outs and delivery failures (per customer, then per text message).
STOP_REPLY = 0.025  # reply STOP at some point (consent revoked, source sms_keyword)
CARRIER_OPT_OUT = 0.01  # blocked at the carrier: the next text fails with 21610
LANDLINE = 0.01  # the number is a landline: every text fails with 30006
UNREACHABLE = 0.02  # one text in fifty is undelivered with 30003 (handset unreachable)
RECEIPT_PENDING = 0.03  # texts still "sent": no delivery receipt came back


def first_day(now: datetime) -> datetime:
    """The start of the simulated history."""
    return now - timedelta(days=DAYS)


def base_rate(journey: str, behaviour: str) -> float:
    """Probability that one step of the behaviour fails, before any effect."""
    return BASE_RATES.get((journey, behaviour), DEFAULT_RATE)


def mode_weights(count: int) -> list[float]:
    """Shares of a behaviour's rate for its ``count`` failure modes (summing to 1)."""
    raw = [1 / (k + 1) ** ZIPF for k in range(count)]
    total = sum(raw)
    return [w / total for w in raw]
