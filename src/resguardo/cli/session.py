"""What every command shares: the global options, opening the repository, locking it, the cache folder.

Testing aid: when the environment variable ``RESGUARDO_TEST_KDF`` is ``fast``, the commands that
create key slots (``init`` and ``key add``; ``key passwd`` keeps the parameters of the slot it
replaces) derive keys with Argon2id at 1 MiB and one pass instead of the default 64 MiB and three
passes, so that test suites do not spend a fraction of a second per key. It is deliberately left
out of the help and of ``docs/cli.md``: such a key slot is cheap to attack, and nothing but a test
should ever create one.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from resguardo.cli.output import Output

if TYPE_CHECKING:
    from resguardo.backends.base import Storage
    from resguardo.engine.crypto import KdfParameters
    from resguardo.engine.locks import LockInfo, RepositoryLock
    from resguardo.engine.repository import Repository

REPOSITORY_ENV = "RESGUARDO_REPOSITORY"
CACHE_DIR_ENV = "RESGUARDO_CACHE_DIR"
TEST_KDF_ENV = "RESGUARDO_TEST_KDF"


@dataclass(frozen=True, slots=True)
class Settings:
    """The global options of one run.

    Attributes:
        repository: the repository location (``--repo`` or ``RESGUARDO_REPOSITORY``), if given.
        password_file: the password file (``--password-file`` or ``RESGUARDO_PASSWORD_FILE``), if given.
        output: how to print.
        s3_endpoint: the S3 server for ``s3://`` repositories (``--s3-endpoint`` or
            ``RESGUARDO_S3_ENDPOINT``), if given.
        sftp_key: for sftp:// repositories, the private key file (``--sftp-key`` or ``RESGUARDO_SFTP_KEY``).
        sftp_known_hosts: for sftp:// repositories, the known_hosts file (``--sftp-known-hosts`` or
            ``RESGUARDO_SFTP_KNOWN_HOSTS``).
        server: the server the catalog commands call (``--server`` or ``RESGUARDO_SERVER``), if given.
        token_file: the file holding the API token (``--token-file`` or ``RESGUARDO_TOKEN_FILE``).
    """

    repository: str | None
    password_file: str | None
    output: Output
    s3_endpoint: str | None = None
    sftp_key: str | None = None
    sftp_known_hosts: str | None = None
    server: str | None = None
    token_file: str | None = None


def settings_of(context: typer.Context) -> Settings:
    """Return the global options of the run that a command's ``context`` belongs to."""
    settings = context.find_root().obj
    assert isinstance(settings, Settings), "the global options callback did not run"
    return settings


def testing_kdf() -> KdfParameters | None:
    """Return cheap key-derivation parameters when ``RESGUARDO_TEST_KDF=fast`` (tests only), else None."""
    if os.environ.get(TEST_KDF_ENV) != "fast":
        return None
    from resguardo.engine.crypto import KdfParameters

    return KdfParameters(memory_kib=1024, iterations=1, lanes=1)


def cache_directory() -> str:
    """Return the local metadata cache folder: ``RESGUARDO_CACHE_DIR``, else the user's cache folder."""
    configured = os.environ.get(CACHE_DIR_ENV)
    if configured:
        return configured
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "resguardo")


def open_storage(settings: Settings) -> Storage:
    """Return the storage that ``--repo`` names.

    Raises:
        ConfigurationError: no repository was given, or its location is not supported.
    """
    from resguardo.backends.open import open_storage as open_location

    return open_location(
        settings.repository or "",
        s3_endpoint=settings.s3_endpoint,
        sftp_key=settings.sftp_key,
        sftp_known_hosts=settings.sftp_known_hosts,
    )


@contextmanager
def opened_repository(settings: Settings, *, with_index: bool = True) -> Iterator[Repository]:
    """Open the repository with the passphrase from the usual sources; close its storage afterwards.

    ``with_index=False`` skips loading the index, for commands that read only snapshots or keys.

    The passphrase is asked for only when a repository exists at the location.

    Raises:
        ConfigurationError: no repository was given.
        RepositoryNotFound: there is no repository at the location.
        UsageError: no passphrase is available.
        WrongPassphrase: the passphrase opens no key slot.
        IntegrityError: the config or an index is damaged.
    """
    with opened_repository_and_passphrase(settings, with_index=with_index) as (repository, _passphrase):
        yield repository


@contextmanager
def opened_repository_and_passphrase(
    settings: Settings, *, with_index: bool = True
) -> Iterator[tuple[Repository, bytes]]:
    """Like :func:`opened_repository`, and yield the passphrase too (for ``key remove`` and ``key passwd``).

    Raises:
        ConfigurationError: no repository was given.
        RepositoryNotFound: there is no repository at the location.
        UsageError: no passphrase is available.
        WrongPassphrase: the passphrase opens no key slot.
        IntegrityError: the config or an index is damaged.
    """
    from resguardo.cli.passphrases import current_passphrase
    from resguardo.core.errors import RepositoryNotFound
    from resguardo.engine.repository import CONFIG_NAME, Repository

    storage = open_storage(settings)
    try:
        if not storage.exists(CONFIG_NAME):
            raise RepositoryNotFound(f"there is no repository at {storage.location}")
        passphrase = current_passphrase(settings.password_file)
        repository = Repository.open(
            storage, passphrase, with_index=with_index, cache_directory=cache_directory()
        )
        yield repository, passphrase
    finally:
        storage.close()


@contextmanager
def shared_lock(repository: Repository, output: Output) -> Iterator[RepositoryLock]:
    """Hold a shared lock on the repository while the block runs; stale locks found are reported as warnings.

    Raises:
        RepositoryLocked: another live process holds a conflicting lock.
    """
    from resguardo.engine.locks import locked

    def on_stale(lock: LockInfo) -> None:
        output.warning(f"ignoring a stale {lock.describe()}; 'resguardo unlock' removes it", operation="lock")

    def on_leftovers(lock_ids: list[str]) -> None:
        count = f"{len(lock_ids)} lock object{'s' if len(lock_ids) > 1 else ''}"
        output.warning(
            f"the storage refused to delete {count} of this run (an append-only account?); they go stale "
            "in 30 minutes, and 'resguardo unlock' run with an account that may delete removes them",
            operation="lock",
        )

    with locked(repository, on_stale=on_stale, on_leftovers=on_leftovers) as lock:
        yield lock
