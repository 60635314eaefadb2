"""The exception hierarchy of Resguardo, and the exit code each one maps to.

::

    ResguardoError                 exit 1   something failed; the message says what to do
    ├── UsageError                 exit 2   the command line or an option is wrong
    ├── ConfigurationError         exit 2   a setting (repository URL, pattern, level) is invalid
    ├── BackupIncomplete           exit 3   backup finished, but some files could not be read
    ├── RepositoryNotFound         exit 10  no repository at that location
    ├── RepositoryExists           exit 1   init refused: a repository is already there
    ├── RepositoryLocked           exit 11  another process holds a lock that conflicts
    │   └── LockLost               exit 11  this process's own lock went stale or was removed
    ├── WrongPassphrase            exit 12  no key slot opens with that passphrase
    ├── SnapshotNotFound           exit 1   no snapshot matches the given ID or name
    ├── IntegrityError             exit 1   stored data failed authentication or is malformed
    ├── StorageError               exit 1   the storage backend failed (disk full, permission, I/O)
    │   ├── ObjectNotFound         exit 1   a named object is missing from storage
    │   └── ObjectRetained         exit 1   Object Lock keeps the object from being removed yet
    ├── SourceError                exit 1   a source path cannot be backed up at all
    ├── TargetError                exit 1   a restore target cannot be written
    ├── NotFound                   exit 1   no catalog record has that name or ID
    ├── Conflict                   exit 1   a catalog change clashes with what is there (a unique name)
    ├── AccessDenied               exit 1   the server refused the API token, or the caller's roles
    ├── SecretKeyError             exit 1   the catalog's secret key is missing, malformed or not the one
    └── DeliveryError              exit 1   the SMTP server could not be reached or refused an e-mail

Every error carries a one-line message saying what is wrong and, in ``hint``, what to do about it.
The codes follow the conventions that operators of other backup tools already script against.
"""

from __future__ import annotations

from datetime import datetime

EXIT_SUCCESS = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_REPOSITORY_NOT_FOUND = 10
EXIT_REPOSITORY_LOCKED = 11
EXIT_WRONG_PASSPHRASE = 12
EXIT_INTERRUPTED = 130


class ResguardoError(Exception):
    """Base of every error Resguardo reports to a person.

    Args:
        message: one line saying what went wrong.
        hint: one line saying what to do about it (may be empty).
    """

    exit_code: int = EXIT_FAILURE
    default_hint: str = ""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = self.default_hint if hint is None else hint

    def __str__(self) -> str:
        return self.message


class UsageError(ResguardoError):
    """The command line or an option is wrong."""

    exit_code = EXIT_USAGE


class ConfigurationError(ResguardoError):
    """A setting (repository location, pattern, compression level, ...) is invalid."""

    exit_code = EXIT_USAGE


class BackupIncomplete(ResguardoError):
    """The backup finished and its snapshot was saved, but some files could not be read."""

    exit_code = EXIT_PARTIAL


class RepositoryNotFound(ResguardoError):
    """No repository exists at the given location."""

    exit_code = EXIT_REPOSITORY_NOT_FOUND
    default_hint = "check --repo / RESGUARDO_REPOSITORY, or create one with 'resguardo init'"


class RepositoryExists(ResguardoError):
    """``init`` found a repository, or other files, at the location."""

    default_hint = "choose an empty or new directory for the repository"


class RepositoryLocked(ResguardoError):
    """Another process holds a lock that conflicts with this operation."""

    exit_code = EXIT_REPOSITORY_LOCKED
    default_hint = "wait for it to finish; if that process is gone, run 'resguardo unlock'"


class LockLost(RepositoryLocked):
    """This process's own lock went stale or was removed, so its work must not be committed."""

    default_hint = "run the command again"


class WrongPassphrase(ResguardoError):
    """No key slot of the repository opens with the given passphrase."""

    exit_code = EXIT_WRONG_PASSPHRASE
    default_hint = "check RESGUARDO_PASSWORD or --password-file"


class SnapshotNotFound(ResguardoError):
    """No snapshot matches the given ID, prefix or name."""

    default_hint = "list the snapshots with 'resguardo snapshots'"


class IntegrityError(ResguardoError):
    """Stored data failed authentication, or does not have the expected shape."""

    default_hint = "run 'resguardo check --read-data' to find every damaged object"


class StorageError(ResguardoError):
    """The storage backend failed: disk full, permission denied, I/O error."""


class ObjectNotFound(StorageError):
    """A named object does not exist in storage."""


class ObjectRetained(StorageError):
    """An object could not be removed: Object Lock keeps it until ``retained_until`` (None if unknown).

    Args:
        message: one line saying what went wrong.
        hint: one line saying what to do about it.
        retained_until: when the retention ends, if the storage said.
    """

    default_hint = "it can be removed once its retention has passed"

    def __init__(
        self, message: str, hint: str | None = None, *, retained_until: datetime | None = None
    ) -> None:
        super().__init__(message, hint)
        self.retained_until = retained_until


class SourceError(ResguardoError):
    """A source given to backup cannot be read at all."""


class TargetError(ResguardoError):
    """A restore target cannot be created or written."""


class NotFound(ResguardoError):
    """No record of the catalog (client, repository, job, run, user ...) has the given name or ID."""

    default_hint = "list what exists, and check the name or ID"


class Conflict(ResguardoError):
    """A change to the catalog clashes with what is there: a name already taken, a run no longer running."""

    default_hint = "choose another name, or change the record that is there"


class AccessDenied(ResguardoError):
    """The server refused the request: the API token is not valid (any more), or the caller's roles do
    not allow it."""

    default_hint = "log in again with 'resguardo login', or ask an administrator for a role that allows it"


class SecretKeyError(ResguardoError):
    """The key that seals the catalog's secrets is missing, malformed, or not the one that sealed them."""

    default_hint = (
        "set RESGUARDO_SECRET_KEY, or restore the key file 'catalog.key' of the data directory "
        "that sealed these secrets"
    )


class DeliveryError(ResguardoError):
    """An e-mail could not be handed to the SMTP server: unreachable, TLS refused, login refused, or the
    message refused; the message gives the server's answer and the hint what to change."""
