"""``resguardo copy`` through the CLI: two real repositories with their own passphrases, filters,
re-runs, a copy killed midway, and the errors a person meets."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from resguardo.core.errors import EXIT_USAGE, EXIT_WRONG_PASSPHRASE
from tests.cli.conftest import Repo, subprocess_env, write

SOURCE_PASSPHRASE = "the source's own passphrase"


@pytest.fixture
def source_repo(tmp_path: Path) -> Repo:
    """The repository copied from: another directory, another passphrase."""
    password_file = tmp_path / "source-passphrase"
    password_file.write_text(SOURCE_PASSPHRASE + "\n")
    repository = Repo(tmp_path / "source-repository", password_file, tmp_path)
    outcome = repository("init", "--pack-size", "1")
    assert outcome.exit_code == 0, outcome.stderr
    return repository


def from_options(source_repo: Repo) -> list[str]:
    return ["--from-repo", str(source_repo.path), "--from-password-file", str(source_repo.password_file)]


def copy_json(repo: Repo, source_repo: Repo, *arguments: str) -> dict[str, Any]:
    """Run ``copy --json`` and return its summary line."""
    outcome = repo("--json", "copy", *from_options(source_repo), *arguments)
    assert outcome.exit_code == 0, outcome.stderr
    summaries = [line for line in outcome.json_lines() if line["message_type"] == "summary"]
    assert len(summaries) == 1
    return summaries[0]


def back_up(repository: Repo, *arguments: str) -> str:
    outcome = repository("--json", "backup", *arguments)
    assert outcome.exit_code == 0, outcome.stderr
    summary = outcome.json_lines()[-1]
    snapshot_id: str = summary["snapshot_id"]
    return snapshot_id


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


def test_copied_snapshots_restore_identical_and_the_destination_checks_clean(
    repo: Repo, source_repo: Repo, source: Path, tmp_path: Path
) -> None:
    first = back_up(source_repo, str(source), "--tag", "daily")
    write(source / "sub" / "added.bin", os.urandom(150_000))
    second = back_up(source_repo, str(source))

    outcome = repo("copy", *from_options(source_repo))

    assert outcome.exit_code == 0, outcome.stderr
    assert f"copied {first[:8]} as " in outcome.stdout
    assert f"copied {second[:8]} as " in outcome.stdout
    assert "Snapshots:  2 copied, 0 already copied" in outcome.stdout
    copies = repo.json("snapshots")
    assert [copy["copied_from"]["snapshot"] for copy in copies] == [first, second]
    assert copies[0]["tags"] == ["daily"]
    assert copies[1]["paths"] == [str(source)]
    target = tmp_path / "restored"
    restored = repo("restore", "latest", "--target", str(target))
    assert restored.exit_code == 0, restored.stderr
    assert files_under(target / str(source).lstrip("/")) == files_under(source)
    checked = repo("check", "--read-data")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    assert "no errors found" in checked.stdout


def test_a_second_copy_copies_nothing_and_adds_no_bytes(repo: Repo, source_repo: Repo, source: Path) -> None:
    back_up(source_repo, str(source))
    back_up(source_repo, str(source), "--tag", "second")
    first = copy_json(repo, source_repo)
    assert first["snapshots_copied"] == 2

    again = copy_json(repo, source_repo)

    assert again["snapshots_copied"] == 0
    assert again["snapshots_skipped"] == 2
    assert again["bytes_added"] == 0
    assert again["bytes_read"] == 0
    assert len(repo.json("snapshots")) == 2


def test_after_a_new_backup_in_the_source_only_the_new_data_is_added(
    repo: Repo, source_repo: Repo, tmp_path: Path
) -> None:
    tree = tmp_path / "tree"
    for number in range(20):
        write(tree / f"file-{number}", random.Random(number).randbytes(100_000))
    back_up(source_repo, str(tree))
    first = copy_json(repo, source_repo)
    write(tree / "file-3", random.Random(99).randbytes(100_000))
    back_up(source_repo, str(tree))

    second = copy_json(repo, source_repo)

    assert first["bytes_added"] > 2_000_000
    assert second["snapshots_copied"] == 1
    assert 100_000 <= second["bytes_added"] < 110_000
    assert second["bytes_read"] < 110_000


def test_filters_and_ids_choose_which_snapshots_are_copied(
    repo: Repo, source_repo: Repo, source: Path
) -> None:
    web = back_up(source_repo, str(source), "--host", "web", "--tag", "daily")
    web_later = back_up(source_repo, str(source / "sub"), "--host", "web")
    database = back_up(source_repo, str(source), "--host", "db", "--tag", "daily")

    def planned(*arguments: str) -> list[str]:
        summary = copy_json(repo, source_repo, "--dry-run", *arguments)
        assert summary["dry_run"] is True
        return list(summary["to_copy"])

    assert planned() == [web, web_later, database]
    assert planned("--host", "web") == [web, web_later]
    assert planned("--tag", "daily") == [web, database]
    assert planned("--path", str(source / "sub")) == [web_later]
    assert planned("latest", "--host", "web") == [web_later]
    assert planned(database[:10]) == [database]
    assert repo.json("snapshots") == []  # a dry run writes nothing

    copied = copy_json(repo, source_repo, "--host", "db")

    assert [item["source_id"] for item in copied["copied"]] == [database]
    assert planned() == [web, web_later]
    outside = repo("copy", *from_options(source_repo), web[:12], "--host", "db")
    assert outside.exit_code == EXIT_USAGE
    assert "does not match --host, --tag and --path" in outside.stderr
    unknown = repo("copy", *from_options(source_repo), "abcdef12")
    assert unknown.exit_code == 1
    assert "in the source repository, no snapshot matches 'abcdef12'" in unknown.stderr


def test_a_wrong_source_passphrase_is_a_clear_error_that_never_shows_it(
    repo: Repo, source_repo: Repo, source: Path, tmp_path: Path
) -> None:
    back_up(source_repo, str(source))
    wrong = tmp_path / "wrong-passphrase"
    wrong.write_text("not the source passphrase\n")

    outcome = repo("copy", "--from-repo", str(source_repo.path), "--from-password-file", str(wrong))

    assert outcome.exit_code == EXIT_WRONG_PASSPHRASE
    assert f"wrong passphrase for the source repository at {source_repo.path}" in outcome.stderr
    assert "--from-password-file" in outcome.stderr
    assert "not the source passphrase" not in outcome.stdout + outcome.stderr
    assert repo.json("snapshots") == []


def test_the_source_can_be_given_through_the_environment(
    repo: Repo, source_repo: Repo, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    snapshot = back_up(source_repo, str(source))
    monkeypatch.setenv("RESGUARDO_FROM_REPOSITORY", str(source_repo.path))
    monkeypatch.setenv("RESGUARDO_FROM_PASSWORD", SOURCE_PASSPHRASE)

    outcome = repo("copy")

    assert outcome.exit_code == 0, outcome.stderr
    assert f"copied {snapshot[:8]}" in outcome.stdout


def test_copying_a_repository_into_itself_is_refused(repo: Repo, source: Path, tmp_path: Path) -> None:
    back_up(repo, str(source))
    duplicate = tmp_path / "duplicate"
    shutil.copytree(repo.path, duplicate)
    options = ["--from-password-file", str(repo.password_file)]

    same_path = repo("copy", "--from-repo", f"local:{repo.path}/", *options)
    same_id = repo("copy", "--from-repo", str(duplicate), *options)

    assert same_path.exit_code == EXIT_USAGE
    assert "--from-repo and --repo name the same repository" in same_path.stderr
    assert same_id.exit_code == EXIT_USAGE
    assert "the source and the destination are the same repository" in same_id.stderr
    assert len(repo.json("snapshots")) == 1


def test_copy_without_a_source_says_how_to_give_one(repo: Repo) -> None:
    outcome = repo("copy")

    assert outcome.exit_code == EXIT_USAGE
    assert "no repository to copy from" in outcome.stderr
    assert "--from-repo" in outcome.stderr


def data_packs(repository: Path) -> list[Path]:
    return [path for path in (repository / "data").rglob("*") if path.is_file() and ".tmp-" not in path.name]


@pytest.mark.slow
def test_a_copy_killed_midway_completes_when_run_again(repo: Repo, source_repo: Repo, tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    for number in range(48):
        write(tree / f"folder-{number % 6}" / f"file-{number}", random.Random(number).randbytes(500_000))
    back_up(source_repo, str(tree))
    command = [sys.executable, "-m", "resguardo", *repo.options, "copy", *from_options(source_repo)]
    process = subprocess.Popen(
        command,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60
    while len(data_packs(repo.path)) < 8 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL, "the copy ended before it could be killed"
    sent = sum(path.stat().st_size for path in data_packs(repo.path))
    assert repo.json("snapshots") == []

    again = copy_json(repo, source_repo)

    assert again["snapshots_copied"] == 1
    assert again["bytes_added"] < 24_000_000 - sent + 200_000  # what was sent is not sent again
    # The translation map spares reading again most of what was sent (a file is one blob of 500 KB, two
    # to a pack): not the packs being written when it died; reading in runs adds the gaps between blobs.
    assert again["blobs_read"] * 500_000 < 24_000_000 - sent + 5_000_000
    assert again["bytes_read"] < 24_000_000 - sent + 8_000_000
    checked = repo("check", "--read-data")
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    target = tmp_path / "restored"
    assert repo("restore", "latest", "--target", str(target)).exit_code == 0
    assert files_under(target / str(tree).lstrip("/")) == files_under(tree)
