"""Identity and tenancy errors (the api context's domain errors)."""

from api.domain import Conflict, DomainError, Invalid, NotFound


class IdentityError(DomainError):
    """Root of identity and tenancy errors."""


class OrganizationExists(Conflict, IdentityError):
    """An organisation with this slug already exists."""


class OrganizationNotFound(NotFound, IdentityError):
    """No organisation has this slug."""


class UserExists(Conflict, IdentityError):
    """A staff user with this email already exists."""


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
