"""The fault injection of FaultyStorage (its contract is checked with every backend in test_contract.py)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, MemoryStorage, Storage
from resguardo.backends.faulty import FaultyStorage, InjectedCrash
from resguardo.core.errors import StorageError


def names(storage: Storage, prefix: str = "") -> set[str]:
    return {stored.name for stored in storage.list(prefix)}


# -- fault injection -------------------------------------------------------------------------------


def test_fail_on_picks_operations_and_names() -> None:
    inner = MemoryStorage()
    inner.save("data/ab/one", b"pack")
    inner.save("index/one", b"index")
    storage = FaultyStorage(
        inner, fail_on=lambda operation, name: operation == "load" and name.startswith("data/")
    )
    with pytest.raises(StorageError, match="injected"):
        storage.load("data/ab/one")
    assert storage.load("index/one") == b"index"
    assert storage.size("data/ab/one") == 4
    assert storage.failures == 1


def test_a_failed_save_leaves_nothing() -> None:
    inner = MemoryStorage()
    storage = FaultyStorage(inner, fail_on=lambda operation, _name: operation == "save")
    with pytest.raises(StorageError):
        storage.save("config", b"settings")
    assert not inner.exists("config")
    assert storage.saves == 0


def test_the_configured_error_is_raised_fresh_each_time() -> None:
    error = StorageError("disk full", "free some space")
    storage = FaultyStorage(MemoryStorage(), fail_on=lambda _operation, _name: True, error=error)
    raised = []
    for _ in range(2):
        with pytest.raises(StorageError) as caught:
            storage.exists("config")
        raised.append(caught.value)
    assert [str(item) for item in raised] == ["disk full", "disk full"]
    assert raised[0].hint == "free some space"
    assert raised[0] is not raised[1]


@pytest.mark.parametrize("operation", ["list", "remove", "size", "exists"])
def test_every_operation_can_fail(operation: str) -> None:
    inner = MemoryStorage()
    inner.save("keys/one", b"slot")
    storage = FaultyStorage(inner, fail_on=lambda picked, _name: picked == operation)
    calls: dict[str, Callable[[], object]] = {
        "list": lambda: list(storage.list("keys/")),
        "remove": lambda: storage.remove("keys/one"),
        "size": lambda: storage.size("keys/one"),
        "exists": lambda: storage.exists("keys/one"),
    }
    with pytest.raises(StorageError):
        calls[operation]()
    assert inner.exists("keys/one")


def test_corrupting_loads_flip_a_byte_of_the_result_only() -> None:
    inner = MemoryStorage()
    inner.save("snapshots/one", b"\x00" * 10)
    inner.save("snapshots/two", b"\x00" * 10)
    storage = FaultyStorage(inner, corrupt_loads=lambda name: name.endswith("one"), corrupt_position=3)
    assert storage.load("snapshots/one") == b"\x00\x00\x00\xff" + b"\x00" * 6
    assert storage.load("snapshots/one", 2, 2) == b"\x00\xff"  # position 3 of 2 bytes: the second
    assert storage.load("snapshots/two") == b"\x00" * 10
    assert inner.load("snapshots/one") == b"\x00" * 10


def test_crash_after_saves_stops_every_later_save() -> None:
    inner = MemoryStorage()
    storage = FaultyStorage(inner, crash_after_saves=2)
    storage.save("data/00/a", b"1")
    storage.save("data/00/b", b"2")
    assert storage.crashed
    for name in ("data/00/c", "index/d"):
        with pytest.raises(InjectedCrash):
            storage.save(name, b"3")
    assert names(inner) == {"data/00/a", "data/00/b"}
    assert storage.load("data/00/a") == b"1"
    assert storage.saves == 2


def test_crash_after_saves_is_exact_under_concurrent_savers() -> None:
    inner = MemoryStorage()
    storage = FaultyStorage(inner, crash_after_saves=10)
    crashes = []

    def save_many(first: int) -> None:
        for number in range(first, first + 10):
            try:
                storage.save(f"data/00/{number}", b"x")
            except InjectedCrash:
                crashes.append(number)

    threads = [threading.Thread(target=save_many, args=(first,)) for first in (0, 100, 200)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(names(inner)) == 10
    assert len(crashes) == 20


def test_negative_crash_count_is_refused() -> None:
    with pytest.raises(ValueError, match="crash_after_saves"):
        FaultyStorage(MemoryStorage(), crash_after_saves=-1)


def test_location_and_locality_come_from_the_wrapped_storage(tmp_path: Path) -> None:
    inner = LocalStorage(tmp_path)
    storage = FaultyStorage(inner)
    assert storage.location == f"faulty:{tmp_path}"
    assert storage.is_local
    assert not storage.shareable_between_processes
