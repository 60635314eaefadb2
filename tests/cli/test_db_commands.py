"""``resguardo db upgrade`` and ``db current`` on an SQLite file and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.catalog.migrate import head_revision
from tests.cli.conftest import invoke
from tests.fixtures.postgres import PostgresCluster


def test_db_upgrade_creates_the_catalog_in_the_data_directory_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = invoke(["db", "upgrade", "--data-dir", str(data_dir)])
    assert first.exit_code == 0, first.stderr
    assert f"upgraded from revision (none) to {head_revision()}" in first.stdout
    assert (data_dir / "catalog.sqlite3").exists()

    again = invoke(["--json", "db", "upgrade", "--data-dir", str(data_dir)])
    assert again.json()["from_revision"] == again.json()["revision"] == head_revision()


def test_db_current_says_when_an_upgrade_is_needed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    before = invoke(["--json", "db", "current", "--database-url", url])
    assert before.json()["revision"] is None
    assert before.json()["up_to_date"] is False
    assert invoke(["db", "upgrade", "--database-url", url]).exit_code == 0
    after = invoke(["db", "current", "--database-url", url])
    assert f"revision {head_revision()}, newest {head_revision()} (up to date)" in after.stdout


def test_db_upgrade_runs_on_postgresql(postgres_cluster: PostgresCluster) -> None:
    name = postgres_cluster.create_database()
    try:
        outcome = invoke(["--json", "db", "upgrade", "--database-url", postgres_cluster.url(name)])
        assert outcome.exit_code == 0, outcome.stderr
        assert outcome.json()["revision"] == head_revision()
    finally:
        postgres_cluster.drop_database(name)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql://user@host/db", "runs on SQLite or PostgreSQL, not mysql"),
        ("postgresql://user:hunter2secret@127.0.0.1:1/none", "cannot reach the catalog database"),
    ],
)
def test_db_upgrade_explains_a_bad_database_without_showing_its_password(url: str, message: str) -> None:
    outcome = invoke(["db", "upgrade", "--database-url", url])
    assert outcome.exit_code == 2
    assert message in outcome.stderr
    assert "hunter2secret" not in outcome.stderr + outcome.stdout
    assert "Traceback" not in outcome.stderr
