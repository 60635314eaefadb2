"""The Storage contract: one suite run against every backend (see ``STORAGES`` in conftest.py).

The memory and faulty fakes are held to the same rules as the local directory and the SFTP server.
"""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, Storage
from resguardo.core.errors import ObjectNotFound


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
