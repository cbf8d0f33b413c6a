"""The simulated demo (docs/demo.md): the full-size history through the real command into a
fresh SQLite data directory, and a small one through the function on the test database."""

from __future__ import annotations

import os
import re
import secrets
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from api.demo import model
from tests.factories import csrf_token, run

OWNED = (
    "staff_user", "api_key", "journey", "journey_version", "customer", "consent_record",
    "enrollment", "step", "nudge", "slip",
)  # fmt: skip


def _counts(db: Path) -> dict[str, int]:
    with sqlite3.connect(db) as c:
        return {t: c.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in OWNED}


@pytest.fixture(scope="module")
def demo_db(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """The default-size demo, created once for this module (no timing asserted here:
    docs/demo.md reports how long it takes)."""
    home = tmp_path_factory.mktemp("demo")
    env = dict(
        os.environ,
        SLIPGUARD_DATA_DIR=str(home),
        SLIPGUARD_DATABASE_URL=f"sqlite:///{home}/demo.db",
    )
    first = run("demo", env=env, timeout=300)
    assert first.returncode == 0, first.stderr
    assert "manager: manager@demo.example" in first.stderr
    yield home / "demo.db", env


def _rows(db: Path, sql: str, *args: Any) -> list[Any]:
    with sqlite3.connect(db) as c:
        return c.execute(sql, args).fetchall()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_counts_are_in_the_documented_ranges(demo_db: tuple[Path, dict[str, str]]) -> None:
    db, _ = demo_db
    counts = _counts(db)
    assert counts["customer"] == model.DEFAULT_CUSTOMERS + 6  # and the live deliveries
    assert 2_150 <= counts["enrollment"] <= 2_400
    assert 15_000 <= counts["step"] <= 26_000
    assert 30_000 <= counts["nudge"] <= 46_000
    assert 2_500 <= counts["slip"] <= 4_500
    statuses = dict(_rows(db, "SELECT status, count(*) FROM nudge GROUP BY status"))
    assert {"delivered", "sent", "failed", "suppressed", "scheduled"} <= set(statuses)
    codes = {r[0] for r in _rows(db, "SELECT DISTINCT error_code FROM nudge")}
    assert {"30003", "30006", "21610"} <= codes
    reasons = dict(_rows(db, "SELECT reason, count(*) FROM nudge GROUP BY reason"))
    assert reasons["holdout"] > 1000 and reasons["confirmed"] > 1000
    revoked = dict(
        _rows(db, "SELECT source, count(*) FROM consent_record WHERE status = 'revoked' GROUP BY 1")
    )
    assert 20 <= revoked["sms_keyword"] <= 90 and 3 <= revoked["provider"] <= 40
    locales = dict(_rows(db, "SELECT locale, count(*) FROM customer GROUP BY locale"))
    assert locales["zh-CN"] > 200 and locales["en"] > 1200
    assert len(_rows(db, "SELECT DISTINCT timezone FROM customer")) >= len(model.ZONES)
    # Nothing is left for the scheduler to detect: every step past its grace is settled.
    (created,) = _rows(db, "SELECT created_at FROM organization")[0]
    pending = _rows(db, "SELECT grace_until FROM step WHERE status = 'pending'")
    assert pending and all(_at(g) >= _at(created) for (g,) in pending)


def test_holdout_customers_slip_more_than_nudged_ones(
    demo_db: tuple[Path, dict[str, str]],
) -> None:
    db, _ = demo_db
    rates = dict(
        _rows(
            db,
            "SELECT e.holdout, avg(st.status = 'missed') FROM step st"
            " JOIN enrollment e ON e.id = st.enrollment"
            " WHERE st.status IN ('done', 'missed') GROUP BY e.holdout",
        )
    )
    assert rates[1] > rates[0] * 1.2


def test_the_changed_source_halves_after_its_day(demo_db: tuple[Path, dict[str, str]]) -> None:
    db, _ = demo_db
    c = model.CHANGED
    (created,) = _rows(db, "SELECT created_at FROM organization")[0]
    cut = c.starts_at(model.first_day(_at(created)))
    steps = _rows(
        db,
        "SELECT st.due_at, s.failure_mode FROM step st"
        " JOIN enrollment e ON e.id = st.enrollment JOIN journey j ON j.id = e.journey"
        " LEFT JOIN slip s ON s.step = st.id"
        " WHERE j.key = ? AND st.behaviour = ? AND e.holdout = 0"
        " AND st.status IN ('done', 'missed')",
        c.journey,
        c.behaviour,
    )
    before = [mode == c.failure_mode for due, mode in steps if _at(due) < cut]
    after = [mode == c.failure_mode for due, mode in steps if _at(due) >= cut]
    assert len(before) > 1000 and len(after) > 1000
    assert sum(after) / len(after) < 0.75 * sum(before) / len(before)
    # The change is recorded as a countermeasure from that day, for the before/after panel.
    measures = _rows(
        db,
        "SELECT j.key, m.behaviour, m.failure_mode, m.strategy, m.started_at"
        " FROM countermeasure m JOIN journey j ON j.id = m.journey",
    )
    assert [m[:4] for m in measures] == [(c.journey, c.behaviour, c.failure_mode, c.strategy)]
    assert abs((_at(measures[0][4]) - cut).total_seconds()) < 86400


def test_weekends_slip_more_than_midweek(demo_db: tuple[Path, dict[str, str]]) -> None:
    db, _ = demo_db
    steps = _rows(
        db,
        "SELECT st.due_at, e.timezone, st.status = 'missed' FROM step st"
        " JOIN enrollment e ON e.id = st.enrollment WHERE st.status IN ('done', 'missed')",
    )
    by_day: dict[bool, list[int]] = {True: [], False: []}
    for due, zone, missed in steps:
        weekday = _at(due).astimezone(ZoneInfo(zone)).weekday()
        if weekday in (1, 2, 3, 5, 6):
            by_day[weekday >= 5].append(missed)
    weekend, midweek = by_day[True], by_day[False]
    assert sum(weekend) / len(weekend) > sum(midweek) / len(midweek)


def test_every_row_belongs_to_the_demo_organisation_and_a_second_run_adds_nothing(
    demo_db: tuple[Path, dict[str, str]],
) -> None:
    db, env = demo_db
    orgs = _rows(db, "SELECT id, slug FROM organization")
    assert [slug for _, slug in orgs] == ["demo"]
    org = orgs[0][0]
    for table in OWNED:
        assert _rows(db, f"SELECT count(*) FROM {table} WHERE organization != ?", org) == [(0,)]
    before = _counts(db)
    second = run("demo", env=env)
    assert second.returncode == 0 and "demo data" not in second.stderr
    assert _counts(db) == before


async def test_the_demo_manager_lands_on_the_dashboards(client: Any) -> None:
    from api.demo import MANAGER, create

    slug = f"demo-{secrets.token_hex(3)}"
    made, counts = await create(customers=30, slug=slug)
    assert counts["customers"] == 36 and counts["slips"] > 0
    client.cookies.clear()
    token = csrf_token((await client.get("/login")).text)
    r = await client.post(
        "/login",
        data={
            "email": MANAGER,
            "password": made.password,
            "organization": slug,
            "_csrf_token": token,
        },
        follow_redirects=False,
    )
    assert r.status_code == 303 and r.headers["location"] == "/dashboards"
    assert (await client.get("/dashboards")).status_code == 200
    client.cookies.clear()


def _fresh_env(home: Path) -> dict[str, str]:
    return dict(
        os.environ,
        SLIPGUARD_DATA_DIR=str(home),
        SLIPGUARD_DATABASE_URL=f"sqlite:///{home}/demo.db",
    )


def test_the_command_prints_every_login_and_names_its_phases(tmp_path: Path) -> None:
    """Piped, the command names each phase (no bar drawn) and prints all three logins on
    stderr; stdout stays empty for scripts."""
    done = run("demo", "--customers", "20", env=_fresh_env(tmp_path), timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    password = next(line for line in lines if line.startswith("password (all three): "))
    assert len(password.removeprefix("password (all three): ")) >= 12
    for login in (
        "manager: manager@demo.example",
        "staff: staff@demo.example",
        "admin: admin@demo.example",
    ):
        assert any(line.startswith(login) for line in lines), login
    assert "staff: staff@demo.example (phone page: /staff)" in lines
    # the phases, in order, before the summary
    phases = [lines.index("simulating customers"), lines.index("writing rows")]
    assert phases == sorted(phases) and phases[1] < next(
        i for i, line in enumerate(lines) if line.startswith("demo data: ")
    )
    saved = (tmp_path / "demo-login.txt").read_text()
    assert "staff: staff@demo.example" in saved and password in saved


def test_on_a_terminal_a_progress_bar_runs_to_the_end(tmp_path: Path) -> None:
    """With stderr on a terminal, each phase draws a bar that advances to 100%."""
    import pty
    import subprocess

    from tests.conftest import slipguard_bin

    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [slipguard_bin(), "demo", "--customers", "20"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=follower,
        env=_fresh_env(tmp_path),
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the terminal closes when the command exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=120) == 0
    shown = b"".join(chunks).decode(errors="replace")
    for label in ("simulating customers", "writing rows"):
        frames = re.findall(label + r"\s+\[([#-]+)\]\s+(\d+)%", shown)
        assert frames, label
        percents = [int(p) for _, p in frames]
        assert percents[-1] == 100 and len(set(percents)) > 1, label
        assert percents == sorted(percents), label
        assert all(len(bar) == len(frames[0][0]) for bar, _ in frames)
    assert "staff: staff@demo.example" in shown
