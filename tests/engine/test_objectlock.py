"""The Object Lock setting: kept in the config (format version 2) and handed to a storage that can lock."""

from __future__ import annotations

import pytest

from resguardo.backends import MemoryStorage
from resguardo.core.errors import ConfigurationError, IntegrityError
from resguardo.engine.config import BASE_VERSION, OBJECT_LOCK_VERSION, RepositoryConfig
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.repository import Repository

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)


class LockingMemoryStorage(MemoryStorage):
    """A memory storage that records the retention it is asked to apply."""

    def __init__(self) -> None:
        super().__init__()
        self.object_lock: tuple[str, int, bool] | None = None

    def enable_object_lock(self, mode: str, days: int, *, verify: bool = True) -> None:
        self.object_lock = (mode, days, verify)


def test_a_config_without_object_lock_keeps_the_first_format_version() -> None:
    config = RepositoryConfig(id="a" * 32, created="2024-01-01T00:00:00+00:00")
    assert config.version == BASE_VERSION
    assert b"object_lock" not in config.to_bytes()


def test_the_object_lock_setting_round_trips_in_format_version_2() -> None:
    config = RepositoryConfig(
        id="a" * 32, created="2024-01-01T00:00:00+00:00", object_lock_days=30, object_lock_mode="governance"
    )
    assert config.version == OBJECT_LOCK_VERSION
    parsed = RepositoryConfig.from_bytes(config.to_bytes())
    assert (parsed.version, parsed.object_lock_days, parsed.object_lock_mode) == (2, 30, "governance")


@pytest.mark.parametrize(("days", "mode"), [(-1, "compliance"), (5, "forever")])
def test_invalid_object_lock_settings_are_refused(days: int, mode: str) -> None:
    with pytest.raises(ConfigurationError):
        RepositoryConfig(id="a" * 32, created="x", object_lock_days=days, object_lock_mode=mode)


def test_a_config_of_a_later_format_is_refused() -> None:
    document = RepositoryConfig(id="a" * 32, created="x").to_bytes().replace(b'"version": 1', b'"version": 3')
    with pytest.raises(IntegrityError, match="newer than this program"):
        RepositoryConfig.from_bytes(document)


def test_create_and_open_hand_the_retention_to_the_storage() -> None:
    storage = LockingMemoryStorage()
    Repository.create(storage, b"secret", kdf=FAST_KDF, object_lock_days=7)
    assert storage.object_lock == ("compliance", 7, True)
    storage.object_lock = None
    Repository.open(storage, b"secret", with_index=False)
    assert storage.object_lock == ("compliance", 7, False)


def test_object_lock_is_refused_on_a_storage_that_cannot_lock_and_nothing_is_written() -> None:
    storage = MemoryStorage()
    with pytest.raises(ConfigurationError, match="cannot keep objects under Object Lock"):
        Repository.create(storage, b"secret", kdf=FAST_KDF, object_lock_days=7)
    assert list(storage.list("")) == []


def test_a_copy_on_a_storage_that_cannot_lock_still_opens() -> None:
    locking = LockingMemoryStorage()
    Repository.create(locking, b"secret", kdf=FAST_KDF, object_lock_days=7)
    copy = MemoryStorage()
    for stored in locking.list(""):
        copy.save(stored.name, locking.load(stored.name))
    assert Repository.open(copy, b"secret").config.object_lock_days == 7
