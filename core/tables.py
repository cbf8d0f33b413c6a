"""Identity and tenancy tables: organisations, staff users and API keys."""

from piccolo.columns import (
    UUID,
    Boolean,
    ForeignKey,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table


class Organization(Table):
    """A tenant: every other row belongs to exactly one organisation."""

    id = UUID(primary_key=True)
    slug = Varchar(length=64, unique=True)
    name = Varchar(length=200)
    timezone = Varchar(length=64, default="UTC")
    # Who the customers hear from: SMS sender (a number or a messaging service; empty means
    # the deployment's default) and the contact details footers and HELP replies give.
    sms_from = Varchar(length=20, default="")
    messaging_service_sid = Varchar(length=40, default="")
    contact_phone = Varchar(length=20, default="")
    contact_email = Varchar(length=254, default="")
    postal_address = Varchar(length=300, default="")
    # The service standard for staff tasks: ``task_target_percent`` of tasks handled within
    # ``task_due_hours`` (a task is due that long after it is created).
    task_due_hours = Integer(default=24)
    task_target_percent = Integer(default=90)
    created_at = Timestamptz(default=TimestamptzNow())


class StaffUser(Table):
    """A person who logs in to the pages (front-line staff, manager or admin)."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    # Unique per organisation (an index made by a migration): the same person may work for
    # two organisations, and one organisation must not learn who works for another.
    email = Varchar(length=254)
    name = Varchar(length=200, default="")
    role = Varchar(length=16)
    password_hash = Varchar(length=255)
    active = Boolean(default=True)
    # Sessions carry the number they were opened with; raising it ends them all (logout,
    # deactivation) even though the session cookie itself cannot be taken back.
    session_version = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    last_login_at = Timestamptz(null=True, default=None)


class ApiKey(Table):
    """A bearer credential: shown once, stored as a SHA-256 digest, found by its prefix."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    name = Varchar(length=200)
    prefix = Varchar(length=16, unique=True)
    key_hash = Varchar(length=64)
    role = Varchar(length=16)
    created_by = ForeignKey(references=StaffUser, null=True, on_delete=OnDelete.set_null)
    created_at = Timestamptz(default=TimestamptzNow())
    last_used_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class IdempotencyRecord(Table):
    """A request made safe to retry: the same key replays the first response (kept >= 24 h)."""

    id = UUID(primary_key=True)
    organization = ForeignKey(references=Organization, null=False, on_delete=OnDelete.cascade)
    key = Varchar(length=200)
    fingerprint = Varchar(length=64)  # SHA-256 of method, path and body
    status_code = Integer(default=0)
    response = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow(), index=True)


class LoginFailure(Table):
    """A failed password login, kept while it counts towards throttling (the account's and
    the client address's); nobody is logged in yet, so it belongs to no organisation."""

    id = UUID(primary_key=True)
    email = Varchar(length=254, index=True)
    client = Varchar(length=64, index=True)
    failed_at = Timestamptz(default=TimestamptzNow(), index=True)


class PrivacyEvent(Table):
    """That something was done with a customer's personal data (an erasure, an export, a
    breach notice), by whom and when — never what the data was. The customer is named by
    id only: after an erasure that id leads to a pseudonymous row that identifies no one."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, index=True
    )
    kind = Varchar(length=16)  # erasure | export | breach_notice
    customer = UUID(null=True, default=None, index=True)
    # ``user:<id>``, ``key:<id>``, ``customer`` (through their own link) or ``cli``
    actor = Varchar(length=64)
    # Ties the events of one operation together (a breach notification's id).
    batch = UUID(null=True, default=None, index=True)
    created_at = Timestamptz(default=TimestamptzNow(), index=True)
