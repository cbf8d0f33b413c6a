"""Slip intake shared by the API and the staff page: a principal as a slip's reporter, a
request body as the service's input, and the preparation a keyed create needs."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from core.db import NewRow
from core.identity import Principal
from slips import validation, writes
from slips.schemas import SlipIn, SlipOut


def reporter_of(p: Principal) -> validation.Reporter:
    """The slip reporter for a principal (a staff user or an API key)."""
    return validation.Reporter(user_id=p.user_id, api_key_id=p.api_key_id)


def slip_input(data: SlipIn, key: str | None = None) -> validation.SlipInput:
    """The service input for a request body."""
    fields = {f: getattr(data, f) for f in SlipIn.__struct_fields__}
    return validation.SlipInput(**fields, key=key)


def preparer(p: Principal, data: SlipIn) -> Callable[[], Awaitable[tuple[SlipOut, NewRow]]]:
    """For :func:`create_once`: validate the posted slip into its response and row."""

    async def prepare() -> tuple[SlipOut, NewRow]:
        slip = await writes.prepare_slip(p.tenant, slip_input(data), reporter_of(p))
        return SlipOut.of(slip, data.journey), writes.as_new_row(slip)

    return prepare
