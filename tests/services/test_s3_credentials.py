"""A job backs up into S3 with the access keys sealed in the catalog, on a moto server that checks every
request's keys; wrong keys fail the run clearly, and no key reaches the run, the logs or the catalog.

The worker's own AWS variables hold keys the server does not know, so a run succeeds only with the
sealed ones.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.backends.s3 import S3Storage
from resguardo.catalog import RunState, SecretName, queries
from resguardo.engine.repository import Repository as EngineRepository
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services import request_run_now
from tests.fixtures.service import CREATED, PASSPHRASE, Service, make_tree
from tests.s3_server import MotoServer, fake_aws_environment
from tests.services.secret_checks import assert_nowhere, catalog_dump

ALLOW_EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
BUCKET = "sealed-keys-bucket"


@pytest.fixture(scope="module")
def checking_server() -> Iterator[MotoServer]:
    """Return a moto server that checks the keys of every request but its first three."""
    server = MotoServer({"INITIAL_NO_AUTH_ACTION_COUNT": "3"})
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def keys(checking_server: MotoServer) -> dict[str, str]:
    """Return the access key ID and secret of a user allowed everything; the bucket exists."""
    import boto3

    bootstrap = {"aws_access_key_id": "bootstrap", "aws_secret_access_key": "bootstrap"}
    iam = boto3.client("iam", endpoint_url=checking_server.url, region_name="us-east-1", **bootstrap)
    iam.create_user(UserName="backup")
    made = iam.create_access_key(UserName="backup")["AccessKey"]
    iam.put_user_policy(UserName="backup", PolicyName="all", PolicyDocument=json.dumps(ALLOW_EVERYTHING))
    credentials = {"aws_access_key_id": made["AccessKeyId"], "aws_secret_access_key": made["SecretAccessKey"]}
    s3 = boto3.client("s3", endpoint_url=checking_server.url, region_name="us-east-1", **credentials)
    s3.create_bucket(Bucket=BUCKET)
    return {"id": made["AccessKeyId"], "secret": made["SecretAccessKey"]}


@pytest.fixture
def strange_environment(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Give the worker AWS keys of its own that the server does not know, and nothing else of AWS."""
    fake_aws_environment(monkeypatch, tmp_path_factory)


def _run_into_s3(
    service: Service, server: MotoServer, name: str, key_id: str, secret: str, tree: Path
) -> tuple[RunState | None, str, str]:
    with service.sessions() as session:
        record = queries.create_repository(
            session,
            service.secret_key,
            name=name,
            url=f"s3://{BUCKET}/{name}",
            now=CREATED,
            options={"s3_endpoint": server.url, "s3_path_style": True},
            secrets={
                SecretName.PASSPHRASE: PASSPHRASE,
                SecretName.S3_ACCESS_KEY_ID: key_id,
                SecretName.S3_SECRET_ACCESS_KEY: secret,
            },
        )
        session.commit()
    job_id = service.job(name, [tree], repository_id=record.id, max_retries=0)
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, state)] = service.worker().run_until_idle()
    with service.sessions() as session:
        run = queries.get_run(session, run_id)
        return state, run.log, run.error


def test_a_job_backs_up_into_s3_with_the_keys_sealed_in_the_catalog(
    service: Service,
    checking_server: MotoServer,
    keys: dict[str, str],
    strange_environment: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    name = f"sealed-{service.sessions.kw['bind'].dialect.name}"
    with caplog.at_level(logging.DEBUG):
        state, log, error = _run_into_s3(
            service, checking_server, name, keys["id"], keys["secret"], make_tree(tmp_path / "tree")
        )

    assert state is RunState.SUCCEEDED, error
    assert f"created repository {name!r} with the S3 keys of the catalog" in log
    from resguardo.backends.credentials import StorageCredentials

    given = StorageCredentials(s3_access_key_id=keys["id"], s3_secret_access_key=keys["secret"])
    storage = S3Storage(BUCKET, name, endpoint_url=checking_server.url, path_style=True, given=given)
    assert len(EngineRepository.open(storage, PASSPHRASE.encode()).snapshot_ids()) == 1
    assert_nowhere([keys["secret"], PASSPHRASE], log, error, caplog.text, catalog_dump(service))
    assert keys["id"] not in log + error


def test_a_wrong_secret_key_fails_the_run_naming_the_catalogs_keys_and_never_showing_them(
    service: Service,
    checking_server: MotoServer,
    keys: dict[str, str],
    strange_environment: None,
    tmp_path: Path,
) -> None:
    wrong = keys["secret"][::-1]
    name = f"wrong-{service.sessions.kw['bind'].dialect.name}"

    state, log, error = _run_into_s3(
        service, checking_server, name, keys["id"], wrong, make_tree(tmp_path / "t")
    )

    assert state is RunState.FAILED
    assert "the secret key does not match the access key" in error
    assert f"check the S3 keys of repository {name!r} in the catalog" in error
    assert_nowhere([wrong, keys["secret"], PASSPHRASE], log, error, catalog_dump(service))
    assert keys["id"] not in log + error


def test_an_unknown_access_key_fails_the_run_clearly(
    service: Service,
    checking_server: MotoServer,
    keys: dict[str, str],
    strange_environment: None,
    tmp_path: Path,
) -> None:
    name = f"unknown-{service.sessions.kw['bind'].dialect.name}"

    state, log, error = _run_into_s3(
        service, checking_server, name, "AKIANOSUCHKEY0000000", "no such secret 42", make_tree(tmp_path / "t")
    )

    assert state is RunState.FAILED
    assert "the S3 server does not know the access key" in error
    assert_nowhere(["no such secret 42", keys["secret"]], log, error, catalog_dump(service))
