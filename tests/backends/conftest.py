"""The storages the contract suite (tests/backends/test_contract.py) runs against, and the SSH server.

``storage`` is parametrized over :data:`STORAGES`: each entry names a fixture that returns a fresh,
empty storage. A new backend joins the contract by adding its fixture here and its name to
:data:`STORAGES`.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from resguardo.backends import LocalStorage, MemoryStorage, Storage
from resguardo.backends.faulty import FaultyStorage, never
from resguardo.backends.retry import RetryPolicy
from resguardo.backends.sftp import SftpStorage
from tests.fixtures.sshd import SshServer

STORAGES = ["memory_contract", "local_contract", "faulty_contract", "sftp_contract", "s3_contract"]
"""Names of the fixtures, one per backend, that the contract suite runs against."""

QUICK_RETRIES = RetryPolicy(attempts=4, base_delay=0.01, max_delay=0.05)
"""Retries that do not slow the tests down."""

_repository_numbers = itertools.count()


@pytest.fixture
def memory_contract() -> Storage:
    return MemoryStorage()


@pytest.fixture
def local_contract(tmp_path: Path) -> Storage:
    return LocalStorage(tmp_path / "repository", durable=False)


@pytest.fixture
def faulty_contract() -> Storage:
    return FaultyStorage(MemoryStorage(), fail_on=never)


def sftp_storage_on(
    server: SshServer,
    path: Path,
    *,
    key_file: Path | None = None,
    known_hosts: Path | None = None,
    retry: RetryPolicy = QUICK_RETRIES,
    connections: int = 4,
) -> SftpStorage:
    """Return an SftpStorage for ``path`` on ``server``; its client key and known_hosts file by default."""
    return SftpStorage(
        server.location(path),
        key_file=str(key_file or server.client_key),
        known_hosts=str(known_hosts or server.known_hosts),
        retry=retry,
        connections=connections,
    )


@pytest.fixture
def sftp_storage(sshd_server: SshServer, tmp_path: Path) -> Iterator[SftpStorage]:
    """Return an SftpStorage for a new folder (not created yet) on the test SSH server."""
    storage = sftp_storage_on(sshd_server, tmp_path / f"sftp-repository-{next(_repository_numbers)}")
    try:
        yield storage
    finally:
        storage.close()


@pytest.fixture
def sftp_contract(sftp_storage: SftpStorage) -> Storage:
    return sftp_storage


@pytest.fixture
def s3_contract(s3_storage: Storage) -> Storage:
    """An S3Storage on a fresh bucket of moto's S3 server (see tests/s3_server.py)."""
    return s3_storage


@pytest.fixture(params=STORAGES)
def storage(request: pytest.FixtureRequest) -> Storage:
    """Every backend in turn, fresh and empty (the name of its fixture is the test's parameter)."""
    return cast(Storage, request.getfixturevalue(request.param))
