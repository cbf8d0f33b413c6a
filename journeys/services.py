"""Journey definitions: load (versioned by digest), list, read, preview."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from core import clock
from core.db import write_transaction
from core.errors import FieldError
from core.tenancy import Tenant
from journeys import templates
from journeys.definition import (
    JourneyDefinition,
    Validation,
    canonical,
    digest,
    from_canonical,
    load_definition,
)
from journeys.durations import parse_offset
from journeys.errors import EnrollmentInvalid, JourneyNotFound
from journeys.schedule import apply_offset, grace_until, occurrences
from journeys.tables import Journey, JourneyVersion


@dataclass(frozen=True)
class Loaded:
    """The outcome of loading one definition."""

    journey: Journey
    version: int
    created: bool  # False when the definition was unchanged (no new version)
    validation: Validation


async def load_journey(
    tenant: Tenant,
    source: str,
    filename: str = "<upload>",
    user_id: UUID | None = None,
    api_key_id: UUID | None = None,
) -> Loaded:
    """Validate and store a definition: new journey, version N+1, or nothing if unchanged."""
    # Off the event loop: a large file takes a noticeable time to check, and other requests
    # (every organisation's) must not wait for it.
    definition, validation = await asyncio.to_thread(load_definition, source, filename)
    body = canonical(definition).decode()
    checksum = digest(definition)
    async with write_transaction():
        journey = await tenant.objects(Journey).where(Journey.key == definition.key).first()
        if journey is None:
            journey = tenant.new(Journey, key=definition.key, title=definition.title)
            await journey.save()
        else:
            latest = (
                await tenant.objects(JourneyVersion)
                .where(JourneyVersion.journey == journey.id)
                .order_by(JourneyVersion.version, ascending=False)
                .first()
            )
            if latest is not None and latest.digest == checksum:
                return Loaded(journey, latest.version, False, validation)
        version = journey.current_version + 1
        await tenant.new(
            JourneyVersion,
            journey=journey.id,
            version=version,
            digest=checksum,
            definition=body,
            source=source,
            created_by_user=user_id,
            created_by_key=api_key_id,
        ).save()
        await tenant.update(
            Journey,
            {
                Journey.current_version: version,
                Journey.title: definition.title,
                Journey.updated_at: clock.now(),
            },
        ).where(Journey.id == journey.id)
        journey.current_version = version
        journey.title = definition.title
    return Loaded(journey, version, True, validation)


_decoded: dict[UUID, JourneyDefinition] = {}


def cached(version_id: UUID) -> JourneyDefinition | None:
    """A definition already decoded in this process, if any (saves reading it again)."""
    return _decoded.get(version_id)


def decoded(version_id: UUID, canonical_json: str) -> JourneyDefinition:
    """A stored definition, decoded once per process (versions never change)."""
    hit = _decoded.get(version_id)
    if hit is None:
        if len(_decoded) > 1024:
            _decoded.clear()
        hit = _decoded[version_id] = from_canonical(canonical_json)
    return hit


async def definitions_by_version(
    version_ids: Iterable[UUID],
) -> tuple[dict[UUID, JourneyDefinition], dict[UUID, Exception]]:
    """Decoded definitions by version id (only versions not yet decoded are read), and the
    versions whose stored definition cannot be decoded, with the error: background jobs set
    those aside rather than let one stop a batch."""
    wanted = set(version_ids)
    missing = [v for v in wanted if v not in _decoded]
    failed: dict[UUID, Exception] = {}
    if missing:
        for row in await JourneyVersion.select(JourneyVersion.id, JourneyVersion.definition).where(
            JourneyVersion.id.is_in(missing)
        ):
            try:
                decoded(row["id"], row["definition"])
            except Exception as exc:
                failed[row["id"]] = exc
    return {v: _decoded[v] for v in wanted if v in _decoded}, failed


async def get_journey(tenant: Tenant, key: str) -> Journey:
    """A journey by key."""
    journey = await tenant.objects(Journey).where(Journey.key == key).first()
    if journey is None:
        raise JourneyNotFound(f"no journey {key!r}")
    return journey


async def list_journeys(tenant: Tenant) -> list[Journey]:
    """All journeys of the organisation, by key."""
    return await tenant.objects(Journey).order_by(Journey.key)


async def versions(tenant: Tenant, journey: Journey) -> list[JourneyVersion]:
    """Every version of a journey, newest first."""
    return (
        await tenant.objects(JourneyVersion)
        .where(JourneyVersion.journey == journey.id)
        .order_by(JourneyVersion.version, ascending=False)
    )


async def current_definition(
    tenant: Tenant, key: str
) -> tuple[Journey, JourneyVersion, JourneyDefinition]:
    """A journey with its current version, decoded."""
    journey = await get_journey(tenant, key)
    version = (
        await tenant.objects(JourneyVersion)
        .where(
            (JourneyVersion.journey == journey.id)
            & (JourneyVersion.version == journey.current_version)
        )
        .first()
    )
    if version is None:  # pragma: no cover - a journey always has its current version
        raise JourneyNotFound(f"journey {key!r} has no version")
    return journey, version, decoded(version.id, version.definition)


def parse_timezone(name: str, field: str = "timezone") -> ZoneInfo:
    """An IANA zone, or an error naming the field."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise EnrollmentInvalid(
            f"unknown timezone {name!r}",
            [FieldError(field, "not an IANA timezone, e.g. Europe/London")],
        ) from None


