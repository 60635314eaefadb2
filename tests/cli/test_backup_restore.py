"""backup and restore through the CLI: summaries, options, --stdin, and the errors a person meets."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage
from resguardo.backends.faulty import FaultyStorage
from resguardo.cli import progress, session
from resguardo.core.errors import EXIT_PARTIAL, EXIT_USAGE, StorageError
from resguardo.engine import archiver as archiver_module
from tests.cli.conftest import Repo, write

BACKUP_SUMMARY_FIELDS = {
    "operation",
    "snapshot_id",
    "short_id",
    "parent",
    "paths",
    "hostname",
    "tags",
    "files_new",
    "files_changed",
    "files_unchanged",
    "directories",
    "data_added",
    "total_files_processed",
    "total_bytes_processed",
    "duration_seconds",
    "partial",
    "unreadable",
}


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_backup_prints_a_summary_and_a_second_run_finds_everything_unchanged(
    repo: Repo, source: Path
) -> None:
    first = repo("backup", str(source))
    assert first.exit_code == 0, first.stderr
    assert "Files:        3 new, 0 changed, 0 unchanged" in first.stdout
    assert "Directories:" in first.stdout
    assert "Added:" in first.stdout
    assert first.stdout.rstrip().splitlines()[-1].startswith("snapshot ")
    assert first.stderr == ""

    second = repo("--json", "backup", str(source))
    assert second.exit_code == 0, second.stderr
    lines = second.json_lines()
    assert {line["message_type"] for line in lines} <= {"status", "summary"}
    summary = lines[-1]
    assert summary["message_type"] == "summary"
    assert set(summary) >= BACKUP_SUMMARY_FIELDS
    assert summary["files_new"] == 0
    assert summary["files_changed"] == 0
    assert summary["files_unchanged"] == 3
    assert summary["partial"] is False
    assert summary["paths"] == [str(source)]
    assert len(summary["snapshot_id"]) == 64


def test_quiet_backup_prints_nothing(repo: Repo, source: Path) -> None:
    outcome = repo("--quiet", "backup", str(source))
    assert outcome.exit_code == 0
    assert outcome.stdout == ""
    assert outcome.stderr == ""


def test_backup_options_reach_the_snapshot(repo: Repo, source: Path, tmp_path: Path) -> None:
    patterns = write(tmp_path / "patterns", b"# comment\n\n*.bin\n")
    outcome = repo(
        "--json",
        "backup",
        str(source),
        "--exclude",
        "deeper",
        "--exclude-file",
        str(patterns),
        "--tag",
        "daily",
        "--tag",
        "etc",
        "--host",
        "db-server",
        "--exclude-caches",
        "--one-file-system",
    )
    assert outcome.exit_code == 0, outcome.stderr
    summary = outcome.json_lines()[-1]
    assert summary["hostname"] == "db-server"
    assert summary["tags"] == ["daily", "etc"]
    listed = {entry["path"] for entry in repo.json("ls", "latest")["entries"]}
    assert f"{source}/a.txt" in listed
    assert f"{source}/sub" in listed
    assert not any(path.endswith(".bin") or "deeper" in path for path in listed)


def test_force_reads_everything_again_and_parent_picks_the_comparison(repo: Repo, source: Path) -> None:
    first = repo("--json", "backup", str(source)).json_lines()[-1]
    forced = repo("--json", "backup", "--force", str(source)).json_lines()[-1]
    assert forced["parent"] is None
    assert forced["files_new"] == 3
    with_parent = repo("--json", "backup", "--parent", first["short_id"], str(source)).json_lines()[-1]
    assert with_parent["parent"] == first["snapshot_id"]
    assert with_parent["files_unchanged"] == 3


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ([], "error: nothing to back up"),
        (["--stdin", "/etc"], "error: give either paths or --stdin, not both"),
        (["--stdin-name", "x", "/etc"], "error: --stdin-name is only used with --stdin"),
        (["--force", "--parent", "abc", "/etc"], "error: --parent and --force contradict each other"),
        (["--exclude", "[oops", "/etc"], "error: pattern '[oops' has an unclosed '['"),
        (["--bogus-option", "/etc"], "error: No such option: --bogus-option"),
    ],
)
def test_backup_usage_errors_exit_2_with_one_line(repo: Repo, arguments: list[str], message: str) -> None:
    outcome = repo("backup", *arguments)
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.stderr.splitlines()[0] == message
    assert "Traceback" not in outcome.stderr


def test_a_missing_source_path_is_one_line_and_exit_1(repo: Repo, tmp_path: Path) -> None:
    outcome = repo("backup", str(tmp_path / "no-such-folder"))
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines() == [
        f"error: cannot back up {tmp_path / 'no-such-folder'}: No such file or directory",
        "hint: check the path (it must exist and be readable by this user), or leave it out",
    ]


def test_an_unknown_parent_is_a_snapshot_error(repo: Repo, source: Path) -> None:
    outcome = repo("backup", "--parent", "abcdef", str(source))
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: no snapshot matches 'abcdef'")


def test_stdin_backup_round_trips_through_dump(repo: Repo) -> None:
    data = os.urandom(3_000_000) + b"the end\n"
    stored = repo("--json", "backup", "--stdin", "--stdin-name", "database.sql", input=data)
    assert stored.exit_code == 0, stored.stderr
    summary = stored.json_lines()[-1]
    assert summary["paths"] == ["database.sql"]
    dumped = repo("dump", summary["short_id"], "/database.sql")
    assert dumped.exit_code == 0, dumped.stderr
    assert dumped.stdout_bytes == data


def test_stdin_with_a_bad_name_is_refused(repo: Repo) -> None:
    outcome = repo("backup", "--stdin", "--stdin-name", "../escape", input=b"x")
    assert outcome.exit_code == EXIT_USAGE
    assert "not a valid file name for --stdin-name" in outcome.stderr


def _in_process_threads(monkeypatch: pytest.MonkeyPatch, **faults: object) -> None:
    """Open repositories through a FaultyStorage: content is then stored by threads of this process."""
    real = session.open_storage

    def open_faulty(settings: session.Settings) -> FaultyStorage:
        storage = real(settings)
        assert isinstance(storage, LocalStorage)
        return FaultyStorage(storage, **faults)  # type: ignore[arg-type]

    monkeypatch.setattr(session, "open_storage", open_faulty)


def _fail_reading(monkeypatch: pytest.MonkeyPatch, path: Path) -> bytes:
    """Make the backup's reading of ``path`` fail with EACCES (content stored by threads of this process)."""
    _in_process_threads(monkeypatch)
    unreadable = os.fsencode(path)
    real_read = archiver_module._read_whole_file

    def failing_read(path: bytes) -> tuple[bytes, os.stat_result]:
        if path == unreadable:
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_read(path)

    monkeypatch.setattr(archiver_module, "_read_whole_file", failing_read)
    return unreadable


