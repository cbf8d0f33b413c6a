"""Journey-context errors: definitions, customers, consent, enrollments, steps."""

from api.domain import Conflict, DomainError, FieldError, Invalid, NotFound


class JourneysError(DomainError):
    """Root of the journeys context's errors."""


class DefinitionInvalid(Invalid, JourneysError):
    """A journey definition has errors (each names file, line and path)."""

    title = "Invalid journey definition"

    def __init__(self, detail: str, errors: list[FieldError], source: str = "") -> None:
        super().__init__(detail, errors)
        self.source = source


class JourneyNotFound(NotFound, JourneysError):
    """No journey with this key in the organisation."""


class CustomerNotFound(NotFound, JourneysError):
    """No such customer in the organisation."""


class CustomerInvalid(Invalid, JourneysError):
    """Customer data is not acceptable (phone, email, timezone, locale, quiet hours)."""


class CustomerRefExists(Conflict, JourneysError):
    """Another customer of the organisation already has this external_ref."""


class CustomerErased(Conflict, JourneysError):
    """The customer's personal data was erased; the record can no longer change."""


class EnrollmentInvalid(Invalid, JourneysError):
    """Enrollment input is not acceptable (anchors, journey, customer)."""


class EnrollmentNotFound(NotFound, JourneysError):
    """No such enrollment in the organisation."""


class StepNotFound(NotFound, JourneysError):
    """No such step in the organisation."""


class StepClosed(Conflict, JourneysError):
    """The step was cancelled or excused and cannot be completed."""


class SlipInvalid(Invalid, JourneysError):
    """A slip names an unknown journey, behaviour or failure mode, or has bad values."""


class SlipNotFound(NotFound, JourneysError):
    """No such slip in the organisation."""


class SlipLocked(JourneysError):
    """The slip can no longer be changed by this caller."""

    kind = "forbidden"
    title = "Not allowed"
