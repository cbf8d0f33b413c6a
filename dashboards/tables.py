"""Dashboard tables: each organisation's ranking settings."""

from piccolo.columns import UUID, ForeignKey, Text, Timestamptz
from piccolo.columns.base import OnDelete
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

from core.tables import Organization


class ActionPriorityTable(Table):
    """An organisation's FMEA Action Priority table and rating rules (JSON, see
    ``dashboards.priority.ActionPriorityConfig``); without a row the default applies."""

    id = UUID(primary_key=True)
    organization = ForeignKey(
        references=Organization, null=False, on_delete=OnDelete.cascade, unique=True
    )
    definition = Text()
    updated_at = Timestamptz(default=TimestamptzNow())
