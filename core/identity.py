"""Identity services: organisations, staff users, passwords and API keys.

Used by the HTTP layer, the pages and the CLI alike; no Litestar here.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import secrets
import time
import zoneinfo
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar, cast
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from core import clock
from core.db import write_transaction
from core.errors import (
    ApiKeyNotFound,
    FieldError,
    InvalidCredentials,
    InvalidIdentityInput,
    LastAdminKey,
    OrganizationExists,
    OrganizationNeeded,
    OrganizationNotFound,
    OwnKey,
    TooManyAttempts,
    UserExists,
    UserNotFound,
)
from core.tables import ApiKey, LoginFailure, Organization, StaffUser
from core.tenancy import Tenant

Role = Literal["staff", "manager", "admin"]
T = TypeVar("T")
ROLES: dict[str, int] = {"staff": 1, "manager": 2, "admin": 3}
KEY_PREFIX = "sg_"
LAST_USED_RESOLUTION = timedelta(seconds=60)
MIN_PASSWORD_LENGTH = 10
MAX_PASSWORD_LENGTH = 1024

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_hasher = PasswordHasher()
# Verified against when the email is unknown, so a login takes as long either way.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True)
class Principal:
    """Who is calling: an organisation plus a role, via a staff user or an API key."""

    org_id: UUID
    org_slug: str
    role: str
    user_id: UUID | None = None
    api_key_id: UUID | None = None
    name: str = ""
    session_version: int = 0

    @property
    def tenant(self) -> Tenant:
        return Tenant(self.org_id)

    def has_role(self, needed: str) -> bool:
        """True when this principal's role is at least ``needed`` (staff < manager < admin)."""
        return ROLES.get(self.role, 0) >= ROLES[needed]


def check_role(role: str, field: str = "role") -> Role:
    """Validate a role name."""
    if role not in ROLES:
        raise InvalidIdentityInput(
            f"unknown role {role!r}",
            [FieldError(field, f"must be one of {', '.join(ROLES)}")],
        )
    return cast(Role, role)


def _check_email(email: str) -> str:
    email = email.strip().lower()
    if not _EMAIL.match(email) or len(email) > 254:
        raise InvalidIdentityInput(
            f"invalid email {email!r}", [FieldError("email", "not a valid email address")]
        )
    return email


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidIdentityInput(
            "password too short",
            [FieldError("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")],
        )


# --- organisations -------------------------------------------------------------------------


async def create_organization(slug: str, name: str, timezone: str = "UTC") -> Organization:
    """Create an organisation; the slug is its stable, human-readable handle."""
    if not _SLUG.match(slug):
        raise InvalidIdentityInput(
            f"invalid organisation slug {slug!r}",
            [FieldError("slug", "2-63 characters: lowercase letters, digits and '-'")],
        )
    if not name.strip():
        raise InvalidIdentityInput("name is empty", [FieldError("name", "must not be empty")])
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise InvalidIdentityInput(
            f"unknown timezone {timezone!r}", [FieldError("timezone", "not an IANA timezone")]
        ) from None
    async with write_transaction():
        if await Organization.exists().where(Organization.slug == slug):
            raise OrganizationExists(f"organisation {slug!r} already exists")
        org = Organization(slug=slug, name=name.strip(), timezone=timezone)
        await org.save()
    return org


async def get_organization(slug: str) -> Organization:
    """Find an organisation by slug."""
    org = await Organization.objects().where(Organization.slug == slug).first()
    if org is None:
        raise OrganizationNotFound(f"no organisation {slug!r}")
    return org


async def organization_by_id(org_id: UUID) -> Organization:
    """Find an organisation by id."""
    org = await Organization.objects().where(Organization.id == org_id).first()
    if org is None:
        raise OrganizationNotFound(f"no organisation {org_id}")
    return org


