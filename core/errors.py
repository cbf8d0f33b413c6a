"""The error base every context's errors derive from, and the identity context's errors.

Pure Python (no Litestar, no Dramatiq) so services, actors and the CLI can raise and
catch these; ``api/problems.py`` is the one place that turns them into HTTP responses.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

Kind = Literal[
    "invalid", "not_found", "conflict", "forbidden", "unauthorized", "unavailable", "throttled"
]


@dataclass(frozen=True)
class FieldError:
    """One problem with one input field (``field`` is a path like ``behaviours[2].at``)."""

    field: str
    message: str
    line: int | None = None


class DomainError(Exception):
    """Root of every expected, user-facing error; ``kind`` decides the HTTP status."""

    kind: ClassVar[Kind] = "invalid"
    title: ClassVar[str] = "Invalid request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(DomainError):
    """The object does not exist in the caller's organisation."""

    kind = "not_found"
    title = "Not found"


class Conflict(DomainError):
    """The request conflicts with the current state (duplicate, already done)."""

    kind = "conflict"
    title = "Conflict"


class Invalid(DomainError):
    """The input is well-formed but not acceptable."""

    kind = "invalid"
    title = "Invalid input"


# --- identity and tenancy -----------------------------------------------------------


class IdentityError(DomainError):
    """Root of identity and tenancy errors."""


class OrganizationExists(Conflict, IdentityError):
    """An organisation with this slug already exists."""


class OrganizationNotFound(NotFound, IdentityError):
    """No organisation has this slug."""


class UserExists(Conflict, IdentityError):
    """A staff user with this email already exists in this organisation."""


class UserNotFound(NotFound, IdentityError):
    """No such staff user in this organisation."""


class ApiKeyNotFound(NotFound, IdentityError):
    """No such API key in this organisation."""


class InvalidIdentityInput(Invalid, IdentityError):
    """A slug, email, role or password is not acceptable."""


class InvalidCredentials(IdentityError):
    """Email/password or API key did not match an active identity."""

    kind = "unauthorized"
    title = "Not authenticated"


class OrganizationNeeded(InvalidCredentials):
    """The email and password open accounts in more than one organisation: name one."""


class TooManyAttempts(IdentityError):
    """Too many failed logins for this account or from this address; wait and retry."""

    kind = "throttled"
    title = "Too many attempts"

    def __init__(self, detail: str, retry_after: int) -> None:
        super().__init__(detail)
        self.retry_after = retry_after


class OwnKey(Conflict, IdentityError):
    """A key cannot revoke itself: the caller would lock itself out mid-request."""


class LastAdminKey(Conflict, IdentityError):
    """Revoking this key would leave the organisation without an admin API key."""
