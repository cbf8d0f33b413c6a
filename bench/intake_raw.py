"""The raw baseline for slip intake: Litestar, one asyncpg INSERT per request, no auth.

Usage::

    .venv/bin/python bench/intake_raw.py --dsn URL --port P --table T \\
        --org UUID --journey UUID --version UUID --reporter-key UUID \\
        --stage S --severity N [--root-cause R] [--deficit D] [--keys-table K]

``bench/intake.py`` starts this server beside the product and drives both with the same wrk
script. It serves ``POST /api/v1/slips`` with the same JSON body as the product, decodes it
into a typed struct, and writes a row with the same columns and values the product would
write (the fixed ones come from the command line) into a scratch copy of the slip table,
through an asyncpg pool of the product's default size. There is no authentication, no
journey validation, no transaction block and no middleware: it is the floor that the
framework, the server and one database round trip cost. With ``--keys-table``, a request
that carries ``Idempotency-Key`` runs the one statement the product's keyed create runs
(claim the key with its response; insert the slip only if the claim was made), the floor
for keyed intake. Its pool skips asyncpg's reset query on release, as the product's does.
``GET /healthz`` answers 200.

It runs uvicorn with one worker, uvloop and httptools, like ``slipguard serve``.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import msgspec
import uvicorn
from litestar import Litestar, Request, Response, get, post

POOL_MIN = 1  # the product's defaults (SLIPGUARD_DATABASE_POOL_MIN / _MAX)
POOL_MAX = 10
COLUMNS = (
    "id",
    "organization",
    "journey",
    "journey_version",
    "behaviour",
    "failure_mode",
    "root_cause",
    "deficit",
    "stage",
    "severity",
    "source",
    "reporter_key",
    "site",
    "note",
    "occurred_at",
    "created_at",
    "updated_at",
)


PG_TYPES = {
    **dict.fromkeys(("id", "organization", "journey", "journey_version", "reporter_key"), "uuid"),
    **dict.fromkeys(("occurred_at", "created_at", "updated_at"), "timestamptz"),
    **dict.fromkeys(("note",), "text"),
    **dict.fromkeys(("severity",), "int"),
}
PG_TYPES |= {c: "varchar" for c in COLUMNS if c not in PG_TYPES}


class SlipBody(msgspec.Struct):
    """The request body: the fields the benchmark sends."""

    journey: str
    behaviour: str
    failure_mode: str | None = None
    site: str | None = None


@dataclass(frozen=True)
class Fixed:
    """Column values that the product derives from the key, the journey and the behaviour."""

    org: UUID
    journey: UUID
    version: UUID
    reporter_key: UUID
    stage: str
    severity: int
    root_cause: str | None = None
    deficit: str | None = None


def insert_sql(table: str) -> str:
    """The one INSERT the handler runs."""
    if not re.fullmatch(r"[a-z_][a-z0-9_]*", table):
        raise ValueError(f"bad table name {table!r}")
    params = ", ".join(f"${i}" for i in range(1, len(COLUMNS) + 1))
    return f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({params})"


async def _no_reset(connection: asyncpg.Connection) -> None:
    """Release connections without asyncpg's reset query, as the product's pool does: the
    floor should not pay a round trip the product does not."""


def create_app(dsn: str, table: str, fixed: Fixed, keys_table: str | None = None) -> Litestar:
    """The baseline application: a pool opened in the lifespan and two routes.

    With ``keys_table``, a request carrying ``Idempotency-Key`` runs the statement the
    product's keyed create runs: claim the key (with the response) and insert the slip only
    if the claim was made. That is the floor for keyed intake.
    """
    sql = insert_sql(table)
    claim_and_insert = ""
    if keys_table is not None:
        insert_sql(keys_table)  # validates the name
        values = ", ".join(f"${n}::{PG_TYPES[c]}" for n, c in enumerate(COLUMNS, 7))
        claim_and_insert = (
            f"WITH claim AS (INSERT INTO {keys_table} "
            "(id, organization, key, fingerprint, status_code, response, created_at) "
            "VALUES ($1, $2, $3, $4, 201, $5, $6) ON CONFLICT DO NOTHING RETURNING id) "
            f"INSERT INTO {table} ({', '.join(COLUMNS)}) SELECT {values} FROM claim"
        )
    pools: dict[str, Any] = {}

    @asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        pools["db"] = await asyncpg.create_pool(
            dsn, min_size=POOL_MIN, max_size=POOL_MAX, reset=_no_reset
        )
        try:
            yield
        finally:
            await pools.pop("db").close()

    @post("/api/v1/slips", status_code=201)
    async def create_slip(data: SlipBody, request: Request[Any, Any, Any]) -> Response[bytes]:
        """Store one slip with a single INSERT (keyed: together with the key's claim)."""
        key = request.headers.get("idempotency-key") if keys_table else None
        if key is None:
            return Response(await insert(pools["db"], data), status_code=201)
        digest = hashlib.sha256(await request.body()).hexdigest()
        now = datetime.now(UTC)
        slip_id = uuid4()
        response = msgspec.json.encode({"id": slip_id})
        await pools["db"].execute(
            claim_and_insert,
            uuid4(), fixed.org, key, digest, response.decode(), now,
            *values_of(slip_id, data, now),
        )  # fmt: skip
        return Response(response, status_code=201)

    def values_of(slip_id: UUID, data: SlipBody, now: datetime) -> tuple[Any, ...]:
        """The row's values in COLUMNS order."""
        return (
            slip_id, fixed.org, fixed.journey, fixed.version, data.behaviour, data.failure_mode,
            fixed.root_cause, fixed.deficit, fixed.stage, fixed.severity, "staff",
            fixed.reporter_key, data.site, "", now, now, now,
        )  # fmt: skip

    async def insert(db: Any, data: SlipBody) -> bytes:
        now = datetime.now(UTC)
        slip_id = uuid4()
        await db.execute(sql, *values_of(slip_id, data, now))
        return msgspec.json.encode({"id": slip_id})

    @get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness for the benchmark's readiness poll."""
        return {"status": "ok"}

    return Litestar(route_handlers=[create_slip, healthz], lifespan=[lifespan], debug=False)


def main(argv: list[str] | None = None) -> int:
    """Parse arguments and serve on 127.0.0.1 until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", required=True, help="postgresql://… of the bench database")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--table", required=True, help="scratch table with the slip columns")
    parser.add_argument("--org", type=UUID, required=True)
    parser.add_argument("--journey", type=UUID, required=True)
    parser.add_argument("--version", type=UUID, required=True)
    parser.add_argument("--reporter-key", type=UUID, required=True)
    parser.add_argument("--stage", required=True)
    parser.add_argument("--severity", type=int, required=True)
    parser.add_argument("--root-cause", default=None)
    parser.add_argument("--deficit", default=None)
    parser.add_argument(
        "--keys-table", default=None, help="scratch idempotency table: keyed requests use it"
    )
    args = parser.parse_args(argv)
    fixed = Fixed(
        org=args.org,
        journey=args.journey,
        version=args.version,
        reporter_key=args.reporter_key,
        stage=args.stage,
        severity=args.severity,
        root_cause=args.root_cause,
        deficit=args.deficit,
    )
    uvicorn.run(
        create_app(args.dsn, args.table, fixed, args.keys_table),
        host="127.0.0.1",
        port=args.port,
        loop="uvloop",
        http="httptools",
        access_log=False,
        log_level="warning",
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
