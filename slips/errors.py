"""Slip-context errors."""

from core.errors import DomainError, Invalid, NotFound


class SlipsError(DomainError):
    """Root of the slips context's errors."""


class SlipInvalid(Invalid, SlipsError):
    """A slip names an unknown journey, behaviour or failure mode, or has bad values."""


class SlipNotFound(NotFound, SlipsError):
    """No such slip in the organisation."""


class SlipLocked(SlipsError):
    """The slip can no longer be changed by this caller."""

    kind = "forbidden"
    title = "Not allowed"
