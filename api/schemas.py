"""Request and response bodies of the identity API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from core.identity import CONTACT_EMAIL_PATTERN, MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH
from core.schemas import Input
from core.tables import ApiKey, Organization, StaffUser
from journeys.customers.schemas import documented

RoleName = Literal["staff", "manager", "admin"]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class OrganizationOut(msgspec.Struct):
    """An organisation."""

    id: UUID
    slug: str
    name: str
    timezone: str
    created_at: datetime
    sms_from: str  # empty: the deployment's default sender
    messaging_service_sid: str
    contact_phone: str  # given in HELP replies and email footers
    contact_email: str
    postal_address: str  # the footer of every email
    task_due_hours: int  # the service standard: a staff task is due this long after it opens
    task_target_percent: int  # ... and this share of tasks should be closed in time

    @classmethod
    def of(cls, org: Organization) -> OrganizationOut:
        return cls(
            org.id, org.slug, org.name, org.timezone, org.created_at, org.sms_from,
            org.messaging_service_sid, org.contact_phone, org.contact_email, org.postal_address,
            org.task_due_hours, org.task_target_percent,
        )  # fmt: skip


# The forms core.identity.check_organization_fields accepts (empty clears a field), stated
# for the schema; the service checks them, naming every bad field of a request at once.
OrgName = Annotated[str, documented(pattern="^[^\\u0000]*[^\\s\\u0000][^\\u0000]*$", maxLength=200)]
SmsFrom = Annotated[str, documented(pattern="^(\\+[1-9][0-9]{6,14})?$", maxLength=16)]
ServiceSid = Annotated[str, documented(pattern="^(MG[0-9a-fA-F]{32})?$", maxLength=34)]
ContactPhone = Annotated[str, documented(pattern="^[^\\u0000]*$", maxLength=20)]
ContactEmail = Annotated[
    str,
    documented(pattern=CONTACT_EMAIL_PATTERN, maxLength=254),
]
PostalAddress = Annotated[str, documented(pattern="^[^\\u0000]*$", maxLength=300)]
# Whole numbers, written as JSON numbers: JSON Schema's "integer" includes 8.0, so the
# schema says number with multipleOf 1 and the value is taken as the whole number it is.
DueHours = Annotated[float, msgspec.Meta(ge=1, le=24 * 30, multiple_of=1)]
TargetPercent = Annotated[float, msgspec.Meta(ge=1, le=100, multiple_of=1)]


class OrganizationPatch(Input):
    """Change the organisation's name, SMS sender, contact details and service standard
    for staff tasks (admin). Omitted fields stay; an empty string clears an optional one."""

    name: OrgName | msgspec.UnsetType = msgspec.UNSET
    sms_from: SmsFrom | msgspec.UnsetType = msgspec.UNSET
    messaging_service_sid: ServiceSid | msgspec.UnsetType = msgspec.UNSET
    contact_phone: ContactPhone | msgspec.UnsetType = msgspec.UNSET
    contact_email: ContactEmail | msgspec.UnsetType | None = msgspec.UNSET  # null clears
    postal_address: PostalAddress | msgspec.UnsetType = msgspec.UNSET
    task_due_hours: DueHours | msgspec.UnsetType = msgspec.UNSET
    task_target_percent: TargetPercent | msgspec.UnsetType = msgspec.UNSET

    def changes(self) -> dict[str, str | int | None]:
        out: dict[str, str | int | None] = {}
        for f in self.__struct_fields__:
            value = getattr(self, f)
            if value is not msgspec.UNSET:
                out[f] = int(value) if isinstance(value, float) else value
        return out


class MeOut(msgspec.Struct):
    """Who the credential belongs to."""

    organization: OrganizationOut
    role: str
    kind: Literal["api_key", "user"]
    name: str
    user_id: UUID | None = None
    api_key_id: UUID | None = None


class ApiKeyIn(Input):
    """Create an API key."""

    name: Name
    role: RoleName


class ApiKeyOut(msgspec.Struct):
    """An API key, never with its secret."""

    id: UUID
    name: str
    prefix: str
    role: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        return cls(
            key.id, key.name, key.prefix, key.role, key.created_at, key.last_used_at, key.revoked_at
        )


class ApiKeyCreated(ApiKeyOut):
    """A new API key: ``key`` is shown this once and cannot be recovered."""

    key: str = ""


class UserIn(Input):
    """Create a staff user."""

    email: Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
    role: RoleName
    password: Annotated[
        str, msgspec.Meta(min_length=MIN_PASSWORD_LENGTH, max_length=MAX_PASSWORD_LENGTH)
    ]
    name: Annotated[str, msgspec.Meta(max_length=200)] = ""


class UserOut(msgspec.Struct):
    """A staff user (never the password hash)."""

    id: UUID
    email: str
    name: str
    role: str
    active: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, user: StaffUser) -> UserOut:
        return cls(
            user.id,
            user.email,
            user.name,
            user.role,
            user.active,
            user.created_at,
            user.last_login_at,
        )
