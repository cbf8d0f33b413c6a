"""Errors of the dashboards context."""

from core.errors import DomainError, Invalid, NotFound


class DashboardError(DomainError):
    """Root of the dashboards context's errors."""


class DashboardInvalid(Invalid, DashboardError):
    """A filter or setting of a dashboard is not valid."""


class CountermeasureNotFound(NotFound, DashboardError):
    """No countermeasure with this id in the organisation."""


class SourceJourneyNotFound(NotFound, DashboardError):
    """An error source names a journey the organisation does not have."""
