"""Open the repository of a job from the catalog, creating it in its storage on first use."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

from sqlalchemy.orm import Session

from resguardo.backends.base import Storage
from resguardo.backends.open import open_storage
from resguardo.catalog import SecretKey, SecretName, queries
from resguardo.catalog.models import Repository as RepositoryRecord
from resguardo.core.errors import RepositoryNotFound
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import CONFIG_NAME, Repository
from resguardo.services.storage_credentials import credentials_used, storage_credentials


def _storage_of(session: Session, secret_key: SecretKey, record: RepositoryRecord) -> tuple[Storage, str]:
    """Return the Storage of a catalog repository, with its settings from its non-secret options and
    its credentials revealed from the catalog (or the worker's own when it holds none), and which
    credentials those are (names, for the run's log).

    Raises:
        ConfigurationError: the location is not supported, or the credentials do not fit it.
        SecretKeyError: the catalog key does not open the credentials.
    """
    options = record.options or {}
    credentials = storage_credentials(session, secret_key, record)
    storage = open_storage(
        record.url,
        s3_endpoint=options.get("s3_endpoint"),
        s3_path_style=options.get("s3_path_style"),
        sftp_known_hosts=options.get("known_hosts"),
        credentials=credentials,
    )
    return storage, credentials_used(credentials)


@contextmanager
def opened_repository(
    session: Session,
    secret_key: SecretKey,
    repository_id: int,
    now: datetime,
    *,
    kdf: KdfParameters | None = None,
    cache_directory: str | None = None,
    create: bool = True,
) -> Iterator[tuple[Repository, bool, str]]:
    """Open a catalog repository with its sealed passphrase; create it if the service never did.

    With ``create`` false (a verification), a repository missing from its storage is an error too.
    A repository the catalog records as initialized (``initialized_at``) that is missing from its
    storage is an error, not a reason to create an empty one: the data went somewhere.

    Yields:
        The open repository; True when this call created it (``initialized_at`` is then set and
        committed); which credentials reached its storage (names, never values: for the run's log).

    Raises:
        NotFound: the repository or its passphrase is missing from the catalog.
        SecretKeyError: the catalog key does not open the passphrase.
        RepositoryNotFound: the repository was created before but is gone from its storage.
        ConfigurationError: the storage credentials do not fit the storage, or cannot be read.
        ConfigurationError, WrongPassphrase, StorageError: as the engine raises them.
    """
    record = queries.get_repository(session, repository_id)
    passphrase = queries.reveal_secret(session, secret_key, repository_id, SecretName.PASSPHRASE).encode()
    storage, credentials_note = _storage_of(session, secret_key, record)
    session.commit()  # end the read transaction: the backup that follows may take hours
    try:
        created = False
        if storage.exists(CONFIG_NAME):
            repository = Repository.open(storage, passphrase, cache_directory=cache_directory)
        elif record.initialized_at is not None or not create:
            created_at = record.initialized_at.isoformat() if record.initialized_at else "no backup yet"
            raise RepositoryNotFound(
                f"repository {record.name!r} ({created_at}) is missing from {storage.location}",
                "check the storage (a missing disk or mount?) before running its jobs again",
            )
        else:
            repository = Repository.create(storage, passphrase, kdf=kdf)
            record.initialized_at = now
            session.commit()
            created = True
        del passphrase
        yield repository, created, credentials_note
    finally:
        storage.close()
