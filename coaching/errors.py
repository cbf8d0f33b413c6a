"""Coaching-context errors."""

from uuid import UUID

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


class LinkInvalid(CoachingError):
    """A customer link was altered, cut short, or belongs to no (or an erased) customer."""

    kind = "not_found"
    title = "Link not valid"


class LinkExpired(LinkInvalid):
    """A genuine customer link past its age: it names the customer, so a new one can be
    sent to the contact on file."""

    title = "Link expired"

    def __init__(self, customer: UUID) -> None:
        super().__init__("this link has expired")
        self.customer = customer


class LinkRateLimited(CoachingError):
    """Fresh links were sent to this customer too often in the last hour."""

    kind = "throttled"
    title = "Too many new links"


class StepNotYours(NotFound, CoachingError):
    """The step is not one of this customer's (or does not exist)."""


class SelfServiceInvalid(Invalid, CoachingError):
    """A customer's form had a value that cannot be used (the message names the field)."""
