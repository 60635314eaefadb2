"""``resguardo copy`` between repositories on different backends: local disk to S3 (moto's server) to
SFTP (a real sshd), each with its own passphrase; the last copy restores the original tree."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import Outcome, invoke, write
from tests.fixtures.sshd import SshServer
from tests.s3_server import MotoServer


def files_under(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()
    }


@pytest.mark.slow
def test_copies_go_from_local_disk_to_s3_to_sftp_and_restore_identical(
    tmp_path: Path, moto_server: MotoServer, s3_bucket: str, sshd_server: SshServer
) -> None:
    source = tmp_path / "source"
    write(source / "large.bin", os.urandom(2_500_000))
    write(source / "notes" / "a.txt", b"first copy\n" * 100)
    passphrases = {}
    for name in ("local", "s3", "sftp"):
        passphrases[name] = tmp_path / f"{name}-passphrase"
        passphrases[name].write_text(f"passphrase of the {name} repository\n")
    locations = {
        "local": str(tmp_path / "local-repository"),
        "s3": f"s3://{s3_bucket}/offsite",
        "sftp": sshd_server.location(tmp_path / "sftp-repository"),
    }
    storage_options = [
        "--s3-endpoint",
        moto_server.url,
        "--sftp-key",
        str(sshd_server.client_key),
        "--sftp-known-hosts",
        str(sshd_server.known_hosts),
    ]

    def run(name: str, *argv: str) -> Outcome:
        options = [*storage_options, "--repo", locations[name], "--password-file", str(passphrases[name])]
        outcome = invoke([*options, *argv])
        assert outcome.exit_code == 0, outcome.stderr
        return outcome

    def copy(source_name: str, target_name: str) -> dict[str, Any]:
        summary: dict[str, Any] = run(
            target_name,
            "--json",
            "copy",
            "--from-repo",
            locations[source_name],
            "--from-password-file",
            str(passphrases[source_name]),
        ).json_lines()[-1]
        return summary

    for name in locations:
        run(name, "init", "--pack-size", "1")
    run("local", "backup", str(source))
    to_s3 = copy("local", "s3")
    assert to_s3["snapshots_copied"] == 1 and to_s3["bytes_added"] > 2_500_000
    assert copy("s3", "sftp")["snapshots_copied"] == 1
    again = copy("s3", "sftp")
    assert again["snapshots_copied"] == 0 and again["bytes_added"] == 0

    run("sftp", "check", "--read-data")
    target = tmp_path / "restored"
    run("sftp", "restore", "latest", "--target", str(target))
    assert files_under(target / str(source).lstrip("/")) == files_under(source)
