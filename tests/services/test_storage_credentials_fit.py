"""Credentials that do not fit a repository's storage, or are incomplete, fail the run saying so."""

from __future__ import annotations

from pathlib import Path

import pytest

from resguardo.catalog import RunState, SecretName, queries
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services import request_run_now
from tests.fixtures.service import CREATED, PASSPHRASE, Service, make_tree

SECRET = "a sealed credential 5d1e"


@pytest.mark.parametrize(
    ("url", "secrets", "expected"),
    [
        ("/srv/plain", [SecretName.S3_ACCESS_KEY_ID], "is on local storage but holds s3_access_key_id"),
        ("sftp://backup@127.0.0.1:1/repo", [SecretName.S3_SECRET_ACCESS_KEY], "holds s3_secret_access_key"),
        ("s3://bucket/repo", [SecretName.SSH_PRIVATE_KEY], "is on s3 storage but holds ssh_private_key"),
        ("s3://bucket/repo", [SecretName.S3_ACCESS_KEY_ID], "one S3 key sealed but not s3_secret_access_key"),
        (
            "sftp://backup@127.0.0.1:1/repo",
            [SecretName.SSH_PASSWORD],
            "an ssh_password but no ssh_private_key",
        ),
    ],
)
def test_credentials_that_do_not_fit_the_storage_fail_the_run_clearly(
    service: Service, tmp_path: Path, url: str, secrets: list[SecretName], expected: str
) -> None:
    with service.sessions() as session:
        record = queries.create_repository(
            session,
            service.secret_key,
            name="misfit",
            url=url,
            now=CREATED,
            secrets={SecretName.PASSPHRASE: PASSPHRASE, **dict.fromkeys(secrets, SECRET)},
        )
        session.commit()
    job_id = service.job("tree", [make_tree(tmp_path / "tree")], repository_id=record.id, max_retries=0)
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())

    [(run_id, state)] = service.worker().run_until_idle()

    with service.sessions() as session:
        run = queries.get_run(session, run_id)
    assert state is RunState.FAILED
    assert expected in run.error and "repository 'misfit'" in run.error
    assert SECRET not in run.error + run.log
