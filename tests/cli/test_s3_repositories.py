"""Repositories on moto's S3 server through the real command: a round trip, and Object Lock.

Append-only credentials are tested in test_s3_append_only.py, on a server that enforces IAM policies.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from resguardo.backends.s3 import S3Storage
from resguardo.core.errors import EXIT_USAGE, ObjectRetained
from resguardo.engine.repository import Repository
from tests.cli.conftest import PASSPHRASE, invoke, run_subprocess, write
from tests.s3_server import MotoServer, admin_client, new_bucket


def tree_of(root: Path) -> dict[str, tuple[str, bytes]]:
    """Return every entry under ``root``: its kind and its content (a symlink's target)."""
    entries: dict[str, tuple[str, bytes]] = {}
    for path in sorted(root.rglob("*")):
        relative = str(path.relative_to(root))
        if path.is_symlink():
            entries[relative] = ("link", os.readlink(path).encode())
        elif path.is_dir():
            entries[relative] = ("dir", b"")
        else:
            entries[relative] = ("file", path.read_bytes())
    return entries


@pytest.mark.slow
def test_init_backup_restore_check_round_trip_on_s3(
    moto_server: MotoServer, s3_bucket: str, source: Path, password_file: Path, tmp_path: Path
) -> None:
    write(source / "large.bin", os.urandom(3_000_000))
    options = [
        "--repo",
        f"s3://{s3_bucket}/backups/host",
        "--s3-endpoint",
        moto_server.url,
        "--password-file",
        str(password_file),
    ]
    for argv in (["init", "--pack-size", "1"], ["backup", str(source)]):
        outcome = run_subprocess([*options, *argv])
        assert outcome.exit_code == 0, outcome.stderr
    target = tmp_path / "restored"
    restored = run_subprocess([*options, "restore", "latest", "--target", str(target)])
    assert restored.exit_code == 0, restored.stderr
    assert tree_of(target / str(source).lstrip("/")) == tree_of(source)
    checked = run_subprocess([*options, "check", "--read-data"])
    assert checked.exit_code == 0, checked.stderr
    assert checked.stdout.rstrip().endswith("no errors found")
    keys = [
        item["Key"] for item in admin_client(moto_server.url).list_objects_v2(Bucket=s3_bucket)["Contents"]
    ]
    assert all(key.startswith("backups/host/") for key in keys)
    assert not any(key.startswith("backups/host/locks/") for key in keys)


def test_the_endpoint_can_come_from_the_aws_variable(
    moto_server: MotoServer, s3_bucket: str, password_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server.url)
    outcome = invoke(["--repo", f"s3://{s3_bucket}/repo", "--password-file", str(password_file), "init"])
    assert outcome.exit_code == 0, outcome.stderr
    assert f"at s3://{s3_bucket}/repo" in outcome.stdout


def lock_options(endpoint: str, bucket: str, password_file: Path) -> list[str]:
    return ["--repo", f"s3://{bucket}/repo", "--s3-endpoint", endpoint, "--password-file", str(password_file)]


def test_objects_written_carry_the_object_lock_retention(
    moto_server: MotoServer, s3_environment: None, source: Path, password_file: Path
) -> None:
    bucket = new_bucket(moto_server.url, object_lock=True)
    options = lock_options(moto_server.url, bucket, password_file)
    created = invoke([*options, "--json", "init", "--object-lock-days", "3", "--pack-size", "1"])
    assert created.exit_code == 0, created.stderr
    assert created.json()["object_lock"] == {"mode": "compliance", "days": 3}
    before = datetime.now(UTC)
    backed_up = invoke([*options, "backup", str(source)])
    assert backed_up.exit_code == 0, backed_up.stderr

    client = admin_client(moto_server.url)
    keys = [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]]
    kinds = {key.split("/")[1] for key in keys}
    assert {"config", "keys", "data", "index", "snapshots"} <= kinds
    assert "locks" not in kinds  # the backup's lock was removed: lock files carry no retention
    for key in keys:
        head = client.head_object(Bucket=bucket, Key=key)
        assert head["ObjectLockMode"] == "COMPLIANCE", key
        assert before + timedelta(days=3) - timedelta(minutes=5) < head["ObjectLockRetainUntilDate"]

    pack = next(key for key in keys if key.startswith("repo/data/"))
    version = client.head_object(Bucket=bucket, Key=pack)["VersionId"]
    with pytest.raises(client.exceptions.ClientError, match="AccessDenied"):
        client.delete_object(Bucket=bucket, Key=pack, VersionId=version)

    storage = S3Storage(bucket, "repo", endpoint_url=moto_server.url)
    Repository.open(storage, PASSPHRASE.encode(), with_index=False)
    assert storage.object_lock == ("compliance", 3)
    name = pack.removeprefix("repo/")
    until = storage.retained_until(name)
    assert until is not None and until > before + timedelta(days=2)
    with pytest.raises(ObjectRetained) as caught:
        storage.remove(name)
    assert caught.value.retained_until == until
    assert f"kept until {until:%Y-%m-%d}" in caught.value.message
    assert storage.exists(name)
    storage.save("locks/test", b"a lock")
    assert storage.retained_until("locks/test") is None
    storage.remove("locks/test")
    assert not client.list_object_versions(Bucket=bucket, Prefix="repo/locks/").get("Versions")


