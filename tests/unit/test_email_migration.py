"""The SQLite rebuild that makes staff emails unique per organisation keeps every row and
every reference to them."""

from __future__ import annotations

import importlib
import sqlite3
from pathlib import Path

MIGRATION = importlib.import_module("core.piccolo_migrations.core_2026_12_04t16_10_00_000000")

STAFF = (
    'CREATE TABLE "staff_user" ("id" UUID PRIMARY KEY NOT NULL, "organization" UUID NOT NULL '
    'REFERENCES "organization" ("id") ON DELETE CASCADE, "email" VARCHAR(254) UNIQUE NOT NULL '
    "DEFAULT '', \"name\" VARCHAR(200) NOT NULL DEFAULT '')"
)


def test_the_rebuild_keeps_rows_and_references(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    db.execute('CREATE TABLE "organization" ("id" UUID PRIMARY KEY)')
    db.execute(STAFF)
    db.execute(
        'CREATE TABLE "api_key" ("id" UUID PRIMARY KEY, "created_by" UUID REFERENCES '
        '"staff_user" ("id") ON DELETE SET NULL)'
    )
    db.executemany('INSERT INTO "organization" VALUES (?)', [("o1",), ("o2",)])
    db.execute("INSERT INTO staff_user VALUES ('u1', 'o1', 'pat@example.test', 'Pat')")
    db.execute("INSERT INTO api_key VALUES ('k1', 'u1')")
    db.commit()
    db.close()

    MIGRATION._sqlite_rebuild(str(path), unique=False)

    db = sqlite3.connect(path)
    db.execute("PRAGMA foreign_keys = ON")
    assert db.execute("SELECT created_by FROM api_key").fetchall() == [("u1",)]
    schema = " ".join(sql for (sql,) in db.execute("SELECT sql FROM sqlite_master") if sql)
    assert "staff_user_old" not in schema and "staff_user_new" not in schema
    assert 'REFERENCES "staff_user"' in schema
    # The same email in another organisation is now allowed.
    db.execute("INSERT INTO staff_user VALUES ('u2', 'o2', 'pat@example.test', 'Pat')")
    db.commit()
    assert db.execute("PRAGMA foreign_key_check").fetchall() == []
    db.execute("DELETE FROM staff_user WHERE id = 'u2'")
    db.commit()
    db.close()

    MIGRATION._sqlite_rebuild(str(path), unique=True)  # and back
    db = sqlite3.connect(path)
    assert db.execute("SELECT created_by FROM api_key").fetchall() == [("u1",)]
    ddl = db.execute("SELECT sql FROM sqlite_master WHERE name = 'staff_user'").fetchone()[0]
    assert '"email" VARCHAR(254) UNIQUE NOT NULL' in ddl
    db.close()
