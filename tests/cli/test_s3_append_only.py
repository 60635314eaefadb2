"""Append-only credentials on S3, on a moto server that enforces IAM policies.

The server answers its first three requests without checking credentials (moto's
``INITIAL_NO_AUTH_ACTION_COUNT``): enough to make an administrator. Every later request is checked
against the IAM policies of the user whose keys signed it. The append-only policy tested is the one
docs/cli.md gives, read from docs/s3-append-only-policy.json.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from resguardo.backends.s3 import S3Storage
from resguardo.core.errors import StorageError
from tests.cli.conftest import invoke
from tests.s3_server import MotoServer, fake_aws_environment

POLICY_FILE = Path(__file__).resolve().parents[2] / "docs" / "s3-append-only-policy.json"
BUCKET = "append-only-bucket"
ALLOW_EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}


@pytest.fixture(scope="module")
def enforcing_server() -> Iterator[MotoServer]:
    """Return a moto server that checks every request but the first three against IAM policies."""
    server = MotoServer({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    server.start()
    yield server
    server.stop()


def make_user(endpoint: str, name: str, policy: dict[str, Any], **signer: str) -> dict[str, str]:
    """Create an IAM user with ``policy``; return its access key and secret."""
    import boto3

    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1", **signer)
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    iam.put_user_policy(UserName=name, PolicyName=name, PolicyDocument=json.dumps(policy))
    return {"aws_access_key_id": key["AccessKeyId"], "aws_secret_access_key": key["SecretAccessKey"]}


@pytest.fixture(scope="module")
def credentials(enforcing_server: MotoServer) -> dict[str, dict[str, str]]:
    """Return the administrator's and the append-only user's keys; the bucket exists."""
    import boto3

    bootstrap = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
    admin = make_user(enforcing_server.url, "admin", ALLOW_EVERYTHING, **bootstrap)
    policy = json.loads(POLICY_FILE.read_text().replace("BUCKET", BUCKET).replace("PREFIX", "repo"))
    append_only = make_user(enforcing_server.url, "backup", policy, **admin)
    boto3.client("s3", endpoint_url=enforcing_server.url, region_name="us-east-1", **admin).create_bucket(
        Bucket=BUCKET
    )
    return {"admin": admin, "append_only": append_only}


@pytest.fixture
def as_user(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory, credentials: dict[str, Any]
) -> Any:
    """Return a function that makes the environment's AWS credentials those of a user."""
    fake_aws_environment(monkeypatch, tmp_path_factory)

    def switch(user: str) -> None:
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials[user]["aws_access_key_id"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials[user]["aws_secret_access_key"])

    return switch


def test_append_only_credentials_back_up_but_cannot_delete_data(
    enforcing_server: MotoServer, as_user: Any, source: Path, password_file: Path, tmp_path: Path
) -> None:
    as_user("append_only")
    options = [
        "--repo",
        f"s3://{BUCKET}/repo",
        "--s3-endpoint",
        enforcing_server.url,
        "--password-file",
        str(password_file),
    ]
    for argv in (["init", "--pack-size", "1"], ["backup", str(source)], ["backup", str(source)]):
        outcome = invoke([*options, *argv])
        assert outcome.exit_code == 0, outcome.stderr
    restored = invoke([*options, "restore", "latest", "--target", str(tmp_path / "restored")])
    assert restored.exit_code == 0, restored.stderr

    storage = S3Storage(BUCKET, "repo", endpoint_url=enforcing_server.url)
    assert not list(storage.list("locks/"))  # the locks of every command were removed
    for name in (next(storage.list("data/")).name, next(storage.list("snapshots/")).name):
        with pytest.raises(StorageError) as caught:
            storage.remove(name)
        assert caught.value.message == f"access denied: cannot delete s3://{BUCKET}/repo/{name}"
        assert "append-only" in caught.value.hint
        assert storage.exists(name)

    other_passphrase = tmp_path / "other-passphrase"
    other_passphrase.write_text("another passphrase\n")
    added = invoke([*options, "--json", "key", "add", "--new-password-file", str(other_passphrase)])
    assert added.exit_code == 0, added.stderr
    removed = invoke([*options, "key", "remove", added.json()["key_id"]])
    assert removed.exit_code == 1
    assert "access denied: cannot delete" in removed.stderr
    assert "append-only" in removed.stderr
    assert "Traceback" not in removed.stderr


def test_append_only_credentials_cannot_write_outside_the_prefix(
    enforcing_server: MotoServer, as_user: Any
) -> None:
    as_user("append_only")
    with pytest.raises(StorageError, match="access denied: cannot write"):
        S3Storage(BUCKET, "elsewhere", endpoint_url=enforcing_server.url).save("config", b"x")


def test_unknown_and_wrong_keys_are_told_apart_without_showing_the_secret(
    enforcing_server: MotoServer, as_user: Any, monkeypatch: pytest.MonkeyPatch, credentials: dict[str, Any]
) -> None:
    as_user("admin")
    storage = S3Storage(BUCKET, "repo", endpoint_url=enforcing_server.url, max_attempts=1)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "a-wrong-secret-value")
    with pytest.raises(StorageError) as wrong_secret:
        storage.exists("config")
    assert "the secret key does not match the access key" in wrong_secret.value.message
    assert "AWS_SECRET_ACCESS_KEY" in wrong_secret.value.hint

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIANOSUCHKEY0000000")
    with pytest.raises(StorageError) as unknown_key:
        S3Storage(BUCKET, "repo", endpoint_url=enforcing_server.url, max_attempts=1).load("config")
    assert "does not know the access key" in unknown_key.value.message
    for error in (wrong_secret.value, unknown_key.value):
        shown = f"{error.message} {error.hint}"
        assert "a-wrong-secret-value" not in shown
        assert credentials["admin"]["aws_secret_access_key"] not in shown