def test_unreadable_files_make_a_partial_backup_with_exit_3(
    repo: Repo, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Root reads any file whatever its mode, so the read itself is made to fail (see test_end_to_end too)."""
    _fail_reading(monkeypatch, source / "a.txt")
    text = repo("backup", str(source))
    assert text.exit_code == EXIT_PARTIAL, text.stderr
    assert f"warning: {source / 'a.txt'}: permission denied" in text.stderr
    assert f"  {source / 'a.txt'}: permission denied" in text.stdout
    assert text.stderr.rstrip().splitlines()[-2].startswith("error: 1 file could not be read; snapshot ")
    assert "Traceback" not in text.stderr

    as_json = repo("--json", "backup", "--force", str(source))
    assert as_json.exit_code == EXIT_PARTIAL
    lines = as_json.json_lines()
    warnings = [line for line in lines if line["message_type"] == "warning"]
    assert warnings == [
        {
            "message_type": "warning",
            "operation": "backup",
            "path": str(source / "a.txt"),
            "message": "permission denied",
        }
    ]
    assert lines[-1]["partial"] is True
    assert lines[-1]["unreadable"] == [{"path": str(source / "a.txt"), "message": "permission denied"}]
    error = json.loads(as_json.stderr)
    assert error["message_type"] == "error"
    assert error["code"] == EXIT_PARTIAL


def test_with_a_progress_bar_warnings_still_reach_standard_error(
    repo: Repo, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_reading(monkeypatch, source / "a.txt")
    monkeypatch.setattr(progress, "shows_bar", lambda _output: True)
    outcome = repo("backup", str(source))
    assert outcome.exit_code == EXIT_PARTIAL
    assert f"warning: {source / 'a.txt'}: permission denied" in outcome.stderr
    assert "Files:        2 new" in outcome.stdout


def test_a_file_unreadable_in_one_backup_is_tried_again_in_the_next(
    repo: Repo, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _fail_reading(monkeypatch, source / "a.txt")
    assert repo("backup", str(source)).exit_code == EXIT_PARTIAL
    assert repo("backup", str(source)).exit_code == EXIT_PARTIAL


def test_a_full_disk_stops_the_backup_with_one_line(
    repo: Repo, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = StorageError(
        "cannot write data/xx: the disk is full",
        "free space on the repository's disk, then run the command again; nothing was lost",
    )
    _in_process_threads(monkeypatch, fail_on=lambda operation, name: operation == "save", error=full)
    outcome = repo("backup", str(source))
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines() == [
        "error: cannot write data/xx: the disk is full",
        "hint: free space on the repository's disk, then run the command again; nothing was lost",
    ]


def test_restore_round_trip_with_include_and_exclude(repo: Repo, source: Path, tmp_path: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0
    target = tmp_path / "restored"
    outcome = repo("restore", "latest", "--target", str(target))
    assert outcome.exit_code == 0, outcome.stderr
    assert outcome.stdout.startswith("restored snapshot ")
    restored_root = target / str(source).lstrip("/")
    assert files_under(restored_root) == files_under(source)
    assert os.readlink(restored_root / "link") == "a.txt"

    partial_target = tmp_path / "partial"
    as_json = repo(
        "--json",
        "restore",
        "latest",
        "--target",
        str(partial_target),
        "--include",
        "sub",
        "--exclude",
        "*.bin",
    )
    assert as_json.exit_code == 0, as_json.stderr
    summary = as_json.json_lines()[-1]
    assert summary["message_type"] == "summary"
    assert {
        "snapshot_id",
        "target",
        "files_restored",
        "directories",
        "bytes_written",
        "errors",
        "damaged",
    } <= set(summary)
    assert list(files_under(partial_target / str(source).lstrip("/"))) == ["sub/deeper/c.txt"]


def test_restore_into_a_file_is_a_target_error(repo: Repo, source: Path, tmp_path: Path) -> None:
    assert repo("backup", str(source)).exit_code == 0
    blocker = write(tmp_path / "a-file", b"in the way")
    outcome = repo("restore", "latest", "--target", str(blocker / "below"))
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith(f"error: cannot create the restore target {blocker / 'below'}")
    assert "hint: choose a directory you can write to" in outcome.stderr
    assert len(outcome.stderr.splitlines()) == 2


def test_restore_of_a_bad_snapshot_id_is_one_line(repo: Repo, tmp_path: Path) -> None:
    outcome = repo("restore", "not-hex", "--target", str(tmp_path / "t"))
    assert outcome.exit_code == 1
    assert outcome.stderr.splitlines() == [
        "error: 'not-hex' is not a snapshot ID",
        "hint: give 'latest' or a hex ID prefix",
    ]


def test_restore_requires_a_target(repo: Repo) -> None:
    outcome = repo("restore", "latest")
    assert outcome.exit_code == EXIT_USAGE
    assert "--target" in outcome.stderr
