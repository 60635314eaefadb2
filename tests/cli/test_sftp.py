"""The real command on an sftp:// repository: a whole round trip, and errors as messages."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.cli.conftest import run_subprocess
from tests.fixtures.sshd import SshServer

pytestmark = pytest.mark.slow


def test_init_backup_restore_and_check_on_sftp_restore_the_same_tree(
    sshd_server: SshServer, source: Path, password_file: Path, tmp_path: Path
) -> None:
    options = ["--repo", sshd_server.location(tmp_path / "repository"), "--password-file", str(password_file)]
    environment = {
        "RESGUARDO_SFTP_KEY": str(sshd_server.client_key),
        "RESGUARDO_SFTP_KNOWN_HOSTS": str(sshd_server.known_hosts),
    }

    created = run_subprocess([*options, "init", "--pack-size", "1"], **environment)
    assert created.exit_code == 0, created.stderr
    assert (tmp_path / "repository" / "config").is_file()
    backed_up = run_subprocess([*options, "backup", str(source)], **environment)
    assert backed_up.exit_code == 0, backed_up.stderr
    target = tmp_path / "restored"
    restored = run_subprocess([*options, "restore", "latest", "--target", str(target)], **environment)
    assert restored.exit_code == 0, restored.stderr
    checked = run_subprocess([*options, "check", "--read-data"], **environment)
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.rstrip().endswith("no errors found")

    compared = subprocess.run(
        ["diff", "-r", "--no-dereference", str(source), str(target / str(source).lstrip("/"))],
        capture_output=True,
        text=True,
        check=False,
    )
    assert compared.returncode == 0, compared.stdout + compared.stderr
    assert not list((tmp_path / "repository" / "locks").iterdir())


def test_the_key_and_known_hosts_options_work_without_the_environment(
    sshd_server: SshServer, password_file: Path, tmp_path: Path
) -> None:
    outcome = run_subprocess(
        [
            "--repo",
            sshd_server.location(tmp_path / "repository"),
            "--password-file",
            str(password_file),
            "--sftp-key",
            str(sshd_server.client_key),
            "--sftp-known-hosts",
            str(sshd_server.known_hosts),
            "init",
        ],
        HOME=str(tmp_path / "empty-home"),
    )
    assert outcome.exit_code == 0, outcome.stderr
    assert (tmp_path / "repository" / "config").is_file()


def test_an_unknown_host_key_is_an_error_message_not_a_traceback(
    sshd_server: SshServer, password_file: Path, tmp_path: Path
) -> None:
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    outcome = run_subprocess(
        [
            "--repo",
            sshd_server.location(tmp_path / "repository"),
            "--password-file",
            str(password_file),
            "init",
        ],
        RESGUARDO_SFTP_KEY=str(sshd_server.client_key),
        RESGUARDO_SFTP_KNOWN_HOSTS=str(empty),
    )
    assert outcome.exit_code == 1
    assert outcome.stderr.startswith("error: the host key of [127.0.0.1]:")
    assert "hint: check that fingerprint" in outcome.stderr
    assert "Traceback" not in outcome.stderr


def test_an_append_only_account_backs_up_and_restores_and_leaves_its_locks_to_unlock(
    sshd_server: SshServer, source: Path, password_file: Path, tmp_path: Path
) -> None:
    repository = [
        "--repo",
        sshd_server.location(tmp_path / "repository"),
        "--password-file",
        str(password_file),
    ]
    known_hosts = {"RESGUARDO_SFTP_KNOWN_HOSTS": str(sshd_server.known_hosts)}
    full = {"RESGUARDO_SFTP_KEY": str(sshd_server.client_key), **known_hosts}
    append_only = {"RESGUARDO_SFTP_KEY": str(sshd_server.append_only_key), **known_hosts}
    assert run_subprocess([*repository, "init"], **full).exit_code == 0

    backed_up = run_subprocess([*repository, "backup", str(source)], **append_only)
    assert backed_up.exit_code == 0, backed_up.stderr
    assert "warning: the storage refused to delete 1 lock object" in backed_up.stderr
    restored = run_subprocess(
        [*repository, "restore", "latest", "--target", str(tmp_path / "restored")], **append_only
    )
    assert restored.exit_code == 0, restored.stderr
    assert (tmp_path / "restored" / str(source).lstrip("/") / "a.txt").read_bytes() == b"hello, world\n"
    refused = run_subprocess([*repository, "unlock"], **append_only)
    assert refused.exit_code == 1
    assert "permission denied" in refused.stderr

    unlocked = run_subprocess([*repository, "--json", "unlock"], **full)
    assert unlocked.exit_code == 0, unlocked.stderr
    assert len(unlocked.json()["removed"]) == 2
    assert not [
        name for name in (tmp_path / "repository" / "locks").iterdir() if not name.name.startswith(".tmp-")
    ]
