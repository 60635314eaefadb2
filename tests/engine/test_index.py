"""Tests of the compact in-memory index (sorted blob tables, overlay, removal) and of its local cache file."""

from __future__ import annotations

import mmap
import os
import random
import stat
import tempfile
import tracemalloc
from pathlib import Path
from typing import Any

import msgpack
import numpy as np
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st

from resguardo.backends.memory import MemoryStorage
from resguardo.core.errors import IntegrityError
from resguardo.engine import index as index_module
from resguardo.engine import indexcache, indexload, indexspool
from resguardo.engine.blobtable import COLUMNS, join_ids
from resguardo.engine.crypto import KdfParameters, RepositoryKeys, plain_id
from resguardo.engine.index import BlobLocation, Index, PackRecord, decode_index_file, encode_index_file
from resguardo.engine.indexcache import index_cache_path, read_index_cache, write_index_cache
from resguardo.engine.indexdecode import IndexFileColumns, decode_index_columns
from resguardo.engine.indexload import IndexLoader
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


# -- decoding index files into columns, and loading them through the spool --------------------------


def id_pool() -> list[bytes]:
    """300 IDs; one in three shares its first 8 bytes (its sort key) with others of its group of seven."""
    return [blob_id(number, bytes([number % 7]) * 8 if number % 3 == 0 else b"") for number in range(300)]


def random_index_files(seed: int, files: int) -> list[list[PackRecord]]:
    """Index files whose packs share blobs, with packs listed in two files and IDs whose keys collide."""
    generator = random.Random(seed)
    pool = id_pool()
    listed = []
    for _file in range(files):
        packs = []
        for _pack in range(generator.randint(0, 4)):
            ids = generator.sample(pool, generator.randint(0, 30))
            entries = [
                BlobEntry(generator.randint(0, 1), blob, generator.randint(0, 2**32 - 1), 90, 200, 1)
                for blob in ids
            ]
            pack_id = bytes([generator.randint(0, 50)]) * 32
            packs.append(PackRecord(pack_id, generator.randint(0, 10**9), entries))
        listed.append(packs)
    return listed


def first_locations(
    files: list[list[PackRecord]], removed: frozenset[bytes] = frozenset()
) -> tuple[dict[bytes, BlobLocation], dict[bytes, int]]:
    """The model of an index: each blob's first location and each pack's last size, files in order."""
    locations: dict[bytes, BlobLocation] = {}
    sizes: dict[bytes, int] = {}
    for packs in files:
        for record in packs:
            if record.id in removed:
                continue
            sizes[record.id] = record.size
            for entry in record.blobs:
                locations.setdefault(entry.id, BlobLocation(record.id, entry[0], *entry[2:]))
    return locations, sizes


def store_index_files(repository: Repository, files: list[list[PackRecord]]) -> list[list[PackRecord]]:
    """Write the files to the repository; return them in the order the repository lists (and loads) them."""
    by_name = {}
    for packs in files:
        data = encode_index_file(repository.keys, packs)
        name = INDEX_PREFIX + plain_id(data).hex()
        repository.storage.save(name, data)
        by_name[name] = packs
    return [by_name[stored.name] for stored in repository.storage.list(INDEX_PREFIX)]


def is_mapped(array: np.ndarray) -> bool:  # type: ignore[type-arg]
    """Whether the array's memory is a mapped file."""
    owner: object = array
    while owner is not None and not isinstance(owner, mmap.mmap):
        owner = owner.obj if isinstance(owner, memoryview) else getattr(owner, "base", None)
    return owner is not None


@pytest.mark.parametrize("seed", [1, 2, 3])
@pytest.mark.parametrize(
    ("cache", "spill_rows"),
    [(False, 10**9), (False, 40), (True, 10**9), (True, 40)],
    ids=["in-memory", "temporary-file", "cache-from-memory", "cache-from-spool-files"],
)
def test_many_index_files_load_like_a_dictionary_of_first_locations(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, seed: int, cache: bool, spill_rows: int
) -> None:
    monkeypatch.setattr(indexspool, "SPILL_ROWS", spill_rows)
    monkeypatch.setattr(indexspool, "SEGMENT_ROWS", 64)  # many segments, and rows picked across them
    monkeypatch.setattr(indexload, "SEGMENT_ROWS", 64)
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temporary))
    storage = MemoryStorage()
    repository = Repository.create(storage, b"secret", kdf=FAST_KDF)
    files = store_index_files(repository, random_index_files(seed, files=40))
    cache_folder = tmp_path / "cache"
    opened = Repository.open(storage, b"secret", cache_directory=str(cache_folder) if cache else None)
    index = opened.index
    locations, sizes = first_locations(files)
    assert len(index) == len(locations)
    assert dict(index.blobs()) == locations
    assert index.packs() == sizes
    every_id = id_pool()
    assert [index.lookup(blob) for blob in every_id] == [locations.get(blob) for blob in every_id]
    assert index.contains_many(every_id) == [blob in locations for blob in every_id]
    spilled = sum(len(record.blobs) for packs in files for record in packs) >= spill_rows
    assert is_mapped(index.tables()[2][0].keys) == (cache or spilled)
    assert list(temporary.iterdir()) == []  # the spool's and the temporary index's files are unlinked
    if cache:
        assert [path.name for path in (cache_folder / repository.config.id).iterdir()] == ["index.cache"]
    # Removing packs hands their blobs to the next pack listing them, in file order.
    removed = frozenset(record.id for packs in files[::3] for record in packs[:1])
    index.remove_packs(removed)
    locations, sizes = first_locations(files, removed)
    assert [index.lookup(blob) for blob in every_id] == [locations.get(blob) for blob in every_id]
    assert len(index) == len(locations) and index.packs() == sizes


