"""Object Lock: handing the repository's retention setting to a storage that can keep objects locked."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from resguardo.backends.base import Storage
from resguardo.core.errors import ConfigurationError
from resguardo.engine.config import RepositoryConfig


@runtime_checkable
class LockingStorage(Protocol):
    """The optional capability of a storage (S3) that can retain the objects it writes."""

    def enable_object_lock(self, mode: str, days: int, *, verify: bool = True) -> None:
        """Give every object written from now on, lock files excepted, a retention of ``days`` days."""
        ...


def apply_object_lock(storage: Storage, config: RepositoryConfig, *, creating: bool) -> None:
    """Make ``storage`` retain what it writes as the repository's config asks (nothing if it asks nothing).

    Args:
        storage: the repository's storage.
        config: the repository's settings.
        creating: the repository is being created: refuse a storage that cannot lock objects, and
            have the storage check that its bucket can. An existing repository opened from a copy
            on another storage (a local mirror, say) is used without retention.

    Raises:
        ConfigurationError: creating a repository with Object Lock on a storage or bucket without it.
        StorageError: the storage could not tell whether its bucket can lock objects.
    """
    if not config.object_lock_days:
        return
    if isinstance(storage, LockingStorage):
        storage.enable_object_lock(config.object_lock_mode, config.object_lock_days, verify=creating)
    elif creating:
        raise ConfigurationError(
            f"{storage.location} cannot keep objects under Object Lock",
            "use an s3:// repository in a bucket with Object Lock enabled, "
            "or init without --object-lock-days",
        )
