"""Tests of the compact in-memory index (sorted blob tables, overlay, removal) and of its local cache file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resguardo.backends.memory import MemoryStorage
from resguardo.core.errors import IntegrityError
from resguardo.engine import index as index_module
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.index import BlobLocation, Index, PackRecord
from resguardo.engine.indexcache import index_cache_path, read_index_cache, write_index_cache
from resguardo.engine.pack import BlobEntry
from resguardo.engine.repository import INDEX_PREFIX, Repository

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)


def blob_id(number: int, prefix: bytes = b"") -> bytes:
    """A 32-byte ID; IDs with the same ``prefix`` share their first bytes (and so their sort key)."""
    return (prefix + number.to_bytes(4, "big") * 8)[:32]


def pack(number: int, ids: list[bytes], blob_type: int = 0) -> PackRecord:
    entries = [
        BlobEntry(blob_type, blob, 100 * position, 90 + position, 200, 1) for position, blob in enumerate(ids)
    ]
    return PackRecord(bytes([number]) * 32, 1000 + number, entries)


@pytest.fixture
def small_overlay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(index_module, "OVERLAY_LIMIT", 3)


def test_lookup_compares_the_whole_id_not_only_its_first_bytes(small_overlay: None) -> None:
    shared = b"\x07" * 8
    present = [blob_id(number, shared) for number in range(5)]
    absent = blob_id(99, shared)
    for build in ("overlay and tables", "bulk"):
        index = Index()
        if build == "bulk":
            index.add_packs([pack(1, present)])
        else:
            index.add_pack(pack(1, present))
        assert all(blob in index for blob in present), build
        assert absent not in index
        assert index.lookup(absent) is None
        assert index.contains_many([*present, absent] * 8) == ([True] * 5 + [False]) * 8
        assert index.lookup(present[3]) == BlobLocation(bytes([1]) * 32, 0, 300, 93, 200, 1)


def test_a_blob_in_two_packs_keeps_its_first_location(small_overlay: None) -> None:
    shared = blob_id(1)
    for bulk in (False, True):
        index = Index()
        records = [pack(1, [shared, blob_id(2)]), pack(2, [blob_id(3), shared])]
        if bulk:
            index.add_packs(records)
        else:
            for record in records:
                index.add_pack(record)
        location = index.lookup(shared)
        assert location is not None and location.pack_id == bytes([1]) * 32
        assert len(index) == 3


def test_blobs_added_after_a_bulk_load_are_found_after_the_overlay_becomes_a_table(
    small_overlay: None,
) -> None:
    index = Index()
    index.add_packs([pack(1, [blob_id(number) for number in range(100)])])
    for number in range(2, 12):
        index.add_pack(pack(number, [blob_id(1000 * number + offset) for offset in range(2)]))
    assert len(index) == 120
    assert all(blob_id(1000 * number + 1) in index for number in range(2, 12))
    assert len(index._tables) <= 4  # merged as they grow: lookups stay cheap
    assert blob_id(99) in index and blob_id(5002) not in index


def test_removing_a_pack_locates_its_blobs_in_another_pack_or_forgets_them(small_overlay: None) -> None:
    shared, only_first = blob_id(1), blob_id(2)
    for bulk in (False, True):
        index = Index()
        records = [pack(1, [shared, only_first]), pack(2, [shared, blob_id(3)]), pack(3, [blob_id(4)])]
        if bulk:
            index.add_packs(records)
        else:
            for record in records:
                index.add_pack(record)
        index.remove_packs([bytes([1]) * 32, b"unknown" * 4])
        location = index.lookup(shared)
        assert location is not None and location.pack_id == bytes([2]) * 32
        assert only_first not in index
        assert len(index) == 3
        assert not index.has_pack(bytes([1]) * 32)
        assert set(index.packs()) == {bytes([2]) * 32, bytes([3]) * 32}
        assert {blob for blob, _location in index.blobs()} == {shared, blob_id(3), blob_id(4)}


def test_blobs_and_packs_list_every_indexed_blob_and_pack(small_overlay: None) -> None:
    index = Index()
    index.add_packs([pack(1, [blob_id(1), blob_id(2)])])
    index.add_pack(pack(2, [blob_id(3)], blob_type=1))
    index.add_pack(pack(3, [blob_id(4), blob_id(5), blob_id(6)]))
    listed = dict(index.blobs())
    assert set(listed) == {blob_id(number) for number in range(1, 7)}
    assert listed[blob_id(3)] == BlobLocation(bytes([2]) * 32, 1, 0, 90, 200, 1)
    assert index.packs() == {bytes([number]) * 32: 1000 + number for number in (1, 2, 3)}


def test_a_blob_entry_beyond_four_gibibytes_is_rejected() -> None:
    with pytest.raises(IntegrityError):
        BlobEntry.from_list([0, blob_id(1), 2**32, 10, 10, 1])


@settings(max_examples=60)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("add"), st.integers(0, 5), st.lists(st.integers(0, 40), max_size=8)),
            st.tuples(st.just("bulk"), st.integers(0, 5), st.lists(st.integers(0, 40), max_size=8)),
            st.tuples(st.just("remove"), st.integers(0, 5), st.just([])),
        ),
        max_size=25,
    )
)
def test_the_index_behaves_like_a_dictionary_of_first_locations(
    operations: list[tuple[str, int, list[int]]],
) -> None:
    original = index_module.OVERLAY_LIMIT
    index_module.OVERLAY_LIMIT = 4
    try:
        index = Index()
        history: list[tuple[int, bytes, BlobLocation]] = []  # (pack number, blob, location), in order added
        removed: set[int] = set()
        known: set[int] = set()
        for kind, pack_number, numbers in operations:
            # IDs 0-40 share their first 8 bytes in groups of 10, so that sort keys collide.
            ids = [blob_id(number, bytes([number // 10]) * 8) for number in numbers]
            record = pack(pack_number, ids)
            if kind == "remove":
                index.remove_packs([record.id])
                if pack_number in known:
                    removed.add(pack_number)
                    known.discard(pack_number)
                continue
            if pack_number in removed:
                continue  # a removed pack is gone for good: prune deleted it
            if kind == "add":
                index.add_pack(record)
            else:
                index.add_packs([record])
            known.add(pack_number)
            history.extend(
                (pack_number, entry.id, BlobLocation(record.id, *entry[:1], *entry[2:]))
                for entry in record.blobs
            )
        model: dict[bytes, BlobLocation] = {}
        for pack_number, blob, location in history:
            if pack_number not in removed:
                model.setdefault(blob, location)
        assert len(index) == len(model)
        assert dict(index.blobs()) == model
        for number in range(41):
            blob = blob_id(number, bytes([number // 10]) * 8)
            assert index.lookup(blob) == model.get(blob)
    finally:
        index_module.OVERLAY_LIMIT = original


# -- the cache file ------------------------------------------------------------------------------


def test_the_cache_file_round_trips_the_index_and_is_private(tmp_path: Path, small_overlay: None) -> None:
    index = Index()
    index.add_packs([pack(1, [blob_id(number) for number in range(50)]), pack(2, [blob_id(3)])])
    index.add_pack(pack(3, [blob_id(100), blob_id(101), blob_id(102), blob_id(103)]))
    path = str(tmp_path / "repo" / "index.cache")
    assert write_index_cache(path, ["index/b", "index/a"], index)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    cached = read_index_cache(path)
    assert cached is not None
    assert cached.names == {"index/a", "index/b"}
    assert dict(cached.index.blobs()) == dict(index.blobs())
    assert cached.index.packs() == index.packs()
    cached.index.remove_packs([bytes([1]) * 32])  # the later location, kept in the file, takes over
    location = cached.index.lookup(blob_id(3))
    assert location is not None and location.pack_id == bytes([2]) * 32


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_damaged_cache_file_is_ignored(tmp_path: Path, damage: str) -> None:
    index = Index()
    index.add_packs([pack(1, [blob_id(number) for number in range(20)])])
    path = tmp_path / "index.cache"
    assert write_index_cache(str(path), ["index/a"], index)
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 1
    elif damage == "truncate":
        del data[-100:]
    else:
        data = bytearray(b"not a cache file at all")
    path.write_bytes(bytes(data))
    assert read_index_cache(str(path)) is None


# -- loading through the repository ---------------------------------------------------------------


class CountingStorage(MemoryStorage):
    """Memory storage that counts loads of index files."""

    index_loads = 0

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if name.startswith(INDEX_PREFIX):
            self.index_loads += 1
        return super().load(name, offset, length)


def repository_with_blobs(storage: MemoryStorage, count: int) -> Repository:
    repository = Repository.create(storage, b"secret", kdf=FAST_KDF, pack_size=1024 * 1024)
    for number in range(count):
        repository.save_blob(0, f"blob {number}".encode())
    repository.flush()
    return repository


def test_a_second_open_maps_the_cache_and_decodes_only_new_index_files(tmp_path: Path) -> None:
    storage = CountingStorage()
    repository_with_blobs(storage, 300)
    cache = str(tmp_path / "cache")
    first = Repository.open(storage, b"secret", cache_directory=cache)
    assert storage.index_loads == 1 and len(first.index) == 300
    first.save_blob(0, b"a new blob")
    first.flush()
    storage.index_loads = 0
    second = Repository.open(storage, b"secret", cache_directory=cache)
    assert storage.index_loads == 1  # only the index file written since
    assert len(second.index) == 301 and second.keys.blob_id(b"a new blob") in second.index
    assert dict(second.index.blobs()) == dict(Repository.open(storage, b"secret").index.blobs())


def test_a_cache_covering_a_removed_index_file_is_rebuilt(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository = repository_with_blobs(storage, 10)
    first_names = list(repository.index_names)
    for number in range(5):
        repository.save_blob(0, f"later blob {number}".encode())
    repository.flush()
    cache = str(tmp_path / "cache")
    assert len(Repository.open(storage, b"secret", cache_directory=cache).index) == 15
    for name in first_names:
        storage.remove(name)  # as a prune that rewrote the index would
    reopened = Repository.open(storage, b"secret", cache_directory=cache)
    assert len(reopened.index) == 5
    assert repository.keys.blob_id(b"blob 1") not in reopened.index
    cached = read_index_cache(index_cache_path(cache, repository.config.id))
    assert cached is not None and cached.names == frozenset(reopened.index_names)


def test_a_damaged_cache_is_rebuilt_on_open(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository = repository_with_blobs(storage, 30)
    cache = str(tmp_path / "cache")
    Repository.open(storage, b"secret", cache_directory=cache)
    path = Path(index_cache_path(cache, repository.config.id))
    path.write_bytes(path.read_bytes()[:-1] + b"x")
    reopened = Repository.open(storage, b"secret", cache_directory=cache)
    assert dict(reopened.index.blobs()) == dict(repository.index.blobs())
    assert read_index_cache(str(path)) is not None


def test_loading_can_leave_out_packs(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository = Repository.create(storage, b"secret", kdf=FAST_KDF)
    first = repository.keys.blob_id(b"in both packs")
    pack_one = pack(1, [first, blob_id(1)])
    pack_two = pack(2, [first, blob_id(2)])
    pack_one = PackRecord(pack_one.id, pack_one.size, pack_one.blobs)
    repository.add_written_pack(pack_one)
    repository.add_written_pack(pack_two)
    repository.flush()
    for cache in (None, str(tmp_path / "cache"), str(tmp_path / "cache")):
        repository.cache_directory = cache
        repository.load_index(exclude_packs=[pack_one.id])
        location = repository.index.lookup(first)
        assert location is not None and location.pack_id == pack_two.id  # found where it stays
        only_there = repository.index.lookup(blob_id(1))
        assert only_there is not None and only_there.pack_id == pack_one.id  # still readable
        assert not repository.has_usable_blob(blob_id(1))  # but a writer stores it again
        assert repository.has_usable_blob(first)