# Sender fields may be emptied (the deployment's default sender is then used).
_E164 = re.compile(r"^(\+[1-9][0-9]{6,14})?$")
_SERVICE_SID = re.compile(r"^(MG[0-9a-fA-F]{32})?$")
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
# Plain ASCII addresses (a dot-atom mailbox of at most 64 characters, domain labels, a
# letters-only top level): what every mail system and the schema's email format agree on;
# api.schemas states the same pattern.
CONTACT_EMAIL_PATTERN = rf"^(?=[^@]{{1,64}}@){_ATOM}(?:\.{_ATOM})*@(?:{_LABEL}\.)+[A-Za-z]{{2,63}}$"
_CONTACT_EMAIL = re.compile(CONTACT_EMAIL_PATTERN)
# What an admin may change about their organisation: (column, check, message, limit).
ORGANIZATION_FIELDS: dict[str, tuple[Any, re.Pattern[str] | None, str, int]] = {
    "name": (Organization.name, None, "must not be empty", 200),
    "sms_from": (Organization.sms_from, _E164, "an E.164 number such as +14155550100", 20),
    "messaging_service_sid": (
        Organization.messaging_service_sid, _SERVICE_SID, "MG followed by 32 hex digits", 34,
    ),
    "contact_phone": (Organization.contact_phone, None, "", 20),
    "contact_email": (Organization.contact_email, _CONTACT_EMAIL, "an email address", 254),
    "postal_address": (Organization.postal_address, None, "", 300),
}  # fmt: skip


# The service standard for staff tasks, as whole numbers: (column, lowest, highest).
STANDARD_FIELDS: dict[str, tuple[Any, int, int]] = {
    "task_due_hours": (Organization.task_due_hours, 1, 24 * 30),
    "task_target_percent": (Organization.task_target_percent, 1, 100),
}


async def update_organization(
    org_id: UUID, changes: Mapping[str, str | int | None]
) -> Organization:
    """Change the organisation's name, SMS sender, contact details and service standard.
    An empty string clears the sender fields (the deployment's default sender is then
    used) and the free text ones; None clears any optional field (the contact email is
    cleared only so)."""
    values = await check_organization_fields(changes)
    if values:
        await Organization.update(values).where(Organization.id == org_id)
    return await organization_by_id(org_id)


async def check_organization_fields(changes: Mapping[str, str | int | None]) -> dict[Any, Any]:
    """The column values for ``changes``; raises naming every field that is wrong."""
    values: dict[Any, Any] = {}
    errors: list[FieldError] = []
    for field, raw in changes.items():
        if field in STANDARD_FIELDS:
            number, low, high = STANDARD_FIELDS[field]
            if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
                errors.append(FieldError(field, f"a whole number from {low} to {high}"))
            else:
                values[number] = raw
            continue
        if isinstance(raw, int):
            errors.append(FieldError(field, "must be text"))
            continue
        column, pattern, message, limit = ORGANIZATION_FIELDS[field]
        if raw is None and field != "name":
            values[column] = ""
            continue
        raw = raw or ""
        # Free text is trimmed; a number, service id or address is taken exactly as given.
        value = raw.strip() if pattern is None else raw
        if "\x00" in value or len(value) > limit:
            errors.append(FieldError(field, f"at most {limit} characters, no NUL"))
        elif field == "name" and not value:
            errors.append(FieldError(field, message))
        elif pattern is not None and not pattern.match(value):
            errors.append(FieldError(field, f"must be {message}"))
        else:
            values[column] = value
    if errors:
        raise InvalidIdentityInput("invalid organisation settings", errors)
    return values


# --- staff users ---------------------------------------------------------------------------


async def create_user(
    tenant: Tenant, email: str, role: str, password: str, name: str = ""
) -> StaffUser:
    """Create a staff user with an argon2 password hash.

    Emails are unique within the organisation only: whether an address is in use in
    another organisation is never revealed (the same person may work for two)."""
    email = _check_email(email)
    check_role(role)
    _check_password(password)
    password_hash = await _in_pool(_hasher.hash, password)
    async with write_transaction():
        if await tenant.select(StaffUser, StaffUser.id).where(StaffUser.email == email):
            raise UserExists(f"this organisation already has a user with email {email!r}")
        user = tenant.new(
            StaffUser, email=email, role=role, password_hash=password_hash, name=name.strip()
        )
        await user.save()
    return user


async def list_users(tenant: Tenant) -> list[StaffUser]:
    """The organisation's staff users, oldest first."""
    return await tenant.objects(StaffUser).order_by(StaffUser.created_at)


async def get_user(tenant: Tenant, user_id: UUID) -> StaffUser:
    """One staff user of this organisation."""
    return await tenant.get(StaffUser, user_id, UserNotFound, "user")


# Throttling of password logins: per account and per client address, over a sliding window.
LOGIN_WINDOW = timedelta(minutes=15)
MAX_ACCOUNT_FAILURES = 10
MAX_CLIENT_FAILURES = 50
# argon2 takes tens of milliseconds of CPU on purpose: it runs on these threads, never on the
# event loop (three login loops had made every other request wait), and at most two at once.
_hash_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="argon2")


