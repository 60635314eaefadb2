"""The Storage contract, run against every in-process backend, and the fault injection of FaultyStorage.

The contract suite is parametrized over MemoryStorage, LocalStorage, a FaultyStorage that injects
nothing and an S3Storage on moto's S3 server, so the fake is held to the same rules as the real thing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, MemoryStorage, Storage
from resguardo.backends.faulty import FaultyStorage, InjectedCrash, never
from resguardo.core.errors import ObjectNotFound, StorageError

BACKENDS: dict[str, Callable[[Path], Storage]] = {
    "memory": lambda _tmp_path: MemoryStorage(),
    "local": lambda tmp_path: LocalStorage(tmp_path / "repository", durable=False),
    "faulty": lambda _tmp_path: FaultyStorage(MemoryStorage(), fail_on=never),
}


@pytest.fixture(params=[*sorted(BACKENDS), "s3"])
def storage(request: pytest.FixtureRequest, tmp_path: Path) -> Storage:
    if request.param == "s3":  # on the moto server: see tests/s3_server.py
        return request.getfixturevalue("s3_storage")  # type: ignore[no-any-return]
    return BACKENDS[request.param](tmp_path)


def names(storage: Storage, prefix: str = "") -> set[str]:
    return {stored.name for stored in storage.list(prefix)}


# -- the contract ---------------------------------------------------------------------------------


def test_saved_object_loads_back_whole(storage: Storage) -> None:
    storage.save("data/ab/abcdef", b"hello world")
    assert storage.load("data/ab/abcdef") == b"hello world"


def test_memoryview_and_empty_objects_are_saved(storage: Storage) -> None:
    storage.save("keys/one", memoryview(b"from a view"))
    storage.save("keys/empty", b"")
    assert storage.load("keys/one") == b"from a view"
    assert storage.load("keys/empty") == b""
    assert storage.size("keys/empty") == 0


def test_ranges_are_read_from_offset(storage: Storage) -> None:
    storage.save("config", bytes(range(100)))
    assert storage.load("config", 10, 5) == bytes(range(10, 15))
    assert storage.load("config", 95) == bytes(range(95, 100))
    assert storage.load("config", 0, 0) == b""


def test_a_range_past_the_end_is_cut_short(storage: Storage) -> None:
    storage.save("config", b"0123456789")
    assert storage.load("config", 8, 100) == b"89"


def test_size_and_exists(storage: Storage) -> None:
    storage.save("index/aa", b"x" * 1234)
    assert storage.size("index/aa") == 1234
    assert storage.exists("index/aa")
    assert not storage.exists("index/bb")


def test_missing_objects_raise_object_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFound):
        storage.load("snapshots/missing")
    with pytest.raises(ObjectNotFound):
        storage.load("snapshots/missing", 0, 10)
    with pytest.raises(ObjectNotFound):
        storage.size("snapshots/missing")


def test_list_yields_names_and_sizes_under_a_prefix(storage: Storage) -> None:
    storage.save("data/ab/ab01", b"12")
    storage.save("data/cd/cd02", b"345")
    storage.save("index/ef03", b"6")
    storage.save("config", b"7890")
    listed = {stored.name: stored.size for stored in storage.list("data/")}
    assert listed == {"data/ab/ab01": 2, "data/cd/cd02": 3}
    assert names(storage, "index/") == {"index/ef03"}
    assert names(storage, "snapshots/") == set()
    assert names(storage) == {"data/ab/ab01", "data/cd/cd02", "index/ef03", "config"}


def test_remove_deletes_and_tolerates_missing_objects(storage: Storage) -> None:
    storage.save("locks/one", b"lock")
    storage.remove("locks/one")
    storage.remove("locks/never-saved")
    assert not storage.exists("locks/one")
    assert names(storage, "locks/") == set()


def test_save_replaces_an_existing_object(storage: Storage) -> None:
    storage.save("config", b"first version, longer")
    storage.save("config", b"second")
    assert storage.load("config") == b"second"
    assert storage.size("config") == 6
    assert names(storage) == {"config"}


def test_no_temporary_object_is_ever_listed(storage: Storage) -> None:
    for number in range(20):
        storage.save(f"data/{number:02x}/{number:064x}", bytes(number * 100))
    assert names(storage) == {f"data/{number:02x}/{number:064x}" for number in range(20)}


def test_readers_see_a_whole_old_or_a_whole_new_object(storage: Storage) -> None:
    old, new = b"a" * 300_000, b"b" * 400_000
    storage.save("config", old)
    seen: set[bytes] = set()
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            seen.add(storage.load("config"))
            assert names(storage) == {"config"}

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for _ in range(30):
            storage.save("config", new)
            storage.save("config", old)
    finally:
        stop.set()
        reader.join()
    assert seen <= {old, new}


def test_local_storage_hides_leftover_temporary_files(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "repository", durable=False)
    storage.save("data/ab/ab01", b"pack")
    (tmp_path / "repository" / "data" / "ab" / ".tmp-ab02.1234abcd").write_bytes(b"half a pack")
    assert names(storage) == {"data/ab/ab01"}


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
