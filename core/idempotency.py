"""Idempotency keys with Stripe's semantics, for POSTs that create things.

The first request with a key runs and its successful response is stored with a
fingerprint of the request; a retry with the same key and the same request gets the
stored response back (``Idempotent-Replayed: true``) without its work being done again;
the same key with a different request is a 409. The record is written atomically with the
work, behind a unique index, so two concurrent requests with one key do the work once: the
second waits for the first to commit and then replays it. Failed requests store nothing,
so they can be retried with the same key.

Two ways in: :func:`run_once` wraps any work in a transaction (claim, work, save the
response); :func:`insert_once` serves creates whose response is known before the write,
claiming the key with its response and inserting the row in one statement on PostgreSQL.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from core import clock
from core.db import (
    LoopPoolPostgresEngine,
    NewRow,
    engine,
    insert_rows,
    native_sql,
    run_sql,
    write_transaction,
)
from core.errors import Conflict, FieldError, Invalid
from core.ids import new_id
from core.tables import IdempotencyRecord
from core.tenancy import Tenant

MAX_KEY_LENGTH = 200


class IdempotencyMismatch(Conflict):
    """The key was already used for a different request."""

    title = "Idempotency key reused"


@dataclass(frozen=True)
class Outcome:
    """A response to send: fresh or replayed."""

    status_code: int
    body: bytes
    replayed: bool


def fingerprint(method: str, path: str, body: bytes) -> str:
    """What makes two requests 'the same' for an idempotency key."""
    return hashlib.sha256(b"\0".join([method.encode(), path.encode(), body])).hexdigest()


def check_key(key: str) -> str:
    """A usable key: 1-200 visible characters."""
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise Invalid(
            "invalid Idempotency-Key",
            [FieldError("Idempotency-Key", f"1-{MAX_KEY_LENGTH} printable characters")],
        )
    return key


# Claim a key, with the response when it is already known (else 0 and '' until saved).
_CLAIM = (
    "INSERT INTO idempotency_record "
    "(id, organization, key, fingerprint, status_code, response, created_at) "
    "VALUES ({}, {}, {}, {}, {}, {}, {}) ON CONFLICT DO NOTHING RETURNING id"
)
_FIND = (
    "SELECT fingerprint, status_code, response FROM idempotency_record "
    "WHERE organization = {} AND key = {}"
)
_SAVE = "UPDATE idempotency_record SET status_code = {}, response = {} WHERE id = {}"


async def run_once(
    tenant: Tenant,
    key: str,
    request_fingerprint: str,
    work: Callable[[], Awaitable[tuple[int, bytes]]],
) -> Outcome:
    """Run ``work`` at most once per (organisation, key).

    Plain statements rather than Piccolo queries: this wraps every keyed request (the staff
    page sends a key with each entry), and building the three queries cost more than
    running them.
    """
    key = check_key(key)
    async with write_transaction():
        claimed = await run_sql(
            _CLAIM, new_id(), tenant.org_id, key, request_fingerprint, 0, "", clock.now()
        )
        if not claimed:
            # The unique (organisation, key) index made us wait for the first request to
            # commit, so its response is there to replay.
            return await _replay_conflict(tenant, key, request_fingerprint)
        status, body = await work()
        await run_sql(_SAVE, status, body.decode(), claimed[0]["id"])
    return Outcome(status, body, False)


async def replay(tenant: Tenant, key: str, request_fingerprint: str) -> Outcome | None:
    """What the key answered first (None: never used); 409 for a different request."""
    found = await run_sql(_FIND, tenant.org_id, check_key(key))
    if not found:
        return None
    record = found[0]
    if record["fingerprint"] != request_fingerprint:
        raise IdempotencyMismatch(
            "this Idempotency-Key was already used with a different request; "
            "use a new key for a new request"
        )
    return Outcome(record["status_code"], record["response"].encode(), True)


@lru_cache(maxsize=16)
def _claim_and_insert(table: str, columns: tuple[str, ...], pg_types: tuple[str, ...]) -> str:
    """One PostgreSQL statement: claim the key; insert the row only if the claim was made."""
    claim = native_sql(_CLAIM)
    values = ", ".join(f"${n}::{t}" for n, t in enumerate(pg_types, 8))
    return (
        f"WITH claim AS ({claim}) "
        f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} FROM claim RETURNING 1"
    )


async def insert_once(
    tenant: Tenant, key: str, request_fingerprint: str, status: int, body: bytes, row: NewRow
) -> Outcome:
    """Store ``row`` and remember ``(status, body)`` under the key, or replay the key's first
    answer: for creates whose response is known before the write.

    PostgreSQL does it in one statement (the insert depends on the claim), so a keyed create
    costs the round trip an unkeyed one does; SQLite runs the two in its write transaction.
    A concurrent request with the same key waits on the unique index and then replays.
    """
    key = check_key(key)
    claim = (new_id(), tenant.org_id, key, request_fingerprint, status, body.decode())
    eng = engine()
    if isinstance(eng, LoopPoolPostgresEngine):
        sql = _claim_and_insert(row.table, row.columns, row.pg_types)
        if await eng.fetch(sql, *claim, clock.now(), *row.values):
            return Outcome(status, body, False)
    else:
        async with write_transaction():
            if await run_sql(_CLAIM, *claim, clock.now()):
                await insert_rows(row.table, row.columns, row.pg_types, [row.values])
                return Outcome(status, body, False)
    return await _replay_conflict(tenant, key, request_fingerprint)


async def _replay_conflict(tenant: Tenant, key: str, request_fingerprint: str) -> Outcome:
    """The answer for a claim that met the unique index: the first request's response."""
    replayed = await replay(tenant, key, request_fingerprint)
    if replayed is None:  # purged between our claim and our look-up: vanishingly rare
        raise IdempotencyMismatch(
            "this Idempotency-Key was being forgotten as the request arrived; "
            "send the request again"
        )
    return replayed


async def purge(hours: int, now: datetime | None = None) -> int:
    """Forget keys older than ``hours`` (never less than 24)."""
    cutoff = (now or clock.now()) - timedelta(hours=max(hours, 24))
    gone = (
        await IdempotencyRecord.delete()
        .where(IdempotencyRecord.created_at < cutoff)
        .returning(IdempotencyRecord.id)
    )
    return len(gone)


async def forget_mentioning(tenant: Tenant, text: str) -> int:
    """Erasure: drop the organisation's stored responses that mention ``text`` (a
    customer's id), since they may hold the person's details; a retry with such a key
    then runs afresh instead of replaying them."""
    if not text:
        return 0
    gone = await (
        tenant.delete(IdempotencyRecord)
        .where(IdempotencyRecord.response.like(f"%{text}%"))
        .returning(IdempotencyRecord.id)
    )
    return len(gone)