async def _in_pool(work: Callable[..., T], *args: Any) -> T:
    return await asyncio.get_running_loop().run_in_executor(_hash_pool, work, *args)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return bool(_hasher.verify(password_hash, password))
    except (VerificationError, InvalidHashError):
        return False


async def _check_throttle(email: str, client: str, now: datetime) -> None:
    """Refuse a login while the account or the address has too many recent failures."""
    since = now - LOGIN_WINDOW
    for column, value, limit, whom in (
        (LoginFailure.email, email, MAX_ACCOUNT_FAILURES, "for this account"),
        (LoginFailure.client, client, MAX_CLIENT_FAILURES, "from this address"),
    ):
        if not value:
            continue
        rows = await (
            LoginFailure.select(LoginFailure.failed_at)
            .where((column == value) & (LoginFailure.failed_at > since))
            .order_by(LoginFailure.failed_at)
        )
        if len(rows) >= limit:
            # Allowed again once enough of these failures have left the window.
            frees = rows[len(rows) - limit]["failed_at"] + LOGIN_WINDOW
            wait = max(1, int((frees - now).total_seconds()) + 1)
            raise TooManyAttempts(
                f"too many failed logins {whom}; try again in {wait // 60 + 1} minutes",
                retry_after=wait,
            )


# An email can belong to users of several organisations; a login tries at most this many.
MAX_ACCOUNTS_PER_EMAIL = 5


async def authenticate_password(
    email: str, password: str, client: str = "", organization: str = ""
) -> Principal:
    """Check an email and password; raises InvalidCredentials on any mismatch and
    TooManyAttempts while the account or the client address is throttled.

    The same email may belong to users of several organisations: the login opens the
    one whose password matches, or the one named by ``organization`` (its slug) when the
    password matches more than one (:class:`OrganizationNeeded` until it is named).
    """
    if "\x00" in email + password + organization:  # PostgreSQL cannot compare a NUL
        raise InvalidCredentials("wrong email or password")
    email = email.strip().lower()
    client = client[:64]
    now = clock.now()
    await _check_throttle(email, client, now)
    query = StaffUser.objects().where((StaffUser.email == email) & (StaffUser.active == True))  # noqa: E712
    if organization.strip():
        query = query.where(StaffUser.organization.slug == organization.strip().lower())
    users = await query.order_by(StaffUser.created_at).limit(MAX_ACCOUNTS_PER_EMAIL)
    # An unknown email costs a verification too, so a login takes as long either way.
    if not users:
        await _in_pool(_verify, _DUMMY_HASH, password)
    matched = [u for u in users if await _in_pool(_verify, u.password_hash, password)]
    if not matched:
        await LoginFailure.insert(LoginFailure(email=email[:254], client=client, failed_at=now))
        raise InvalidCredentials("wrong email or password")
    if len(matched) > 1:
        raise OrganizationNeeded(
            "this email and password open more than one organisation; name the organisation"
        )
    (user,) = matched
    await LoginFailure.delete().where(LoginFailure.email == email)
    org = await organization_by_id(user.organization)
    values: dict[Any, Any] = {StaffUser.last_login_at: now}
    if _hasher.check_needs_rehash(user.password_hash):
        values[StaffUser.password_hash] = await _in_pool(_hasher.hash, password)
    await StaffUser.update(values).where(StaffUser.id == user.id)
    return _principal(org, user)


def _principal(org: Organization, user: StaffUser) -> Principal:
    return Principal(
        org.id,
        org.slug,
        user.role,
        user_id=user.id,
        name=user.name or user.email,
        session_version=user.session_version,
    )


async def principal_for_user(user_id: UUID, session_version: int = 0) -> Principal | None:
    """Rebuild the principal of a logged-in user: None if the user is deactivated or gone,
    or the session was ended (logout, deactivation) since it was opened."""
    user = await StaffUser.objects().where(StaffUser.id == user_id).first()
    if user is None or not user.active or user.session_version != session_version:
        return None
    return _principal(await organization_by_id(user.organization), user)


async def end_sessions(user_id: UUID) -> None:
    """End every session of the user (each device): their cookies no longer log in."""
    await StaffUser.update({StaffUser.session_version: StaffUser.session_version + 1}).where(
        StaffUser.id == user_id
    )


