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
from resguardo.core.errors import ConfigurationError, RepositoryNotFound
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import CONFIG_NAME, Repository

CREDENTIAL_SECRETS = (
    SecretName.S3_ACCESS_KEY_ID,
    SecretName.S3_SECRET_ACCESS_KEY,
    SecretName.SSH_PRIVATE_KEY,
    SecretName.SSH_PASSWORD,
)


def _storage_of(record: RepositoryRecord) -> Storage:
    """Return the Storage of a catalog repository (settings from its non-secret options).

    Raises:
        ConfigurationError: the location is not supported, or storage credentials are set in the
            catalog (this version reaches SFTP and S3 with the worker's own credentials only).
    """
    held = sorted(str(name) for name in record.secret_names if name in CREDENTIAL_SECRETS)
    if held:
        raise ConfigurationError(
            f"repository {record.name!r} has storage credentials in the catalog ({', '.join(held)}), "
            "which workers do not use yet",
            "remove them and give the worker its own credentials (ssh-agent, AWS profile or environment)",
        )
    options = record.options or {}
    return open_storage(
        record.url,
        s3_endpoint=options.get("s3_endpoint"),
        s3_path_style=options.get("s3_path_style"),
        sftp_known_hosts=options.get("known_hosts"),
    )


@contextmanager
def opened_repository(
    session: Session,
    secret_key: SecretKey,
    repository_id: int,
    now: datetime,
    *,
    kdf: KdfParameters | None = None,
    cache_directory: str | None = None,
) -> Iterator[tuple[Repository, bool]]:
    """Open a catalog repository with its sealed passphrase; create it if the service never did.

    A repository the catalog records as initialized (``initialized_at``) that is missing from its
    storage is an error, not a reason to create an empty one: the data went somewhere.

    Yields:
        The open repository, and True when this call created it (``initialized_at`` is then set and
        committed).

    Raises:
        NotFound: the repository or its passphrase is missing from the catalog.
        SecretKeyError: the catalog key does not open the passphrase.
        RepositoryNotFound: the repository was created before but is gone from its storage.
        ConfigurationError, WrongPassphrase, StorageError: as the engine raises them.
    """
    record = queries.get_repository(session, repository_id)
    passphrase = queries.reveal_secret(session, secret_key, repository_id, SecretName.PASSPHRASE).encode()
    storage = _storage_of(record)
    session.commit()  # end the read transaction: the backup that follows may take hours
    try:
        created = False
        if storage.exists(CONFIG_NAME):
            repository = Repository.open(storage, passphrase, cache_directory=cache_directory)
        elif record.initialized_at is not None:
            raise RepositoryNotFound(
                f"repository {record.name!r} was created at {record.initialized_at.isoformat()} "
                f"but is missing from {storage.location}",
                "check the storage (a missing disk or mount?) before running its jobs again",
            )
        else:
            repository = Repository.create(storage, passphrase, kdf=kdf)
            record.initialized_at = now
            session.commit()
            created = True
        del passphrase
        yield repository, created
    finally:
        storage.close()
