"""Coaching-context errors."""

from core.errors import Conflict, DomainError, Invalid, NotFound


class CoachingError(DomainError):
    """Root of the coaching context's errors."""


class NudgeNotFound(NotFound, CoachingError):
    """No such message in the organisation."""


class NudgeQueryInvalid(Invalid, CoachingError):
    """A message-history filter is out of range or malformed."""


class SignatureInvalid(CoachingError):
    """A provider callback did not carry a valid signature for this server's URL."""

    kind = "forbidden"
    title = "Signature not valid"


class UnsubscribeInvalid(CoachingError):
    """An unsubscribe link was altered or belongs to no customer."""

    kind = "not_found"
    title = "Link not valid"


class InboxItemNotFound(NotFound, CoachingError):
    """No such inbox item in the organisation."""


class TaskNotFound(NotFound, CoachingError):
    """No such staff task in the organisation."""


class TaskClosed(Conflict, CoachingError):
    """The staff task is already closed."""


class AdvisoryNotFound(NotFound, CoachingError):
    """No such advisory in the organisation."""


class AdvisoryInvalid(Invalid, CoachingError):
    """An advisory names an unknown journey or behaviour, or its text does not render."""


class BreachNoticeInvalid(Invalid, CoachingError):
    """A breach notice's template does not render, or its customer list names someone
    the organisation does not have."""