def parse_anchors(
    definition: JourneyDefinition,
    given: dict[str, str],
    now: datetime,
    field: str = "anchors",
    *,
    all_default_to_now: bool = False,
) -> dict[str, datetime]:
    """Anchor instants from ISO 8601 strings with an offset; ``start`` defaults to now (and
    every anchor does with ``all_default_to_now``, for a preview)."""
    errors: list[FieldError] = []
    out: dict[str, datetime] = {}
    for name in given:
        if name not in definition.anchors:
            errors.append(
                FieldError(
                    f"{field}.{name}",
                    f"unknown anchor; this journey uses {', '.join(definition.anchors)}",
                )
            )
    for name in definition.anchors:
        raw = given.get(name)
        if raw is None:
            if name == "start" or all_default_to_now:
                out[name] = now
            else:
                errors.append(
                    FieldError(
                        f"{field}.{name}",
                        "missing: an ISO 8601 time with an offset, e.g. 2026-12-01T09:30:00+00:00",
                    )
                )
            continue
        try:
            value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
        except ValueError:
            errors.append(FieldError(f"{field}.{name}", f"{raw!r} is not an ISO 8601 time"))
            continue
        if value.tzinfo is None:
            errors.append(FieldError(f"{field}.{name}", "needs a UTC offset (e.g. +00:00 or Z)"))
            continue
        if not clock.in_range(value) or abs(value - now) > clock.ANCHOR_WINDOW:
            years = clock.ANCHOR_WINDOW.days // 366
            errors.append(FieldError(f"{field}.{name}", f"must be within {years} years of now"))
            continue
        out[name] = value.astimezone(UTC)
    if errors:
        raise EnrollmentInvalid("invalid anchors", errors)
    return out


ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")
EN_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
EN_MONTHS = (
    "January", "February", "March", "April", "May", "June", "July", "August",
    "September", "October", "November", "December",
)  # fmt: skip


def local_fields(instant: datetime, tz: ZoneInfo, locale: str = "en") -> dict[str, str]:
    """Template values for a local date and time, written the locale's way.

    Chinese gets ``11月27日 星期五``; every other locale English ``Friday 27 November``
    (names are spelled out here rather than taken from the process locale, which differs
    between machines).
    """
    local = instant.astimezone(tz)
    if locale.lower().startswith("zh"):
        date = f"{local.month}月{local.day}日 {ZH_WEEKDAYS[local.weekday()]}"
    else:
        date = f"{EN_WEEKDAYS[local.weekday()]} {local.day} {EN_MONTHS[local.month - 1]}"
    return {"date": date, "time": f"{local:%H:%M}"}


def message_values(
    definition: JourneyDefinition,
    behaviour_key: str,
    due: datetime,
    anchors: dict[str, datetime],
    tz: ZoneInfo,
    base: dict[str, str],
    locale: str = "en",
) -> dict[str, str]:
    """Everything a template may use for one step."""
    b = definition.behaviour(behaviour_key)
    assert b is not None
    due_local = local_fields(due, tz, locale)
    values = {
        **templates.VARIABLES,
        **base,
        "journey_title": definition.title,
        "behaviour_title": b.title,
        "instructions": b.instructions,
        "due_date": due_local["date"],
        "due_time": due_local["time"],
        "reply_keywords": ", ".join(b.confirm.reply) if b.confirm else "",
    }
    for name, instant in anchors.items():
        fields = local_fields(instant, tz, locale)
        values[f"{name}_date"], values[f"{name}_time"] = fields["date"], fields["time"]
    return values


def preview(
    definition: JourneyDefinition,
    anchors: dict[str, datetime],
    tz: ZoneInfo,
    locale: str | None = None,
    base: dict[str, str] | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """The timeline a customer would get: steps and their messages, local and UTC."""
    locale = locale if locale in definition.locales else definition.locales[0]
    out: list[dict[str, Any]] = []
    for occ in occurrences(definition, anchors, tz):
        if len(out) >= limit:
            break
        b = definition.behaviour(occ.behaviour)
        assert b is not None
        values = message_values(
            definition, occ.behaviour, occ.due_at, anchors, tz, base or {}, locale
        )
        messages = []
        for nudge in b.nudges:
            send_at = apply_offset(parse_offset(nudge.at), occ.due_at, tz)
            messages.append(
                {
                    "at": send_at.isoformat(),
                    "local": send_at.astimezone(tz).isoformat(),
                    "channel": nudge.channel,
                    "template": nudge.template,
                    "condition": nudge.unless,
                    "text": templates.render(definition.templates[nudge.template][locale], values),
                }
            )
        out.append(
            {
                "behaviour": occ.behaviour,
                "title": b.title,
                "occurrence": occ.nth,
                "due_at": occ.due_at.isoformat(),
                "due_local": occ.due_at.astimezone(tz).isoformat(),
                "grace_until": grace_until(b, occ.due_at, tz).isoformat(),
                "messages": sorted(messages, key=lambda m: m["at"]),
            }
        )
    return out
