"""The command line for database sources: backup --postgresql/--mysql/--sqlite, restore --database --to."""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path

import pytest

from tests.cli.conftest import Repo
from tests.fixtures.mariadb import PASSWORD, MariadbServer
from tests.fixtures.postgres import PostgresCluster
from tests.sources.conftest import (
    PG_PASSWORD,
    fill_mysql_database,
    fill_pg_database,
    mariadb_server,
    mysql_checksums,
    pg_checksums,
    pg_connect,
    pg_server,
    pg_url,
)

__all__ = ["mariadb_server", "pg_server"]


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def test_postgresql_backup_lists_each_stream_and_restore_needs_overwrite(
    repo: Repo, pg_server: PostgresCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = unique("sales")
    fill_pg_database(pg_server, name)
    before = pg_checksums(pg_server, name)
    monkeypatch.setenv("RESGUARDO_DATABASE_PASSWORD", PG_PASSWORD)
    url = pg_url(pg_server, password=None)
    outcome = repo("--json", "backup", "--postgresql", url, "--database", name, "--tag", "nightly")
    assert outcome.exit_code == 0, outcome.stderr
    summary = outcome.json_lines()[-1]
    streams = {stream["name"]: stream for stream in summary["streams"]}
    assert set(streams) == {f"postgresql/{name}.pgdump", "postgresql/globals.sql"}
    assert streams[f"postgresql/{name}.pgdump"]["size"] > 10_000
    assert summary["tags"] == ["nightly"]

    with pg_connect(pg_server, name) as connection:
        connection.execute("TRUNCATE orders")
    refused = repo("restore", "latest", "--database", name, "--to", url)
    assert refused.exit_code == 1
    assert f"database '{name}' already exists" in refused.stderr
    assert "--overwrite" in refused.stderr
    assert PG_PASSWORD not in refused.stderr

    restored = repo("restore", "latest", "--database", name, "--to", url, "--overwrite")
    assert restored.exit_code == 0, restored.stderr
    assert pg_checksums(pg_server, name) == before


def test_mysql_backup_and_restore_into_a_new_database(
    repo: Repo, mariadb_server: MariadbServer, tmp_path: Path
) -> None:
    name, copy = unique("shop"), unique("shop_copy")
    fill_mysql_database(mariadb_server, name, rows=300)
    password_file = tmp_path / "db-password"
    password_file.write_text(PASSWORD + "\n")
    url = mariadb_server.url(password=None)
    backup = repo(
        "backup", "--mysql", url, "--database", name, "--database-password-file", str(password_file)
    )
    assert backup.exit_code == 0, backup.stderr
    assert f"mysql/{name}.sql" in backup.stdout
    restore = repo(
        "restore",
        "latest",
        "--database",
        name,
        "--to",
        mariadb_server.url(copy, password=None),
        "--database-password-file",
        str(password_file),
    )
    assert restore.exit_code == 0, restore.stderr
    assert mysql_checksums(mariadb_server, copy) == mysql_checksums(mariadb_server, name)


def test_sqlite_backup_and_restore_to_a_new_file(repo: Repo, tmp_path: Path) -> None:
    database = tmp_path / "app.db"
    with sqlite3.connect(database) as connection:
        connection.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        connection.executemany("INSERT INTO notes (body) VALUES (?)", [(f"note {n}",) for n in range(500)])
    connection.close()
    assert repo("backup", "--sqlite", str(database)).exit_code == 0
    target = tmp_path / "restored" / "app.db"
    target.parent.mkdir()
    outcome = repo("restore", "latest", "--database", "app.db", "--to", str(target))
    assert outcome.exit_code == 0, outcome.stderr
    restored = sqlite3.connect(target)
    assert restored.execute("SELECT count(*) FROM notes").fetchone() == (500,)
    restored.close()
    again = repo("restore", "latest", "--database", "app.db", "--to", str(target))
    assert again.exit_code == 1 and "already exists" in again.stderr


def test_a_failed_dump_exits_non_zero_and_saves_no_snapshot(repo: Repo, pg_server: PostgresCluster) -> None:
    outcome = repo("backup", "--postgresql", pg_url(pg_server), "--database", "missing_db")
    assert outcome.exit_code == 1
    assert "database 'missing_db' does not exist" in outcome.stderr
    assert repo.json("snapshots") == []


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["backup", "--database", "x"], "--database needs --postgresql or --mysql"),
        (["backup", "--sqlite", "a.db", "some/path"], "not several of them"),
        (
            ["backup", "--postgresql", "postgresql://h/", "--mysql", "mysql://h/", "--database", "x"],
            "exactly one",
        ),
        (["backup", "--postgresql", "http://h/"], "must start with postgresql://"),
        (["restore", "latest", "--database", "x"], "--database and --to go together"),
        (["restore", "latest"], "give --target DIR, or --database NAME with --to"),
    ],
)
def test_contradictory_database_options_are_usage_errors(repo: Repo, argv: list[str], message: str) -> None:
    outcome = repo(*argv)
    assert outcome.exit_code == 2
    assert message in outcome.stderr
