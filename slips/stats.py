"""How an organisation's staff have been logging slips, for ordering quick-entry choices.

Front-line staff log the same few slips again and again, so the entry page puts the last
choice first, then the most frequent ones, then everything else in definition order. The
counts come from one aggregate query over recent, non-voided staff slips.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol, TypeVar

from piccolo.query.functions.aggregate import Count, Max

from core import clock
from core.tenancy import Tenant
from slips.catalogue import current_journeys, journey_choices
from slips.tables import Slip

# Usage keys: (journey,), (journey, behaviour) and (journey, behaviour, failure mode).
ChoiceKey = tuple[str, ...]


@dataclass(frozen=True)
class Usage:
    """How often a choice was used in the window, and when last."""

    count: int
    last_used: datetime


def _instant(value: Any) -> datetime:
    """An aggregate's timestamp as an aware UTC datetime (SQLite hands back text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _add(out: dict[ChoiceKey, Usage], key: ChoiceKey, count: int, last: datetime) -> None:
    seen = out.get(key)
    if seen is None:
        out[key] = Usage(count, last)
    else:
        out[key] = Usage(seen.count + count, max(seen.last_used, last))


async def choice_order(
    tenant: Tenant, days: int = 30, sources: Sequence[str] = ("staff",)
) -> dict[ChoiceKey, Usage]:
    """Counts and last-used times of the organisation's choices over the last ``days``.

    Keys are ``(journey,)``, ``(journey, behaviour)`` and ``(journey, behaviour, mode)``;
    a slip without a failure mode counts for its journey and behaviour only. Voided slips
    and, by default, slips not logged by staff (missed steps, customer replies) are left out.
    """
    since = clock.now() - timedelta(days=days)
    rows = (
        await tenant.select(
            Slip,
            Slip.journey.key.as_alias("journey_key"),
            Slip.behaviour,
            Slip.failure_mode,
            Count(alias="uses"),
            Max(Slip.created_at, alias="last_used"),
        )
        .where(
            Slip.voided_at.is_null() & (Slip.created_at >= since) & Slip.source.is_in(list(sources))
        )
        .group_by(Slip.journey.key, Slip.behaviour, Slip.failure_mode)
    )
    out: dict[ChoiceKey, Usage] = {}
    for row in rows:
        count, last = int(row["uses"]), _instant(row["last_used"])
        journey, behaviour, mode = row["journey_key"], row["behaviour"], row["failure_mode"]
        _add(out, (journey,), count, last)
        _add(out, (journey, behaviour), count, last)
        if mode is not None:
            _add(out, (journey, behaviour, mode), count, last)
    return out


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


K = TypeVar("K", bound=_Keyed)


def by_use(items: Iterable[K], prefix: ChoiceKey, usage: dict[ChoiceKey, Usage]) -> list[K]:
    """``items`` (under ``prefix``) with the one used last first, then the other used ones
    by use count (ties: more recent first), then the unused ones as given."""
    listed = list(items)
    seen = [usage.get((*prefix, item.key)) for item in listed]
    used = [(u.last_used, -i) for i, u in enumerate(seen) if u is not None]
    latest = -max(used)[1] if used else None

    def rank(index: int) -> tuple[int, int, float, int]:
        u = seen[index]
        if u is None:
            return (2, 0, 0.0, index)
        if index == latest:
            return (0, 0, 0.0, index)
        return (1, -u.count, -u.last_used.timestamp(), index)

    return [listed[i] for i in sorted(range(len(listed)), key=rank)]


def _uses(usage: dict[ChoiceKey, Usage], key: ChoiceKey) -> int:
    seen = usage.get(key)
    return seen.count if seen else 0


async def staff_choices(tenant: Tenant, days: int = 30) -> list[dict[str, Any]]:
    """The organisation's journeys, behaviours and failure modes as plain data (key, title,
    uses in the window), each level ordered by :func:`by_use`, for the quick-entry page."""
    usage = await choice_order(tenant, days)
    current = await current_journeys(tenant, await journey_choices(tenant))
    definitions = [current[key].definition for key in sorted(current)]
    return [
        {
            "key": j.key,
            "title": j.title,
            "uses": _uses(usage, (j.key,)),
            "behaviours": [
                {
                    "key": b.key,
                    "title": b.title,
                    "uses": _uses(usage, (j.key, b.key)),
                    "failure_modes": [
                        {
                            "key": m.key,
                            "title": m.title or m.key.replace("-", " ").capitalize(),
                            "uses": _uses(usage, (j.key, b.key, m.key)),
                        }
                        for m in by_use(b.failure_modes, (j.key, b.key), usage)
                    ],
                }
                for b in by_use(j.behaviours, (j.key,), usage)
            ],
        }
        for j in by_use(definitions, (), usage)
    ]