def test_object_lock_needs_a_bucket_with_object_lock(
    moto_server: MotoServer, s3_bucket: str, password_file: Path
) -> None:
    options = lock_options(moto_server.url, s3_bucket, password_file)
    outcome = invoke([*options, "init", "--object-lock-days", "7"])
    assert outcome.exit_code == EXIT_USAGE
    assert f"the bucket '{s3_bucket}' does not have Object Lock enabled" in outcome.stderr
    assert "--object-lock-enabled-for-bucket" in outcome.stderr
    assert "Traceback" not in outcome.stderr
    assert "Contents" not in admin_client(moto_server.url).list_objects_v2(Bucket=s3_bucket)


def test_object_lock_is_refused_on_a_local_repository(tmp_path: Path, password_file: Path) -> None:
    repository = tmp_path / "repository"
    options = ["--repo", str(repository), "--password-file", str(password_file)]
    outcome = invoke([*options, "init", "--object-lock-days", "7", "--object-lock-mode", "governance"])
    assert outcome.exit_code == EXIT_USAGE
    assert "cannot keep objects under Object Lock" in outcome.stderr
    assert not repository.exists() or not any(repository.iterdir())


def test_prune_keeps_what_object_lock_retains_and_says_until_when(
    moto_server: MotoServer, s3_environment: None, source: Path, password_file: Path
) -> None:
    bucket = new_bucket(moto_server.url, object_lock=True)
    options = lock_options(moto_server.url, bucket, password_file)
    init = [
        *options,
        "init",
        "--object-lock-days",
        "3",
        "--object-lock-mode",
        "governance",
        "--pack-size",
        "1",
    ]
    assert invoke(init).exit_code == 0
    assert invoke([*options, "backup", str(source)]).exit_code == 0
    first = invoke([*options, "--json", "snapshots"]).json()[0]["id"]
    write(source / "other.bin", os.urandom(100_000))
    assert invoke([*options, "backup", str(source)]).exit_code == 0
    forgotten = invoke([*options, "forget", first])
    assert forgotten.exit_code == 1 and "by Object Lock" in forgotten.stderr  # retention holds
    client = admin_client(moto_server.url)
    key = f"repo/snapshots/{first}"
    for version in client.list_object_versions(Bucket=bucket, Prefix=key)["Versions"]:
        # An administrator may bypass governance retention; resguardo itself never does.
        client.delete_object(
            Bucket=bucket, Key=key, VersionId=version["VersionId"], BypassGovernanceRetention=True
        )

    pruned = invoke([*options, "--json", "prune", "--max-unused", "0"])

    assert pruned.exit_code == 0, pruned.stderr
    summary = pruned.json_lines()[-1]
    assert summary["finished"] and summary["packs_deleted"] == 0
    assert summary["packs_retained"], "the condemned packs are under retention"
    until = datetime.fromisoformat(summary["packs_retained"][0]["until"])
    assert until > datetime.now(UTC) + timedelta(days=2)
    assert not client.list_objects_v2(Bucket=bucket, Prefix="repo/prune/").get("Contents")
    checked = invoke([*options, "check", "--read-data"])
    assert checked.exit_code == 0, checked.stdout + checked.stderr
    restored = invoke([*options, "restore", "latest", "--target", str(source.parent / "restored")])
    assert restored.exit_code == 0, restored.stderr