def test_without_a_writable_folder_a_large_index_is_loaded_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    not_a_folder = tmp_path / "file"
    not_a_folder.write_bytes(b"")
    monkeypatch.setattr(tempfile, "tempdir", str(not_a_folder / "tmp"))
    loader = IndexLoader([str(not_a_folder / "spool")], spill_rows=10)
    files = random_index_files(4, files=10)
    for packs in files:
        loader.add(columns_of(packs))
    index = loader.finish(None, [])
    assert dict(index.blobs()) == first_locations(files)[0]
    assert not is_mapped(index.tables()[2][0].keys)


def test_an_unwritable_cache_file_leaves_the_index_in_memory(tmp_path: Path) -> None:
    loader = IndexLoader([str(tmp_path)], spill_rows=10)
    files = random_index_files(5, files=10)
    for packs in files:
        loader.add(columns_of(packs))
    (tmp_path / "taken").mkdir()  # a folder where the cache file would go: it cannot be written
    index = loader.finish(str(tmp_path / "taken"), ["index/a"])
    assert dict(index.blobs()) == first_locations(files)[0]


def columns_of(packs: list[PackRecord]) -> IndexFileColumns:
    """The columns of an index file listing ``packs``, as the column decoder returns them."""
    keys = RepositoryKeys.generate()
    return decode_index_columns(keys, "index/x", encode_index_file(keys, packs))


