"""snapshots, ls, diff, stats and dump: text for people and JSON documents for programs."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.core.errors import EXIT_USAGE
from tests.cli.conftest import Repo, write


@pytest.fixture
def two_snapshots(repo: Repo, source: Path) -> tuple[dict[str, object], dict[str, object]]:
    """Back up ``source`` twice (tagged), changing, adding and removing a file in between."""
    first = repo("--json", "backup", "--tag", "daily", str(source)).json_lines()[-1]
    write(source / "a.txt", b"changed content\n")
    write(source / "new.txt", b"a new file\n")
    (source / "sub" / "deeper" / "c.txt").unlink()
    second = repo("--json", "backup", "--tag", "daily", "--tag", "extra", "--host", "other", str(source))
    return first, second.json_lines()[-1]


def test_snapshots_lists_a_table_and_a_json_document(
    repo: Repo, source: Path, two_snapshots: tuple[dict[str, object], dict[str, object]]
) -> None:
    first, second = two_snapshots
    text = repo("snapshots")
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert lines[0].split() == ["ID", "Time", "Host", "Tags", "Paths", "Size"]
    assert lines[2].startswith(str(first["short_id"]))
    assert lines[3].startswith(str(second["short_id"]))
    assert str(source) in lines[2]
    assert lines[-1] == "2 snapshots"

    listing = repo.json("snapshots")
    assert [snapshot["id"] for snapshot in listing] == [first["snapshot_id"], second["snapshot_id"]]
    assert {"id", "short_id", "time", "hostname", "tags", "paths", "summary", "partial"} <= set(listing[0])


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (["--host", "other"], [1]),
        (["--tag", "daily"], [0, 1]),
        (["--tag", "daily", "--tag", "extra"], [1]),
        (["--tag", "missing"], []),
        (["--path", "SOURCE"], [0, 1]),
        (["--path", "/elsewhere"], []),
    ],
)
def test_snapshots_filters(
    repo: Repo,
    source: Path,
    two_snapshots: tuple[dict[str, object], dict[str, object]],
    filters: list[str],
    expected: list[int],
) -> None:
    ids = [two_snapshots[index]["snapshot_id"] for index in expected]
    arguments = [str(source) if item == "SOURCE" else item for item in filters]
    assert [snapshot["id"] for snapshot in repo.json("snapshots", *arguments)] == ids


def test_ls_lists_paths_and_long_entries(repo: Repo, source: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0
    short = repo("ls", "latest", str(source))
    assert short.exit_code == 0, short.stderr
    assert short.stdout.splitlines() == [
        str(source),
        f"{source}/a.txt",
        f"{source}/empty-dir",
        f"{source}/link",
        f"{source}/sub",
        f"{source}/sub/b.bin",
        f"{source}/sub/deeper",
        f"{source}/sub/deeper/c.txt",
    ]
    long = repo("ls", "-l", "latest", f"{source}/a.txt").stdout.splitlines()
    assert len(long) == 1
    assert long[0].startswith("-rw")
    assert " 13 " in long[0]
    assert long[0].endswith(f"{source}/a.txt")
    link = repo("ls", "--long", "latest", f"{source}/link").stdout
    assert link.startswith("l") and link.rstrip().endswith(f"{source}/link -> a.txt")

    document = repo.json("ls", "latest", str(source / "sub"))
    assert document["snapshot"]["paths"] == [str(source)]
    entries = {entry["path"]: entry for entry in document["entries"]}
    assert entries[f"{source}/sub/b.bin"]["size"] == 200_000
    assert entries[f"{source}/sub"]["type"] == "dir"
    assert {"path", "name", "type", "mode", "permissions", "size", "mtime", "user", "group"} <= set(
        entries[f"{source}/sub/b.bin"]
    )


def test_ls_of_a_missing_path_is_one_line(repo: Repo, source: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0
    outcome = repo("ls", "latest", "/no/such/path")
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines()[0].startswith("error: /no/such/path is not in snapshot ")


def test_diff_shows_added_removed_and_modified(
    repo: Repo, source: Path, two_snapshots: tuple[dict[str, object], dict[str, object]]
) -> None:
    first, second = two_snapshots
    text = repo("diff", str(first["short_id"]), str(second["short_id"]))
    assert text.exit_code == 0, text.stderr
    lines = text.stdout.splitlines()
    assert f"M {source}/a.txt" in lines
    assert f"+ {source}/new.txt" in lines
    assert f"- {source}/sub/deeper/c.txt" in lines
    assert lines[-1].endswith(f"changes from {first['short_id']} to {second['short_id']}")

    document = repo.json("diff", str(first["short_id"]), "latest")
    assert document["first"] == first["snapshot_id"]
    assert document["second"] == second["snapshot_id"]
    kinds = {change["path"]: change["kind"] for change in document["changes"]}
    assert kinds[f"{source}/a.txt"] == "modified"
    assert kinds[f"{source}/new.txt"] == "added"
    assert kinds[f"{source}/sub/deeper/c.txt"] == "removed"


def test_stats_in_both_modes(repo: Repo, two_snapshots: tuple[dict[str, object], dict[str, object]]) -> None:
    first, _second = two_snapshots
    restore_size = repo.json("stats", str(first["short_id"]))
    assert restore_size["mode"] == "restore-size"
    assert restore_size["snapshots"] == 1
    assert restore_size["bytes"] == 13 + 200_000 + len(b"nested text " * 500)
    both = repo.json("stats")
    assert both["snapshots"] == 2
    raw = repo.json("stats", "--mode", "raw-data")
    assert raw["mode"] == "raw-data"
    assert raw["raw_bytes"] > 0 and raw["stored_bytes"] > 0
    assert raw["dedup_ratio"] > 1

    text = repo("stats", "--mode", "raw-data").stdout
    assert "Restore size:" in text
    assert "Deduplication ratio:" in text
    bad = repo("stats", "--mode", "everything")
    assert bad.exit_code == EXIT_USAGE
    assert bad.stderr.startswith("error: unknown mode 'everything'")


def test_dump_writes_the_exact_bytes(repo: Repo, source: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0
    outcome = repo("dump", "latest", f"{source}/sub/b.bin")
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout_bytes == (source / "sub" / "b.bin").read_bytes()
    folder = repo("dump", "latest", str(source))
    assert folder.exit_code == 1
    assert folder.stderr.startswith(f"error: {source} is a directory in snapshot ")
    assert folder.stdout_bytes == b""
