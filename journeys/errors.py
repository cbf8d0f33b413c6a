"""Journey-context errors: definitions, customers, consent, enrollments, steps."""

from __future__ import annotations

from core.errors import Conflict, DomainError, FieldError, Invalid, NotFound


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
    """Customer data is not acceptable (phone, email, timezone, locale, sending window)."""


class CustomerRefExists(Conflict, JourneysError):
    """Another customer of the organisation already has this external_ref."""


class CustomerErased(Conflict, JourneysError):
    """The customer's personal data was erased; the record can no longer change."""

    @classmethod
    def of(cls, customer_id: object) -> CustomerErased:
        return cls(f"customer {customer_id} was erased; the record can no longer change")


class EnrollmentInvalid(Invalid, JourneysError):
    """Enrollment input is not acceptable (anchors, journey, customer)."""


class EnrollmentNotFound(NotFound, JourneysError):
    """No such enrollment in the organisation."""


class StepNotFound(NotFound, JourneysError):
    """No such step in the organisation."""


class StepClosed(Conflict, JourneysError):
    """The step was cancelled or excused and cannot be completed."""
