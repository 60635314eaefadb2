"""A job backs up into an SFTP repository with the private key sealed in the catalog and the host key
of the repository's options, on a real sshd; a wrong host key or key fails the run clearly, and no key
material reaches the run, the logs or the catalog in clear."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from resguardo.backends.sftp import SftpStorage
from resguardo.catalog import RunState, SecretName, queries
from resguardo.engine.repository import Repository as EngineRepository
from resguardo.jobs.scheduling_loop import schedule_pass
from resguardo.services import request_run_now
from tests.fixtures.service import CREATED, PASSPHRASE, Service, make_tree
from tests.fixtures.sshd import SshServer, generate_key, public_key
from tests.services.secret_checks import assert_nowhere, catalog_dump


def _sftp_repository(
    service: Service, server: SshServer, name: str, *, key: str, host_key: str, tmp_path: Path
) -> int:
    folder = tmp_path / f"sftp-{name}"
    folder.mkdir()
    with service.sessions() as session:
        record = queries.create_repository(
            session,
            service.secret_key,
            name=name,
            url=server.location(folder),
            now=CREATED,
            options={"ssh_host_key": host_key},
            secrets={SecretName.PASSPHRASE: PASSPHRASE, SecretName.SSH_PRIVATE_KEY: key},
        )
        session.commit()
        return record.id


def _run_now(service: Service, job_id: int) -> tuple[RunState | None, str, str]:
    with service.sessions() as session:
        request_run_now(session, job_id, None, service.clock.now())
    schedule_pass(service.sessions, service.clock.now())
    [(run_id, state)] = service.worker().run_until_idle()
    with service.sessions() as session:
        run = queries.get_run(session, run_id)
        return state, run.log, run.error


def test_a_job_backs_up_into_sftp_with_the_key_sealed_in_the_catalog_and_the_known_host_key(
    service: Service,
    sshd_server: SshServer,
    no_own_credentials: None,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = sshd_server.client_key.read_text()
    repository_id = _sftp_repository(
        service, sshd_server, "offsite", key=key, host_key=public_key(sshd_server.host_key), tmp_path=tmp_path
    )
    job_id = service.job("tree", [make_tree(tmp_path / "tree")], repository_id=repository_id)

    with caplog.at_level(logging.DEBUG):
        state, log, error = _run_now(service, job_id)

    assert state is RunState.SUCCEEDED, error
    assert "created repository 'offsite' with the SSH key and the SSH host key of the catalog" in log
    storage = SftpStorage(
        sshd_server.location(tmp_path / "sftp-offsite"),
        key_file=str(sshd_server.client_key),
        known_hosts=str(sshd_server.known_hosts),
    )
    try:
        repository = EngineRepository.open(storage, PASSPHRASE.encode())
        assert len(repository.snapshot_ids()) == 1
    finally:
        storage.close()
    assert_nowhere([key, PASSPHRASE], log, error, caplog.text, catalog_dump(service))


def test_a_host_key_other_than_the_servers_fails_the_run_saying_so_and_sends_nothing(
    service: Service, sshd_server: SshServer, no_own_credentials: None, tmp_path: Path
) -> None:
    impostor = public_key(generate_key(tmp_path / "impostor_host_key"))
    key = sshd_server.client_key.read_text()
    repository_id = _sftp_repository(
        service, sshd_server, "guarded", key=key, host_key=impostor, tmp_path=tmp_path
    )
    job_id = service.job("tree", [make_tree(tmp_path / "tree")], repository_id=repository_id, max_retries=0)

    state, log, error = _run_now(service, job_id)

    assert state is RunState.FAILED
    assert (
        f"the host key of [127.0.0.1]:{sshd_server.port} is not the host key of repository 'guarded'" in error
    )
    assert "Nothing was sent" in error and "SHA256:" in error
    assert_nowhere([key, PASSPHRASE], log, error, catalog_dump(service))


def test_a_key_the_server_does_not_accept_fails_the_run_naming_its_fingerprint_only(
    service: Service, sshd_server: SshServer, no_own_credentials: None, tmp_path: Path
) -> None:
    stranger = generate_key(tmp_path / "stranger").read_text()
    repository_id = _sftp_repository(
        service,
        sshd_server,
        "locked",
        key=stranger,
        host_key=public_key(sshd_server.host_key),
        tmp_path=tmp_path,
    )
    job_id = service.job("tree", [make_tree(tmp_path / "tree")], repository_id=repository_id, max_retries=0)

    state, log, error = _run_now(service, job_id)

    assert state is RunState.FAILED
    assert "refused the SSH key of repository 'locked' in the catalog (ssh-ed25519 SHA256:" in error
    assert_nowhere([stranger, PASSPHRASE], log, error, catalog_dump(service))


def test_a_sealed_key_that_is_not_a_private_key_fails_the_run_without_echoing_it(
    service: Service, sshd_server: SshServer, no_own_credentials: None, tmp_path: Path
) -> None:
    garbage = "not a key at all, but a secret nonetheless 7f3a9c"
    repository_id = _sftp_repository(
        service,
        sshd_server,
        "garbled",
        key=garbage,
        host_key=public_key(sshd_server.host_key),
        tmp_path=tmp_path,
    )
    job_id = service.job("tree", [make_tree(tmp_path / "tree")], repository_id=repository_id, max_retries=0)

    state, log, error = _run_now(service, job_id)

    assert state is RunState.FAILED
    assert "the SSH private key of repository 'garbled' in the catalog cannot be read" in error
    assert_nowhere([garbage], log, error)
