"""The real ``slipguard`` command against the test database."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from tests.factories import run


async def test_init_then_keys_create_gives_a_working_key(client: Any) -> None:
    slug = f"cli-{secrets.token_hex(3)}"
    init = run(
        "init", "--org", slug, "--org-name", "CLI Clinic", "--admin-email", f"admin@{slug}.test"
    )
    assert init.returncode == 0, init.stderr
    admin_key = init.stdout.strip()
    assert admin_key.startswith("sg_") and "\n" not in admin_key
    assert "generated admin password" in init.stderr

    again = run(
        "init", "--org", slug, "--org-name", "CLI Clinic", "--admin-email", f"other@{slug}.test"
    )
    assert again.returncode == 1
    assert "already exists" in again.stderr and "Traceback" not in again.stderr
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {admin_key}"})
    assert me.json()["role"] == "admin"

    created = run("keys", "create", "--org", slug, "--role", "staff", "--name", "front desk")
    assert created.returncode == 0, created.stderr
    staff_key = created.stdout.strip()
    assert staff_key.count("\n") == 0 and staff_key.startswith("sg_")
    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {staff_key}"})
    assert me.status_code == 200 and me.json()["role"] == "staff"
    assert (
        await client.get("/api/v1/users", headers={"Authorization": f"Bearer {staff_key}"})
    ).status_code == 403

    listed = run("keys", "list", "--org", slug)
    assert "front desk" in listed.stdout and staff_key not in listed.stdout

    user = run(
        "users",
        "create",
        "--org",
        slug,
        "--email",
        f"m@{slug}.test",
        "--role",
        "manager",
        "--password",
        "a long password",
    )
    assert user.returncode == 0, user.stderr


def test_invalid_database_url_is_one_line_exit_2() -> None:
    env = dict(os.environ, SLIPGUARD_DATABASE_URL="mysql://127.0.0.1/app")
    result = run("migrate", env=env)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "error: SLIPGUARD_DATABASE_URL: unsupported database URL 'mysql://127.0.0.1/app'; "
        "use sqlite:////abs/path.db or postgresql://user@host:port/dbname"
    ]


def test_unreachable_database_names_the_setting(free_port: int) -> None:
    env = dict(os.environ, SLIPGUARD_DATABASE_URL=f"postgresql://postgres@127.0.0.1:{free_port}/x")
    result = run("migrate", env=env)
    assert result.returncode == 2
    assert "SLIPGUARD_DATABASE_URL" in result.stderr and "Traceback" not in result.stderr


def test_unknown_org_and_bad_role_are_clear(client: Any) -> None:
    result = run("keys", "create", "--org", "no-such-org", "--role", "staff", "--name", "x")
    assert result.returncode == 1 and "no organisation 'no-such-org'" in result.stderr
    result = run("keys", "create", "--org", "x", "--role", "owner", "--name", "x")
    assert result.returncode == 2 and "owner" in result.stderr


def test_every_command_has_help() -> None:
    for args in (
        ["--help"],
        ["init", "--help"],
        ["keys", "create", "--help"],
        ["users", "create", "--help"],
        ["migrate", "--help"],
        ["serve", "--help"],
        ["worker", "--help"],
        ["scheduler", "--help"],
        ["report", "--help"],
        ["notify-breach", "--help"],
    ):
        result = run(*args)
        assert result.returncode == 0 and "Usage:" in result.stdout, args


def test_separate_workers_need_a_broker() -> None:
    result = run("worker")
    assert result.returncode == 2 and "SLIPGUARD_BROKER_URL" in result.stderr
    result = run("serve", "--workers", "2")
    assert result.returncode == 2 and "SLIPGUARD_BROKER_URL" in result.stderr


def test_journeys_validate_load_preview_schema(tmp_path: Any) -> None:
    import json
    from pathlib import Path

    library = Path(__file__).resolve().parents[2] / "journeys" / "library"
    good = library / "hypertension-adherence.yaml"
    result = run("journeys", "validate", str(good))
    assert result.returncode == 0 and "ok" in result.stderr

    bad = tmp_path / "bad.yaml"
    bad.write_text(good.read_text().replace("from: start", "from: begin"))
    result = run("journeys", "validate", str(good), str(bad))
    assert result.returncode == 1
    assert f"{bad}:" in result.stderr and "unknown anchor 'begin'" in result.stderr

    slug = f"jr-{secrets.token_hex(3)}"
    assert (
        run("init", "--org", slug, "--org-name", "J", "--admin-email", f"a@{slug}.test").returncode
        == 0
    )
    refused = run("journeys", "load", "--org", slug, str(good), str(bad))
    assert refused.returncode == 1 and "nothing was loaded" in refused.stderr
    loaded = run("journeys", "load", "--org", slug, str(good))
    assert loaded.stdout.strip() == "hypertension-adherence: version 1 (new version)"
    again = run("journeys", "load", "--org", slug, str(good))
    assert again.stdout.strip() == "hypertension-adherence: version 1 (unchanged)"

    preview = run(
        "journeys", "preview", "hypertension-adherence", "--org", slug,
        "--start", "2026-03-07T05:00:00Z", "--tz", "America/New_York", "--limit", "3",
    )  # fmt: skip
    assert preview.returncode == 0, preview.stderr
    lines = [line for line in preview.stdout.splitlines() if "STEP take-dose" in line]
    assert [line.split()[0] for line in lines] == [
        "2026-03-07T08:00:00-05:00",
        "2026-03-08T08:00:00-04:00",
        "2026-03-09T08:00:00-04:00",
    ]
    bad_tz = run(
        "journeys", "preview", "hypertension-adherence", "--org", slug, "--tz", "Mars/Base"
    )
    assert bad_tz.returncode == 1 and "--tz" in bad_tz.stderr

    schema = json.loads(run("journeys", "schema").stdout)
    assert schema["title"] == "Slipguard journey" and "$defs" in schema


def test_demo_runs_once_and_prints_the_login(tmp_path: Any) -> None:
    env = dict(
        os.environ,
        SLIPGUARD_DATA_DIR=str(tmp_path),
        SLIPGUARD_DATABASE_URL=f"sqlite:///{tmp_path}/demo.db",
    )
    # A small simulated history (tests/integration/test_demo.py checks the full one).
    first = run("demo", "--customers", "24", env=env)
    assert first.returncode == 0, first.stderr
    library = len(
        list((Path(__file__).resolve().parents[2] / "journeys" / "library").glob("*.yaml"))
    )
    assert f"demo data: {library} journeys, 30 customers, " in first.stderr
    # The outbox fills while you watch: six texts fall due within the first minute, to
    # customers with consent, in zones where it is daytime (so none is held for the night).
    assert "6 texts due within a minute" in first.stderr
    import sqlite3
    from datetime import UTC, datetime, timedelta

    with sqlite3.connect(tmp_path / "demo.db") as db:
        rows = db.execute(
            "SELECT n.send_after, c.timezone FROM nudge n JOIN customer c ON c.id = n.customer "
            "WHERE n.status = 'scheduled' ORDER BY n.send_after LIMIT 6"
        ).fetchall()
    soon = datetime.now(UTC) + timedelta(seconds=75)
    assert len(rows) == 6
    assert all(datetime.fromisoformat(at).astimezone(UTC) <= soon for at, _ in rows)
    assert "manager: manager@demo.example" in first.stderr
    assert "admin: admin@demo.example" in first.stderr and "password (all three):" in first.stderr
    second = run("demo", env=env)
    assert second.returncode == 0 and "demo data" not in second.stderr
    password = "password (all three):"
    assert first.stderr.split(password)[1] == second.stderr.split(password)[1]
    assert oct((tmp_path / "demo-login.txt").stat().st_mode & 0o777) == "0o600"


def test_commands_share_the_tests_clock() -> None:
    """Commands the tests start see the same time as the tests (also when a run moves the
    clock with --clock-shift), so dates made here mean the same there."""
    import subprocess
    import sys
    from datetime import UTC, datetime

    script = "import datetime; print(datetime.datetime.now(datetime.UTC).isoformat())"
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ)
    )
    theirs = datetime.fromisoformat(result.stdout.strip())
    assert abs((theirs - datetime.now(UTC)).total_seconds()) < 60
