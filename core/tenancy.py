"""Organisation scoping for every query, so a service cannot forget the tenant filter.

Services receive a :class:`Tenant` (built from the caller's credential, never from the
request body or path) and go through it for every read and write of an owned table.
An object of another organisation is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, TypeVar
from uuid import UUID

from piccolo.query import Objects, Select
from piccolo.query.methods.delete import Delete
from piccolo.query.methods.update import Update
from piccolo.table import Table

from core.errors import NotFound

T = TypeVar("T", bound=Table)


def _owned(table: type[Table]) -> Any:
    column = getattr(table, "organization", None)
    if column is None:
        raise TypeError(f"{table.__name__} has no organization column; it cannot be tenant-scoped")
    return column


@dataclass(frozen=True)
class Tenant:
    """The caller's organisation; every query built here is filtered by it."""

    org_id: UUID

    def select(self, table: type[Table], *columns: Any) -> Select[Any]:
        """``SELECT`` restricted to this organisation's rows."""
        return table.select(*columns).where(_owned(table) == self.org_id)

    def objects(self, table: type[T]) -> Objects[T]:
        """Row objects restricted to this organisation."""
        return table.objects().where(_owned(table) == self.org_id)

    def update(self, table: type[Table], values: dict[Any, Any]) -> Update:
        """``UPDATE`` restricted to this organisation's rows (add your own ``where``)."""
        return table.update(values).where(_owned(table) == self.org_id)

    def delete(self, table: type[Table]) -> Delete:
        """``DELETE`` restricted to this organisation's rows (add your own ``where``)."""
        return table.delete().where(_owned(table) == self.org_id)

    def new(self, table: type[T], **values: Any) -> T:
        """A new, unsaved row owned by this organisation."""
        _owned(table)
        return table(organization=self.org_id, **values)

    async def get(
        self, table: type[T], object_id: UUID, error: type[NotFound] = NotFound, what: str = ""
    ) -> T:
        """One row by id, or ``error`` when it does not exist *in this organisation*."""
        row = await self.objects(table).where(table._meta.primary_key == object_id).first()
        if row is None:
            raise error(f"{what or table._meta.tablename} {object_id} not found")
        return row
