"""SQLite as a source: a consistent copy while another connection writes, restored intact; a restore
never replaces a file without --overwrite."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest

from resguardo.core.errors import ConfigurationError, SourceError, TargetError
from resguardo.engine.browse import open_file
from resguardo.engine.repository import Repository
from resguardo.engine.streams import backup_streams
from resguardo.sources.restore import find_database_stream, restore_sqlite
from resguardo.sources.sqlite import SqliteSource


def make_ledger(path: Path, rows: int = 5000) -> None:
    """A ledger whose every transaction adds a pair of rows summing to zero."""
    with sqlite3.connect(path) as connection:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("CREATE TABLE ledger (id INTEGER PRIMARY KEY, amount INTEGER, memo TEXT)")
        connection.executemany(
            "INSERT INTO ledger (amount, memo) VALUES (?, ?)",
            [(sign * n, "x" * 100) for n in range(rows // 2) for sign in (1, -1)],
        )
    connection.close()


def ledger_state(path: Path) -> tuple[int, int]:
    connection = sqlite3.connect(path)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count, total = connection.execute("SELECT count(*), coalesce(sum(amount), 0) FROM ledger").fetchone()
        return int(count), int(total)
    finally:
        connection.close()


def backup_and_restore(
    repository: Repository, source: SqliteSource, target: Path, overwrite: bool = False
) -> None:
    snapshot = backup_streams(repository, source.streams()).snapshot
    stream = find_database_stream(
        snapshot.streams, Path(source.paths[0]).name, "sqlite.database", snapshot.short_id
    )
    restore_sqlite(open_file(repository, snapshot, f"/{stream['name']}"), str(target), overwrite=overwrite)


@pytest.mark.parametrize("memory_limit", [1 << 30, 0], ids=["in-memory-copy", "copy-through-private-file"])
def test_copy_taken_while_writing_is_consistent(
    tmp_path: Path, repository: Repository, memory_limit: int
) -> None:
    database = tmp_path / "ledger.db"
    make_ledger(database)
    stop = threading.Event()
    written = threading.Event()

    def write_pairs() -> None:
        connection = sqlite3.connect(database, timeout=30, isolation_level=None)
        n = 0
        while not stop.is_set():
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("INSERT INTO ledger (amount, memo) VALUES (?, 'w')", (n,))
            connection.execute("INSERT INTO ledger (amount, memo) VALUES (?, 'w')", (-n,))
            connection.execute("COMMIT")
            n += 1
            written.set()
        connection.close()

    writer = threading.Thread(target=write_pairs)
    writer.start()
    try:
        written.wait()
        backup_and_restore(repository, SqliteSource([str(database)], memory_limit), tmp_path / "restored.db")
    finally:
        stop.set()
        writer.join()
    count, total = ledger_state(tmp_path / "restored.db")
    assert total == 0 and count % 2 == 0 and count >= 5000


def test_restore_refuses_to_replace_a_file_without_overwrite(tmp_path: Path, repository: Repository) -> None:
    database = tmp_path / "app.db"
    make_ledger(database, rows=10)
    target = tmp_path / "existing.db"
    target.write_bytes(b"keep me")
    with pytest.raises(TargetError, match="already exists") as refused:
        backup_and_restore(repository, SqliteSource([str(database)]), target)
    assert "--overwrite" in refused.value.hint
    assert target.read_bytes() == b"keep me"
    backup_and_restore(repository, SqliteSource([str(database)]), target, overwrite=True)
    assert ledger_state(target) == (10, 0)


def test_a_missing_database_file_is_named(tmp_path: Path, repository: Repository) -> None:
    with pytest.raises(
        SourceError, match=r"stream sqlite/absent\.db: SQLite database .*absent\.db does not exist"
    ):
        backup_streams(repository, SqliteSource([str(tmp_path / "absent.db")]).streams())


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path, repository: Repository) -> None:
    (tmp_path / "notes.db").write_bytes(b"just some text, not a database" * 10)
    with pytest.raises(SourceError, match="cannot be read as a SQLite database"):
        backup_streams(repository, SqliteSource([str(tmp_path / "notes.db")]).streams())


def test_two_databases_with_the_same_name_are_refused(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        make_ledger(tmp_path / folder / "app.db", rows=2)
    with pytest.raises(ConfigurationError, match=r"both called app\.db"):
        SqliteSource([str(tmp_path / "a" / "app.db"), str(tmp_path / "b" / "app.db")]).streams()
