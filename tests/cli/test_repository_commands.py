"""init, key list/add/passwd/remove, unlock, and where the passphrase comes from."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage
from resguardo.core.errors import (
    EXIT_REPOSITORY_NOT_FOUND,
    EXIT_USAGE,
    EXIT_WRONG_PASSPHRASE,
)
from resguardo.engine.repository import LOCKS_PREFIX, Repository
from tests.cli.conftest import PASSPHRASE, Repo, invoke


def test_init_creates_a_repository_that_opens_with_the_passphrase(
    tmp_path: Path, password_file: Path
) -> None:
    location = tmp_path / "new"
    outcome = invoke(["--repo", str(location), "--password-file", str(password_file), "init"])
    assert outcome.exit_code == 0, outcome.stderr
    assert "created repository" in outcome.stdout
    repository = Repository.open(LocalStorage(location), PASSPHRASE.encode())
    assert repository.config.pack_size == 16 * 1024 * 1024


def test_init_json_reports_the_repository_and_its_key(tmp_path: Path, password_file: Path) -> None:
    location = tmp_path / "new"
    argv = ["--json", "-r", str(location), "--password-file", str(password_file), "init"]
    outcome = invoke([*argv, "--compression-level", "9", "--pack-size", "4"])
    assert outcome.exit_code == 0, outcome.stderr
    document = outcome.json()
    assert set(document) == {
        "repository_id",
        "location",
        "key_id",
        "compression_level",
        "pack_size",
        "object_lock",
    }
    assert document["object_lock"] is None
    assert document["compression_level"] == 9
    assert document["pack_size"] == 4 * 1024 * 1024
    repository = Repository.open(LocalStorage(location), PASSPHRASE.encode())
    assert repository.config.id == document["repository_id"]
    assert repository.config.compression_level == 9


def test_init_refuses_an_existing_repository(repo: Repo) -> None:
    outcome = repo("init")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: a repository already exists at")
    assert "hint:" in outcome.stderr


def test_init_rejects_an_out_of_range_pack_size(tmp_path: Path, password_file: Path) -> None:
    argv = ["-r", str(tmp_path / "new"), "--password-file", str(password_file), "init", "--pack-size", "0"]
    outcome = invoke(argv)
    assert outcome.exit_code == EXIT_USAGE
    assert "--pack-size" in outcome.stderr


def test_the_passphrase_may_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RESGUARDO_PASSWORD", "from the environment")
    monkeypatch.setenv("RESGUARDO_REPOSITORY", str(tmp_path / "env-repository"))
    assert invoke(["init"]).exit_code == 0
    assert invoke(["snapshots"]).exit_code == 0
    monkeypatch.setenv("RESGUARDO_PASSWORD", "something else")
    assert invoke(["snapshots"]).exit_code == EXIT_WRONG_PASSPHRASE


def test_the_password_file_may_come_from_the_environment(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESGUARDO_PASSWORD_FILE", str(repo.password_file))
    outcome = invoke(["--repo", str(repo.path), "snapshots"])
    assert outcome.exit_code == 0, outcome.stderr


def test_without_a_passphrase_or_a_terminal_the_error_says_what_to_do(repo: Repo) -> None:
    outcome = invoke(["--repo", str(repo.path), "snapshots"])
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.stderr.splitlines()[0] == (
        "error: no passphrase given, and standard input is not a terminal to ask for one"
    )
    assert "--password-file" in outcome.stderr


def test_a_prompt_asks_twice_for_a_new_repository_and_refuses_a_mismatch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = iter(["one passphrase", "another passphrase"])
    monkeypatch.setattr("resguardo.cli.passphrases._stdin_is_terminal", lambda: True)
    monkeypatch.setattr("getpass.getpass", lambda _prompt: next(answers))
    outcome = invoke(["--repo", str(tmp_path / "prompted"), "init"])
    assert outcome.exit_code == EXIT_USAGE
    assert "do not match" in outcome.stderr
    assert "one passphrase" not in outcome.stderr + outcome.stdout

    answers = iter(["same", "same", "same"])
    assert invoke(["--repo", str(tmp_path / "prompted"), "init"]).exit_code == 0
    assert invoke(["--repo", str(tmp_path / "prompted"), "snapshots"]).exit_code == 0


def test_wrong_passphrase_exits_12_without_a_traceback(repo: Repo, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("not the passphrase\n")
    outcome = invoke(["--repo", str(repo.path), "--password-file", str(wrong), "snapshots"])
    assert outcome.exit_code == EXIT_WRONG_PASSPHRASE
    assert outcome.stderr.startswith("error: wrong passphrase for the repository at")
    assert "Traceback" not in outcome.stderr
    assert "not the passphrase" not in outcome.stderr


def test_a_missing_repository_exits_10_before_asking_for_a_passphrase(tmp_path: Path) -> None:
    outcome = invoke(["--repo", str(tmp_path / "nothing-here"), "snapshots"])
    assert outcome.exit_code == EXIT_REPOSITORY_NOT_FOUND
    assert outcome.stderr.splitlines() == [
        f"error: there is no repository at {tmp_path / 'nothing-here'}",
        "hint: check --repo / RESGUARDO_REPOSITORY, or create one with 'resguardo init'",
    ]


def test_no_repository_given_is_a_usage_error(password_file: Path) -> None:
    outcome = invoke(["--password-file", str(password_file), "snapshots"])
    assert outcome.exit_code == EXIT_USAGE
    assert outcome.stderr.startswith("error: no repository given")


def test_key_add_list_passwd_remove_round_trip(repo: Repo, tmp_path: Path) -> None:
    second = tmp_path / "second"
    second.write_text("second passphrase\n")
    added = repo("--json", "key", "add", "--new-password-file", str(second))
    assert added.exit_code == 0, added.stderr
    added_id = added.json()["key_id"]

    keys = repo.json("key", "list")
    assert {key["id"] for key in keys} >= {added_id}
    assert len(keys) == 2
    assert set(keys[0]) == {"id", "created", "hostname", "username", "kdf"}
    text = repo("key", "list")
    assert added_id[:8] in text.stdout

    second_options = ["--repo", str(repo.path), "--password-file", str(second)]
    assert invoke([*second_options, "snapshots"]).exit_code == 0

    third = tmp_path / "third"
    third.write_text("third passphrase\n")
    changed = invoke([*second_options, "--json", "key", "passwd", "--new-password-file", str(third)])
    assert changed.exit_code == 0, changed.stderr
    assert invoke([*second_options, "snapshots"]).exit_code == EXIT_WRONG_PASSPHRASE
    third_options = ["--repo", str(repo.path), "--password-file", str(third)]
    assert invoke([*third_options, "snapshots"]).exit_code == 0

    refused = invoke([*third_options, "key", "remove", changed.json()["key_id"][:10]])
    assert refused.exit_code == 1
    assert "refusing to remove the key you are using" in refused.stderr

    removed = repo("key", "remove", changed.json()["key_id"][:10])
    assert removed.exit_code == 0, removed.stderr
    assert invoke([*third_options, "snapshots"]).exit_code == EXIT_WRONG_PASSPHRASE
    assert len(repo.json("key", "list")) == 1


def test_key_add_without_a_new_passphrase_source_is_a_usage_error(repo: Repo) -> None:
    outcome = repo("key", "add")
    assert outcome.exit_code == EXIT_USAGE
    assert "--new-password-file" in outcome.stderr


def test_key_remove_of_an_unknown_key_fails_cleanly(repo: Repo) -> None:
    outcome = repo("key", "remove", "ffffffff")
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: no single key matches 'ffffffff'")


def _plant_lock(repo: Repo, lock_id: str, pid: int) -> None:
    repository = Repository.open(LocalStorage(repo.path), PASSPHRASE.encode())
    document = {
        "hostname": socket.gethostname(),
        "pid": pid,
        "username": "someone",
        "exclusive": True,
        "time": repository.clock.now().isoformat(),
    }
    repository.storage.save(LOCKS_PREFIX + lock_id, repository.keys.encrypt(json.dumps(document).encode()))


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_unlock_removes_stale_locks_and_keeps_live_ones(repo: Repo) -> None:
    _plant_lock(repo, "stale", _dead_pid())
    _plant_lock(repo, "live", os.getpid())
    document = repo.json("unlock")
    assert [lock["id"] for lock in document["removed"]] == ["stale"]
    assert [lock["id"] for lock in document["remaining"]] == ["live"]
    text = repo("unlock")
    assert "no stale lock to remove" in text.stdout
    assert "still held: exclusive lock by PID" in text.stdout
    assert repo.json("unlock", "--remove-all")["removed"][0]["id"] == "live"
    assert repo.json("unlock") == {"removed": [], "remaining": []}


def test_a_stale_lock_is_ignored_with_a_warning(repo: Repo, source: Path) -> None:
    _plant_lock(repo, "stale", _dead_pid())
    outcome = repo("backup", str(source))
    assert outcome.exit_code == 0, outcome.stderr
    assert "warning: ignoring a stale exclusive lock by PID" in outcome.stderr
    assert "'resguardo unlock' removes it" in outcome.stderr