async def change_password(
    user_id: UUID, current: str, new: str, confirm: str, client: str = ""
) -> Principal:
    """Change a user's password after checking the current one, and end every other
    session of theirs: returns the principal with the new session version, for the session
    that made the change to carry on.

    A wrong current password counts as a failed login of the account and the address, so
    guessing it here is throttled exactly like guessing it at the login form.
    """
    user = await StaffUser.objects().where(StaffUser.id == user_id).first()
    if user is None or not user.active:
        raise InvalidCredentials("your session has ended; log in again")
    client = client[:64]
    now = clock.now()
    await _check_throttle(user.email, client, now)
    if "\x00" in current or not await _in_pool(_verify, user.password_hash, current):
        await LoginFailure.insert(LoginFailure(email=user.email, client=client, failed_at=now))
        raise InvalidIdentityInput(
            "the current password is wrong",
            [FieldError("current_password", "is not your current password")],
        )
    errors: list[FieldError] = []
    if "\x00" in new:
        errors.append(FieldError("new_password", "must not contain NUL characters"))
    elif len(new) < MIN_PASSWORD_LENGTH:
        errors.append(
            FieldError("new_password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
        )
    elif len(new) > MAX_PASSWORD_LENGTH:
        errors.append(
            FieldError("new_password", f"must be at most {MAX_PASSWORD_LENGTH} characters")
        )
    elif new == current:
        errors.append(FieldError("new_password", "must differ from the current password"))
    if new != confirm:
        errors.append(FieldError("confirm_password", "does not match the new password"))
    if errors:
        raise InvalidIdentityInput("the new password was not accepted", errors)
    password_hash = await _in_pool(_hasher.hash, new)
    await LoginFailure.delete().where(LoginFailure.email == user.email)
    async with write_transaction():
        await StaffUser.update(
            {
                StaffUser.password_hash: password_hash,
                StaffUser.session_version: StaffUser.session_version + 1,
            }
        ).where(StaffUser.id == user_id)
    return _principal(await organization_by_id(user.organization), await _user(user_id))


async def _user(user_id: UUID) -> StaffUser:
    user = await StaffUser.objects().where(StaffUser.id == user_id).first()
    if user is None:
        raise UserNotFound(f"user {user_id} not found")
    return user


async def deactivate_user(tenant: Tenant, user_id: UUID) -> StaffUser:
    """Stop a user logging in and end their sessions (idempotent). API keys belong to the
    organisation, not to the user who created them, and keep working: revoke them apart."""
    async with write_transaction():
        user = await get_user(tenant, user_id)
        if user.active:
            await tenant.update(
                StaffUser,
                {
                    StaffUser.active: False,
                    StaffUser.session_version: StaffUser.session_version + 1,
                },
            ).where(StaffUser.id == user_id)
    return await get_user(tenant, user_id)


# --- API keys ------------------------------------------------------------------------------


def _digest(token: str) -> str:
    # API keys carry 256 bits of randomness, so a fast hash is enough (no argon2 per request).
    return hashlib.sha256(token.encode()).hexdigest()


async def create_api_key(
    tenant: Tenant, name: str, role: str, created_by: UUID | None = None
) -> tuple[ApiKey, str]:
    """Create a key; returns the row and the plaintext key, which is never shown again."""
    check_role(role)
    if not name.strip():
        raise InvalidIdentityInput("name is empty", [FieldError("name", "must not be empty")])
    prefix = secrets.token_hex(5)
    token = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    key = tenant.new(
        ApiKey,
        name=name.strip(),
        role=role,
        prefix=prefix,
        key_hash=_digest(token),
        created_by=created_by,
    )
    async with write_transaction():
        await key.save()
    return key, token


# Recently verified keys, by digest: a request with a known key costs no query. Revoking
# in this process drops the entry at once; other processes see it within KEY_CACHE_SECONDS.
KEY_CACHE_SECONDS = 5.0
_key_cache: dict[str, tuple[Principal, float]] = {}


async def authenticate_api_key(token: str) -> Principal:
    """Resolve a bearer token to its principal; raises InvalidCredentials otherwise."""
    digest = _digest(token)
    cached = _key_cache.get(digest)
    if cached is not None and cached[1] > time.monotonic():
        return cached[0]
    principal = await _lookup_api_key(token, digest)
    if len(_key_cache) > 10_000:
        _key_cache.clear()
    _key_cache[digest] = (principal, time.monotonic() + KEY_CACHE_SECONDS)
    return principal


def forget_api_key(key_id: UUID) -> None:
    """Drop a key from this process's cache (after revocation)."""
    for digest, (principal, _) in list(_key_cache.items()):
        if principal.api_key_id == key_id:
            _key_cache.pop(digest, None)


async def _lookup_api_key(token: str, digest: str) -> Principal:
    parts = token.split("_")
    if len(parts) < 3 or not token.startswith(KEY_PREFIX):
        raise InvalidCredentials("malformed API key")
    # One query per request: the key and its organisation's slug together.
    key = await (
        ApiKey.select(
            ApiKey.id,
            ApiKey.key_hash,
            ApiKey.role,
            ApiKey.name,
            ApiKey.revoked_at,
            ApiKey.last_used_at,
            ApiKey.organization,
            ApiKey.organization.slug.as_alias("org_slug"),
        )
        .where(ApiKey.prefix == parts[1])
        .first()
    )
    if key is None or not hmac.compare_digest(key["key_hash"], digest):
        raise InvalidCredentials("unknown API key")
    if key["revoked_at"] is not None:
        raise InvalidCredentials("API key has been revoked")
    moment = clock.now()
    # Record use at most once a minute, so reads do not become a write per request.
    if key["last_used_at"] is None or moment - key["last_used_at"] > LAST_USED_RESOLUTION:
        await ApiKey.update({ApiKey.last_used_at: moment}).where(ApiKey.id == key["id"])
    return Principal(
        key["organization"], key["org_slug"], key["role"], api_key_id=key["id"], name=key["name"]
    )


async def list_api_keys(tenant: Tenant) -> list[ApiKey]:
    """The organisation's keys (revoked ones included), newest first."""
    return await tenant.objects(ApiKey).order_by(ApiKey.created_at, ascending=False)


async def get_api_key(tenant: Tenant, key_id: UUID) -> ApiKey:
    """One key of this organisation."""
    return await tenant.get(ApiKey, key_id, ApiKeyNotFound, "API key")


async def revoke_api_key(tenant: Tenant, key_id: UUID, by_key: UUID | None = None) -> ApiKey:
    """Revoke a key (idempotent: revoking twice keeps the first time). ``by_key``, the key
    making the request, cannot be the one revoked: use another admin key (or the CLI)."""
    if by_key is not None and by_key == key_id:
        raise OwnKey("an API key cannot revoke itself; revoke it with another admin key")
    async with write_transaction():
        key = await get_api_key(tenant, key_id)
        if key.revoked_at is None and key.role == "admin":
            others = await tenant.select(ApiKey, ApiKey.id).where(
                (ApiKey.role == "admin") & ApiKey.revoked_at.is_null() & (ApiKey.id != key_id)
            )
            if not others:
                raise LastAdminKey(
                    "this is the organisation's last admin API key; create another admin key "
                    "before revoking it"
                )
        if key.revoked_at is None:
            key.revoked_at = clock.now()
            await tenant.update(ApiKey, {ApiKey.revoked_at: key.revoked_at}).where(
                ApiKey.id == key_id
            )
    forget_api_key(key_id)
    return key


# --- bootstrap -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bootstrap:
    """What ``slipguard init`` created."""

    organization: Organization
    admin: StaffUser
    api_key: str
    password: str | None


async def bootstrap(
    slug: str, name: str, admin_email: str, admin_password: str | None
) -> Bootstrap:
    """Create an organisation, its first admin user and an admin API key."""
    generated = admin_password is None
    password = admin_password or secrets.token_urlsafe(12)
    _check_email(admin_email)
    _check_password(password)
    org = await create_organization(slug, name)
    tenant = Tenant(org.id)
    try:
        user = await create_user(tenant, admin_email, "admin", password, name="Administrator")
    except UserExists:
        # Leave nothing half-made: an organisation without its admin is useless.
        await Organization.delete().where(Organization.id == org.id)
        raise
    _, token = await create_api_key(tenant, "initial admin key", "admin", created_by=user.id)
    return Bootstrap(org, user, token, password if generated else None)


async def purge_login_failures(now: datetime | None = None) -> int:
    """Forget failed logins that no longer count (older than the throttle window)."""
    cutoff = (now or clock.now()) - LOGIN_WINDOW
    gone = (
        await LoginFailure.delete()
        .where(LoginFailure.failed_at < cutoff)
        .returning(LoginFailure.id)
    )
    return len(gone)
