"""The method's vocabulary: the one place the enumerations are written down.

Definitions, customers, slips, messages and the API all take their choices from here, as
``Literal`` types (for msgspec and the JSON Schema) and as tuples (for messages that list
the valid choices).
"""

from __future__ import annotations

from typing import Literal, get_args

# Where a customer error comes from (the service-operations classification of causes).
RootCause = Literal[
    "technology", "process", "physical_environment", "customer", "other_customers", "employee"
]
# What the customer lacked when the cause was the customer.
Deficit = Literal["role_clarity", "ability", "motivation", "forgetfulness", "financial", "other"]
# Stages a journey may use without declaring them (journeys may name their own).
Stage = Literal["pre_encounter", "encounter", "post_encounter"]
# How an organisation may prevent an error (countermeasures).
PreventionStrategy = Literal[
    "process_redesign", "redefine_role", "education", "training", "error_proofing", "reminder",
    "planning_prompt", "commitment", "feedback_incentive", "peer_support", "signage",
    "customer_mix",
]  # fmt: skip
# Who recorded a slip.
SlipSource = Literal["staff", "system", "customer", "import"]
# What a slip is: an error the customer made, or a complaint they made about the service.
SlipKind = Literal["error", "complaint"]
# How a customer is contacted, why, and what they said to it.
Channel = Literal["sms", "email"]
Purpose = Literal["informational", "marketing"]
ConsentStatus = Literal["granted", "revoked"]
ConsentSource = Literal["staff", "web", "sms_keyword", "import", "api", "provider", "unsubscribe"]
# What a message is for.
NudgeKind = Literal["reminder", "follow_up", "escalation", "recovery", "advisory"]

ROOT_CAUSES: tuple[str, ...] = get_args(RootCause)
DEFICITS: tuple[str, ...] = get_args(Deficit)
STAGES: tuple[str, ...] = get_args(Stage)
PREVENTION_STRATEGIES: tuple[str, ...] = get_args(PreventionStrategy)
SLIP_SOURCES: tuple[str, ...] = get_args(SlipSource)
SLIP_KINDS: tuple[str, ...] = get_args(SlipKind)
CHANNELS: tuple[str, ...] = get_args(Channel)
PURPOSES: tuple[str, ...] = get_args(Purpose)
NUDGE_KINDS: tuple[str, ...] = get_args(NudgeKind)
# The address each channel needs: consent to text someone without a phone is meaningless.
CHANNEL_ADDRESS: dict[str, str] = {"sms": "phone", "email": "email"}
