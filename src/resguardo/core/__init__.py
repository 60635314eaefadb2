"""Domain types and errors shared by every layer; standard library only."""

from resguardo.core.errors import (
    BackupIncomplete,
    ConfigurationError,
    IntegrityError,
    ObjectNotFound,
    RepositoryExists,
    RepositoryLocked,
    RepositoryNotFound,
    ResguardoError,
    SnapshotNotFound,
    SourceError,
    StorageError,
    TargetError,
    UsageError,
    WrongPassphrase,
)

__all__ = [
    "BackupIncomplete",
    "ConfigurationError",
    "IntegrityError",
    "ObjectNotFound",
    "RepositoryExists",
    "RepositoryLocked",
    "RepositoryNotFound",
    "ResguardoError",
    "SnapshotNotFound",
    "SourceError",
    "StorageError",
    "TargetError",
    "UsageError",
    "WrongPassphrase",
]