def test_the_spooled_load_holds_about_20_bytes_a_blob_not_every_column(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Small segments, so that what is held per blob shows and not what is held per segment.
    monkeypatch.setattr(indexspool, "SEGMENT_ROWS", 1 << 14)
    monkeypatch.setattr(indexload, "SEGMENT_ROWS", 1 << 14)
    monkeypatch.setattr(indexcache, "READ_SIZE", 1 << 20)
    rows, files = 1 << 20, 8
    generator = np.random.default_rng(7)
    loader = IndexLoader([str(tmp_path)], spill_rows=1000)
    for number in range(files):
        count = rows // files
        columns = {name: np.zeros(count, dtype=dtype) for name, dtype in COLUMNS}
        columns["keys"] = generator.integers(0, 2**64, count, dtype=np.uint64)
        columns["tails"] = generator.bytes(count * 24)
        columns["tails"] = np.frombuffer(columns["tails"], dtype="V24")
        loader.add(IndexFileColumns([bytes([number]) * 32], [1], columns))
        del columns
    tracemalloc.start()
    try:
        index = loader.finish(str(tmp_path / "index.cache"), ["index/a"])
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(index) == rows and is_mapped(index.tables()[2][0].keys)
    # The key column, a 64-bit and a 32-bit order while sorting: 20 bytes a blob, plus a few segments.
    assert peak < 22 * rows, peak / rows


def sample_document() -> dict[str, object]:
    return {
        "version": 1,
        "packs": [
            {
                "id": b"\1" * 32,
                "size": 10,
                "blobs": [[0, blob_id(1), 0, 5, 9, 1], [1, blob_id(2), 5, 5, 5, 9]],
            },
            {"id": b"\2" * 32, "size": 20, "blobs": []},
            {"id": b"\1" * 32, "size": 30, "blobs": [[0, blob_id(3), 2**32 - 1, 0, 0, 255]]},
        ],
        "supersedes": [],
    }


def encrypted(keys: RepositoryKeys, document: object, trailer: bytes = b"") -> bytes:
    return keys.encrypt(zstandard.ZstdCompressor().compress(msgpack.packb(document) + trailer))


@pytest.mark.parametrize("seed", [1, 2])
def test_decoding_into_columns_gives_the_blobs_of_decoding_into_records(seed: int) -> None:
    keys = RepositoryKeys.generate()
    for packs in [*random_index_files(seed, files=5), []]:
        data = encode_index_file(keys, packs)
        decoded = decode_index_columns(keys, "index/x", data)
        records = decode_index_file(keys, "index/x", data)
        assert decoded.pack_ids == [record.id for record in records]
        assert decoded.pack_sizes == [record.size for record in records]
        expected = [(position, *entry) for position, record in enumerate(records) for entry in record.blobs]
        columns = decoded.columns
        ids = join_ids(columns["keys"], columns["tails"])
        numbers = ("offsets", "lengths", "raw_lengths", "compressions")
        rows = [
            (
                columns["packs"][row],
                columns["types"][row],
                ids[32 * row : 32 * row + 32],
                *(columns[name][row] for name in numbers),
            )
            for row in range(len(decoded))
        ]
        assert rows == expected


def test_both_decoders_accept_fields_in_any_order_and_unknown_fields() -> None:
    keys = RepositoryKeys.generate()
    document = sample_document()
    reordered = {"later": {"x": [1, 2]}, "packs": document["packs"], "version": 1}
    for data in (encrypted(keys, document), encrypted(keys, reordered)):
        decoded = decode_index_columns(keys, "index/x", data)
        assert decoded.pack_ids == [b"\1" * 32, b"\2" * 32, b"\1" * 32] and decoded.pack_sizes == [10, 20, 30]
        assert decoded.columns["packs"].tolist() == [0, 0, 2]
        assert decoded.columns["offsets"].tolist() == [0, 5, 2**32 - 1]
        assert len(decode_index_file(keys, "index/x", data)) == 3


def malformed(change: str) -> tuple[object, bytes]:
    """A document damaged in one way (and bytes to append after it)."""
    document: dict[str, Any] = sample_document()
    first = document["packs"][0]
    entry = first["blobs"][0]
    trailer = b""
    if change == "version":
        document["version"] = 2
    elif change == "packs":
        del document["packs"]
    elif change == "no-version":
        del document["version"]
    elif change == "pack-id":
        first["id"] = b"short"
    elif change == "pack-size":
        first["size"] = -1
    elif change == "blobs":
        first["blobs"] = {"not": "a list"}
    elif change == "pack":
        document["packs"][1] = [1, 2]
    elif change == "fields":
        entry.append(7)
    elif change == "entry":
        first["blobs"][1] = "not an entry"
    elif change == "id":
        entry[1] = entry[1][:31]
    elif change == "id-type":
        entry[1] = "a string"
    elif change in ("bool", "float", "negative", "offset", "huge", "type", "compression"):
        position, value = {
            "bool": (0, True),
            "float": (3, 1.5),
            "negative": (2, -1),
            "offset": (2, 2**32),
            "huge": (4, 2**64 - 1),
            "type": (0, 256),
            "compression": (5, 256),
        }[change]
        entry[position] = value
    elif change == "trailing":
        trailer = msgpack.packb(1)
    elif change == "not-a-map":
        return [1, 2, 3], trailer
    return document, trailer


MALFORMED = [
    "version", "packs", "no-version", "pack-id", "pack-size", "blobs", "pack", "fields", "entry", "id",
    "id-type", "bool", "float", "negative", "offset", "huge", "type", "compression", "trailing", "not-a-map",
]  # fmt: skip


@pytest.mark.parametrize("change", MALFORMED)
def test_both_decoders_reject_a_malformed_index_file(change: str) -> None:
    keys = RepositoryKeys.generate()
    document, trailer = malformed(change)
    data = encrypted(keys, document, trailer)
    with pytest.raises(IntegrityError, match="index index/x"):
        decode_index_columns(keys, "index/x", data)
    with pytest.raises(IntegrityError):
        decode_index_file(keys, "index/x", data)


@settings(max_examples=60)
@given(
    st.lists(st.lists(st.integers(0, 40), max_size=8), min_size=1, max_size=8),
    st.sets(st.integers(0, 7)),
    st.booleans(),
)
def test_demoted_packs_locate_only_the_blobs_no_other_pack_holds(
    packs: list[list[int]], condemned_numbers: set[int], bulk: bool
) -> None:
    original = index_module.OVERLAY_LIMIT
    index_module.OVERLAY_LIMIT = 4
    try:
        records = [
            pack(number, [blob_id(blob, bytes([blob // 10]) * 8) for blob in blobs])
            for number, blobs in enumerate(packs)
        ]
        index = Index()
        if bulk:
            index.add_packs(records)
        else:
            for record in records:
                index.add_pack(record)
        condemned = {records[number].id for number in condemned_numbers if number < len(records)}
        index.demote_packs(condemned)

        # The model: a blob's location is its first one in a pack not condemned, else its first one.
        expected: dict[bytes, BlobLocation] = {}
        for record in sorted(records, key=lambda record: record.id in condemned):
            for entry in record.blobs:
                expected.setdefault(entry.id, BlobLocation(record.id, *entry[:1], *entry[2:]))
        assert len(index) == len(expected)
        for blob, location in expected.items():
            assert index.lookup(blob) == location
        kept = {location.pack_id for location in expected.values()}
        for record in records:
            assert index.has_pack(record.id) == (record.id not in condemned or record.id in kept)
    finally:
        index_module.OVERLAY_LIMIT = original
