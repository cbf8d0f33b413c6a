"""CSV import of historical tick sheets.

Columns (header row required, any order): ``journey``, ``behaviour`` and ``occurred_at`` are
required; ``failure_mode``, ``root_cause``, ``deficit``, ``customer_ref``, ``severity``,
``site``, ``channel``, ``note``, ``key`` and ``kind`` (error or complaint) are optional.
``occurred_at`` is ISO 8601; without an offset it is read in the organisation's timezone,
and a bare date means 12:00 that day.
Each row gets a key (its ``key`` column, else one derived from the file name, line and
content), so importing the same file again adds nothing. By default the import is
all-or-nothing: one bad row and nothing is written; ``skip_invalid`` stores the good rows.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from core.db import write_transaction
from core.errors import FieldError
from core.tenancy import Tenant
from slips import validation, writes
from slips.schemas import SlipItemIn

REQUIRED = ("journey", "behaviour", "occurred_at")
OPTIONAL = (
    "failure_mode", "root_cause", "deficit", "customer_ref", "severity",
    "site", "channel", "note", "key", "kind",
)  # fmt: skip
CHUNK = 1000


class CsvProblem(ValueError):
    """The file as a whole cannot be read (encoding, header)."""


@dataclass
class RowError:
    """A bad row: its line number in the file and what is wrong."""

    line: int
    errors: list[FieldError]

    def __str__(self) -> str:
        return f"line {self.line}: " + "; ".join(f"{e.field}: {e.message}" for e in self.errors)


@dataclass
class ImportReport:
    """What an import did (or would do, in a dry run)."""

    rows: int = 0
    created: int = 0
    duplicates: int = 0
    bad: list[RowError] = field(default_factory=list)
    written: bool = False


def _decode(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise CsvProblem(
            f"{name}: line {line}: not UTF-8 (byte 0x{raw[exc.start]:02x}); "
            "save the sheet as 'CSV UTF-8'"
        ) from None


def _when(text: str, tz: ZoneInfo) -> datetime:
    text = text.strip()
    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), time(12, 0), tzinfo=tz)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{text!r} is not a date or time; use 2026-10-01, 2026-10-01 14:30 or ISO 8601"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


def _records(reader: csv.DictReader[str], name: str) -> Iterator[tuple[int, dict[str, Any]]]:
    """Each record with the line it starts on; a record the csv module cannot read (a
    quote never closed, a field over its size limit) refuses the file, naming that line."""
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            text = str(exc)
            if "field larger than field limit" in text:
                why = f"a field is longer than {csv.field_size_limit():,} characters"
            else:
                why = 'a quoted field is not closed (a " opened here has no matching ")'
            raise CsvProblem(f"{name}: line {start}: {why}; nothing was imported") from None
        yield start, record


def _shape(values: dict[str, str], severity: int | None) -> list[FieldError]:
    """The length and character limits the API applies to the same fields (a value the
    database would refuse must be a row error, not a failed import)."""
    given: dict[str, Any] = {
        k: v
        for k, v in values.items()
        if v and k in SlipItemIn.__struct_fields__ and k not in ("severity", "occurred_at")
    }
    if severity is not None:
        given["severity"] = severity
    try:
        msgspec.convert(given, SlipItemIn)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).partition(" - at `$.")
        named = re.match(r"^`([^`]+)` ", message)
        column = where.rstrip("`") or (named.group(1) if named else "row")
        return [FieldError(column, message)]
    return []


def parse_rows(
    raw: bytes, name: str, tz: ZoneInfo
) -> tuple[list[tuple[int, validation.SlipInput]], list[RowError]]:
    """Read the file into slip inputs (with their line numbers) and row errors."""
    # strict: a quote left open is an error, not a field that swallows the rows after it.
    reader = csv.DictReader(io.StringIO(_decode(raw, name), newline=""), strict=True)
    header = [h.strip() for h in reader.fieldnames or []]
    if not header:
        raise CsvProblem(f"{name}: empty file; the first line must name the columns")
    missing = [c for c in REQUIRED if c not in header]
    unknown = [c for c in header if c not in REQUIRED + OPTIONAL]
    if missing or unknown:
        parts = []
        if missing:
            parts.append(f"missing column(s) {', '.join(missing)}")
        if unknown:
            parts.append(f"unknown column(s) {', '.join(unknown)}")
        raise CsvProblem(
            f"{name}: line 1: {'; '.join(parts)}; columns are {', '.join(REQUIRED + OPTIONAL)}"
        )
    reader.fieldnames = header
    base = os.path.basename(name)
    items: list[tuple[int, validation.SlipInput]] = []
    bad: list[RowError] = []
    for line, record in _records(reader, name):
        if None in record:
            bad.append(RowError(line, [FieldError("row", "more values than columns")]))
            continue
        values = {k: (v or "").strip() for k, v in record.items()}
        if not any(values.values()):
            continue
        errors: list[FieldError] = []
        for column in REQUIRED:
            if not values.get(column):
                errors.append(FieldError(column, "is empty"))
        occurred = None
        if values.get("occurred_at"):
            try:
                occurred = _when(values["occurred_at"], tz)
            except ValueError as exc:
                errors.append(FieldError("occurred_at", str(exc)))
        severity = None
        if values.get("severity"):
            try:
                severity = int(values["severity"])
            except ValueError:
                errors.append(
                    FieldError("severity", f"{values['severity']!r} is not a whole number")
                )
        errors += _shape(values, severity)
        if errors:
            bad.append(RowError(line, errors))
            continue
        # ``kind`` came later: it joins the derived key only when given, so a sheet
        # imported before it existed still maps to the keys it was stored under.
        columns = [c for c in REQUIRED + OPTIONAL if c != "kind" or values.get("kind")]
        content = "\x1f".join(values.get(c, "") for c in columns)
        derived = hashlib.sha256(f"{base}\x1e{line}\x1e{content}".encode()).hexdigest()[:40]
        items.append(
            (
                line,
                validation.SlipInput(
                    journey=values["journey"],
                    behaviour=values["behaviour"],
                    failure_mode=values.get("failure_mode") or None,
                    root_cause=values.get("root_cause") or None,
                    deficit=values.get("deficit") or None,
                    customer_ref=values.get("customer_ref") or None,
                    severity=severity,
                    site=values.get("site") or None,
                    channel=values.get("channel") or None,
                    note=values.get("note", ""),
                    occurred_at=occurred,
                    key=values.get("key") or f"csv:{derived}",
                    kind=values.get("kind") or "error",
                ),
            )
        )
    return items, bad


async def import_csv(
    tenant: Tenant,
    raw: bytes,
    name: str,
    tz: ZoneInfo,
    *,
    dry_run: bool = False,
    skip_invalid: bool = False,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Validate every row, then (unless dry-run or blocked by errors) store them once."""
    items, bad = parse_rows(raw, name, tz)
    report = ImportReport(rows=len(items) + len(bad), bad=bad)
    good: list[validation.SlipInput] = []
    for start in range(0, len(items), CHUNK):
        chunk = items[start : start + CHUNK]
        problems = await validation.check_batch(tenant, [item for _, item in chunk])
        for (line, item), errors in zip(chunk, problems, strict=True):
            if errors:
                report.bad.append(RowError(line, errors))
            else:
                good.append(item)
    report.bad.sort(key=lambda r: r.line)
    if dry_run or (report.bad and not skip_invalid):
        return report
    # One transaction for the whole file: a failure on row 1,201 leaves none of rows 1-1,200.
    async with write_transaction():
        for start in range(0, len(good), CHUNK):
            chunk_items = good[start : start + CHUNK]
            results = await writes.record_batch(
                tenant, chunk_items, validation.Reporter(), source="import"
            )
            report.created += sum(1 for r in results if r.status == "created")
            report.duplicates += sum(1 for r in results if r.status == "duplicate")
            if progress:
                progress(len(chunk_items))
    report.written = True
    return report
