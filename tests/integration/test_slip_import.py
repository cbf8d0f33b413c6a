"""``slipguard slips import``: tick sheets in, each row once, bad rows named by line."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from journeys import services as journeys
from slips.tables import Slip
from tests.factories import run

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "docs" / "samples" / "slips.csv"


async def new_org() -> tuple[str, Any]:
    from core import identity as services

    slug = f"csv-{secrets.token_hex(3)}"
    org = await services.create_organization(slug, "CSV Clinic", "Europe/London")
    tenant = __import__("core.tenancy", fromlist=["Tenant"]).Tenant(org.id)
    text = (ROOT / "journeys" / "library" / "hypertension-adherence.yaml").read_text()
    await journeys.load_journey(tenant, text)
    return slug, org


def recent(text: str, first: date) -> str:
    """A tick sheet written for October 2026 (the sample's month), moved so its first day
    is ``first``: the importer refuses slips more than a year old, and the test must pass
    on any date."""
    for day in range(31, 0, -1):
        moved = first + timedelta(days=day - 1)
        text = text.replace(f"2026-10-{day:02d}", moved.isoformat())
    return text


def month_ago() -> date:
    return (datetime.now(UTC) - timedelta(days=30)).date()


async def count(org: Any) -> int:
    return await Slip.count().where(Slip.organization == org.id)


async def test_sample_imports_once(client: Any, tmp_path: Path) -> None:
    slug, org = await new_org()
    first_day = month_ago()
    sample = tmp_path / "slips.csv"
    sample.write_text(recent(SAMPLE.read_text(), first_day))
    dry = run("slips", "import", str(sample), "--org", slug, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "4 rows, 4 valid, 0 bad; nothing written" in dry.stdout
    assert await count(org) == 0
    first = run("slips", "import", str(sample), "--org", slug)
    assert first.returncode == 0 and "4 imported, 0 already imported" in first.stdout
    again = run("slips", "import", str(sample), "--org", slug)
    assert "0 imported, 4 already imported" in again.stdout
    rows = await Slip.objects().where(Slip.organization == org.id).order_by(Slip.occurred_at)
    assert len(rows) == 4 and {r.source for r in rows} == {"import"}
    # a date-only row is noon local time; a naive time is read in the organisation's zone
    london = ZoneInfo("Europe/London")
    noon = datetime.combine(first_day + timedelta(days=1), time(12), london)
    morning = datetime.combine(first_day, time(8, 40), london)
    assert rows[1].occurred_at == noon and rows[0].occurred_at == morning
    assert rows[2].severity == 8 and rows[2].idempotency_key == "sheet-oct-3"


async def test_bad_rows_are_named_by_line_and_nothing_is_written(
    client: Any, tmp_path: Path
) -> None:
    slug, org = await new_org()
    sheet = tmp_path / "october.csv"
    sheet.write_text(
        recent(
            "journey,behaviour,failure_mode,occurred_at\n"
            "hypertension-adherence,take-dose,forgot,2026-10-01\n"
            "hypertension-adherence,take-dos,,2026-10-02\n"
            "hypertension-adherence,take-dose,,first of october\n"
            "hypertension-adherence,take-dose,,2026-10-04\n",
            month_ago(),
        )
    )
    result = run("slips", "import", str(sheet), "--org", slug)
    assert result.returncode == 1
    assert f"{sheet}: line 3: behaviour: unknown behaviour 'take-dos'" in result.stderr
    assert f"{sheet}: line 4: occurred_at:" in result.stderr
    assert "nothing was imported" in result.stdout
    assert await count(org) == 0
    partial = run("slips", "import", str(sheet), "--org", slug, "--skip-invalid")
    assert "2 imported" in partial.stdout and await count(org) == 2


async def test_unreadable_files_are_refused_whole(client: Any, tmp_path: Path) -> None:
    slug, org = await new_org()
    latin = tmp_path / "latin.csv"
    latin.write_bytes(
        b"journey,behaviour,occurred_at,note\nhypertension-adherence,take-dose,2026-10-01,caf\xe9\n"
    )
    result = run("slips", "import", str(latin), "--org", slug)
    assert result.returncode == 1 and "line 2: not UTF-8" in result.stderr
    columns = tmp_path / "columns.csv"
    columns.write_text("journey,when,colour\nx,y,z\n")
    result = run("slips", "import", str(columns), "--org", slug)
    assert "missing column(s) behaviour, occurred_at" in result.stderr
    assert "unknown column(s) when, colour" in result.stderr
    assert await count(org) == 0


async def test_one_bad_row_in_a_large_sheet_writes_nothing(client: Any, tmp_path: Path) -> None:
    slug, org = await new_org()
    day = month_ago().isoformat()
    rows = [f"hypertension-adherence,take-dose,{day},north,row {i}" for i in range(1500)]
    rows[1200] = f"hypertension-adherence,take-dose,{day},{'x' * 101},too long a site"
    rows[1300] = f"hypertension-adherence,take-dose,{day},north,nul \x00 here"
    sheet = tmp_path / "big.csv"
    sheet.write_text("journey,behaviour,occurred_at,site,note\n" + "\n".join(rows) + "\n")
    result = run("slips", "import", str(sheet), "--org", slug)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{sheet}: line 1202: site:" in result.stderr
    assert f"{sheet}: line 1302: note:" in result.stderr and "NUL" in result.stderr
    assert await count(org) == 0
    partial = run("slips", "import", str(sheet), "--org", slug, "--skip-invalid")
    assert "1498 imported" in partial.stdout.replace(",", "") and await count(org) == 1498


async def test_unreadable_records_are_named_by_line(client: Any, tmp_path: Path) -> None:
    slug, org = await new_org()
    day = month_ago().isoformat()
    head = "journey,behaviour,occurred_at,note\n"
    good = f"hypertension-adherence,take-dose,{day},fine\n"
    open_quote = tmp_path / "quote.csv"
    open_quote.write_text(
        head + good + f'hypertension-adherence,take-dose,{day},"never closed\n' + good * 3
    )
    huge = tmp_path / "huge.csv"
    huge.write_text(head + good + f"hypertension-adherence,take-dose,{day},{'y' * 140_000}\n")
    for sheet, line, words in ((open_quote, 3, "not closed"), (huge, 3, "longer than")):
        result = run("slips", "import", str(sheet), "--org", slug)
        assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
        assert f"{sheet}: line {line}: " in result.stderr and words in result.stderr
    assert await count(org) == 0


async def test_a_kind_column_marks_complaints_and_keeps_earlier_keys(tmp_path: Path) -> None:
    slug, org = await new_org()
    day = month_ago().isoformat()
    sheet = tmp_path / "kinds.csv"
    head = "journey,behaviour,occurred_at,note"
    sheet.write_text(f"{head}\nhypertension-adherence,take-dose,{day},first\n")
    assert run("slips", "import", str(sheet), "--org", slug).returncode == 0
    # The same row with an empty kind column keeps the key it was stored under.
    sheet.write_text(
        f"{head},kind\nhypertension-adherence,take-dose,{day},first,\n"
        f"hypertension-adherence,take-dose,{day},late,complaint\n"
    )
    done = run("slips", "import", str(sheet), "--org", slug)
    assert "1 imported, 1 already imported" in done.stdout, done.stdout + done.stderr
    kinds = sorted(
        r["kind"] for r in await Slip.select(Slip.kind).where(Slip.organization == org.id)
    )
    assert kinds == ["complaint", "error"]
    sheet.write_text(f"{head},kind\nhypertension-adherence,take-dose,{day},x,praise\n")
    bad = run("slips", "import", str(sheet), "--org", slug)
    assert bad.returncode != 0 and "kind" in bad.stdout + bad.stderr
