"""Tests of the repository: creating and opening it, storing blobs in packs and indexes, snapshots."""

from __future__ import annotations

import os
import threading
from collections import Counter
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, MemoryStorage
from resguardo.core.errors import (
    ConfigurationError,
    IntegrityError,
    ObjectNotFound,
    RepositoryExists,
    RepositoryNotFound,
    WrongPassphrase,
)
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.config import REPOSITORY_VERSION, RepositoryConfig
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import (
    CONFIG_NAME,
    DATA_PREFIX,
    INDEX_PREFIX,
    SNAPSHOTS_PREFIX,
    Repository,
    pack_id_from_name,
    pack_name,
)

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
MiB = 1024 * 1024
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)


def create(storage: MemoryStorage | LocalStorage, **options: object) -> Repository:
    return Repository.create(storage, b"pass", kdf=FAST_KDF, pack_size=MiB, **options)  # type: ignore[arg-type]


def names(storage: MemoryStorage | LocalStorage, prefix: str) -> list[str]:
    return [stored.name for stored in storage.list(prefix)]


# -- creating and opening ----------------------------------------------------------------------


def test_create_then_open_gives_the_same_keys_and_config(local_storage: LocalStorage) -> None:
    created = create(local_storage, chunker=SMALL_CHUNKS, compression_level=7)
    opened = Repository.open(LocalStorage(local_storage.root), b"pass")
    assert opened.keys.master_secret == created.keys.master_secret
    assert opened.config == created.config
    assert opened.config.chunker == SMALL_CHUNKS
    assert opened.config.compression_level == 7
    assert opened.config.pack_size == MiB
    assert len(names(local_storage, "keys/")) == 1


def test_the_config_is_stored_encrypted(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    stored = memory_storage.load(CONFIG_NAME)
    assert repository.config.id.encode() not in stored
    assert b"pack_size" not in stored


def test_create_refuses_a_location_holding_a_repository(local_storage: LocalStorage) -> None:
    create(local_storage)
    with pytest.raises(RepositoryExists, match="already exists"):
        create(local_storage)


def test_create_refuses_a_non_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "repository").mkdir()
    (tmp_path / "repository" / "notes.txt").write_text("someone's file")
    with pytest.raises(RepositoryExists, match="not empty"):
        create(LocalStorage(tmp_path / "repository"))
    assert sorted(os.listdir(tmp_path / "repository")) == ["notes.txt"]


def test_create_accepts_an_existing_empty_directory(tmp_path: Path) -> None:
    (tmp_path / "repository").mkdir()
    create(LocalStorage(tmp_path / "repository"))
    assert (tmp_path / "repository" / CONFIG_NAME).is_file()


def test_open_of_a_directory_without_config_raises_repository_not_found(tmp_path: Path) -> None:
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "file").write_text("x")
    with pytest.raises(RepositoryNotFound, match="no repository") as raised:
        Repository.open(LocalStorage(tmp_path / "elsewhere"), b"pass")
    assert raised.value.exit_code == 10
    with pytest.raises(RepositoryNotFound):
        Repository.open(LocalStorage(tmp_path / "missing"), b"pass")


def test_open_with_a_wrong_passphrase_raises(memory_storage: MemoryStorage) -> None:
    create(memory_storage)
    with pytest.raises(WrongPassphrase):
        Repository.open(memory_storage, b"wrong")


def test_open_of_a_damaged_config_raises_integrity_error(memory_storage: MemoryStorage) -> None:
    create(memory_storage)
    memory_storage.corrupt(CONFIG_NAME, 30)
    with pytest.raises(IntegrityError):
        Repository.open(memory_storage, b"pass")


def test_out_of_range_settings_are_refused(memory_storage: MemoryStorage) -> None:
    with pytest.raises(ConfigurationError, match="pack size"):
        Repository.create(memory_storage, b"pass", kdf=FAST_KDF, pack_size=MiB - 1)
    with pytest.raises(ConfigurationError, match="compression level"):
        Repository.create(memory_storage, b"pass", kdf=FAST_KDF, compression_level=20)


def test_a_config_of_a_newer_version_is_refused() -> None:
    newer = f'"version": {REPOSITORY_VERSION + 1}'.encode()
    document = RepositoryConfig(id="x", created="now").to_bytes().replace(b'"version": 1', newer)
    with pytest.raises(IntegrityError, match="newer"):
        RepositoryConfig.from_bytes(document)
    assert RepositoryConfig.from_bytes(RepositoryConfig(id="x", created="now").to_bytes()).id == "x"


# -- blobs -------------------------------------------------------------------------------------


def test_a_saved_blob_loads_back_after_flush_and_reopen(local_storage: LocalStorage) -> None:
    repository = create(local_storage)
    data = b"some file content " * 1000
    blob_id, added = repository.save_blob(BlobType.DATA, data)
    assert blob_id == repository.keys.blob_id(data)
    assert 0 < added < len(data)  # compressed
    assert repository.has_blob(blob_id)
    repository.flush()
    assert repository.load_blob(blob_id) == data
    reopened = Repository.open(LocalStorage(local_storage.root), b"pass")
    assert reopened.load_blob(blob_id) == data
    location = reopened.lookup(blob_id)
    assert location.type == BlobType.DATA
    assert location.raw_length == len(data)


def test_a_duplicate_blob_adds_nothing(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    first = repository.save_blob(BlobType.DATA, b"twice")
    second = repository.save_blob(BlobType.DATA, b"twice")
    assert first[0] == second[0]
    assert first[1] > 0
    assert second[1] == 0
    repository.flush()
    assert repository.save_blob(BlobType.DATA, b"twice")[1] == 0
    assert len(repository.index) == 1


def test_nothing_is_written_before_flush_until_a_pack_is_full(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    repository.save_blob(BlobType.DATA, os.urandom(1000))
    assert names(memory_storage, DATA_PREFIX) == []
    repository.flush()
    assert len(names(memory_storage, DATA_PREFIX)) == 1
    assert len(names(memory_storage, INDEX_PREFIX)) == 1
    repository.flush()
    assert len(names(memory_storage, INDEX_PREFIX)) == 1  # nothing new: no empty index file


def test_a_full_pack_is_written_at_once_and_indexed_at_flush(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    for _ in range(3):
        repository.save_blob(BlobType.DATA, os.urandom(400 * 1024))
    packs = names(memory_storage, DATA_PREFIX)
    assert len(packs) == 1
    assert memory_storage.size(packs[0]) >= MiB
    assert names(memory_storage, INDEX_PREFIX) == []
    repository.flush()
    assert len(names(memory_storage, INDEX_PREFIX)) == 1


def test_data_and_tree_blobs_go_to_separate_packs(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    data_id, _ = repository.save_blob(BlobType.DATA, b"data")
    tree_id, _ = repository.save_blob(BlobType.TREE, b"tree")
    repository.flush()
    assert repository.lookup(data_id).pack_id != repository.lookup(tree_id).pack_id
    assert repository.lookup(tree_id).type == BlobType.TREE


def test_pack_names_encode_the_pack_id(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    repository.save_blob(BlobType.DATA, b"x")
    repository.flush()
    (name,) = names(memory_storage, DATA_PREFIX)
    pack_id = pack_id_from_name(name)
    assert pack_id is not None
    assert name == pack_name(pack_id) == f"data/{pack_id.hex()[:2]}/{pack_id.hex()}"
    assert pack_id_from_name("data/zz/" + "z" * 64) is None
    wrong_directory = "ff" if not pack_id.hex().startswith("ff") else "00"
    assert pack_id_from_name(f"data/{wrong_directory}/{pack_id.hex()}") is None
    assert pack_id_from_name(f"data/{pack_id.hex()[:2]}/.tmp-{pack_id.hex()}.1234") is None


def test_blobs_saved_from_many_threads_are_stored_once(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    contents = [os.urandom(20_000) for _ in range(40)]
    results: list[tuple[bytes, int]] = []
    results_lock = threading.Lock()
    start = threading.Barrier(8)

    def worker(seed: int) -> None:
        start.wait()
        for number in range(len(contents)):
            result = repository.save_blob(BlobType.DATA, contents[(number + seed) % len(contents)])
            with results_lock:
                results.append(result)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    repository.flush()
    added_per_blob = Counter(blob_id for blob_id, added in results if added)
    assert len(added_per_blob) == len(contents)
    assert set(added_per_blob.values()) == {1}
    stored_blobs = Counter(
        entry.id
        for name in names(memory_storage, DATA_PREFIX)
        for entry in repository.load_pack_entries(pack_id_from_name(name) or b"")
    )
    assert set(stored_blobs.values()) == {1}
    assert len(stored_blobs) == len(contents)
    for content in contents:
        assert repository.load_blob(repository.keys.blob_id(content)) == content


def test_loading_an_unknown_blob_raises_integrity_error(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    with pytest.raises(IntegrityError, match="not in the index"):
        repository.load_blob(b"\0" * 32)


def test_a_damaged_blob_is_detected_on_load(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    blob_id, _ = repository.save_blob(BlobType.DATA, b"precious" * 100)
    repository.flush()
    location = repository.lookup(blob_id)
    memory_storage.corrupt(pack_name(location.pack_id), location.offset + 20)
    with pytest.raises(IntegrityError, match="damaged"):
        repository.load_blob(blob_id)


def test_a_missing_pack_raises_object_not_found(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    blob_id, _ = repository.save_blob(BlobType.DATA, b"gone")
    repository.flush()
    memory_storage.remove(pack_name(repository.lookup(blob_id).pack_id))
    with pytest.raises(ObjectNotFound):
        repository.load_blob(blob_id)


def test_a_damaged_index_file_is_named_and_its_packs_stay_readable(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    blob_id, _ = repository.save_blob(BlobType.DATA, b"x")
    repository.flush()
    (index_name,) = names(memory_storage, INDEX_PREFIX)
    memory_storage.corrupt(index_name, 50)
    reopened = Repository.open(memory_storage, b"pass")
    assert reopened.damaged_index_names == [index_name]
    assert reopened.load_blob(blob_id) == b"x"


def test_a_damaged_only_key_slot_is_reported_as_damage_not_as_a_wrong_passphrase(
    memory_storage: MemoryStorage,
) -> None:
    create(memory_storage)
    (key_name,) = names(memory_storage, "keys/")
    memory_storage.corrupt(key_name, memory_storage.size(key_name) - 12)  # inside the wrapped secret
    with pytest.raises(IntegrityError, match="damaged"):
        Repository.open(memory_storage, b"pass")


# -- packs left without an index ---------------------------------------------------------------


def test_packs_without_index_are_adopted_and_indexed_at_the_next_flush(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    contents = [os.urandom(400 * 1024) for _ in range(4)]
    for content in contents:
        repository.save_blob(BlobType.DATA, content)
    # The process dies here: one full pack (three blobs) is stored, no index lists it; the fourth
    # blob was only in memory.
    (pack,) = names(memory_storage, DATA_PREFIX)
    survivor = Repository.open(memory_storage, b"pass")
    assert len(survivor.index) == 0
    assert survivor.adopt_unindexed_packs() == []
    adopted_ids = {
        blob_id for blob_id, location in survivor.index.blobs() if pack_name(location.pack_id) == pack
    }
    assert adopted_ids == {survivor.keys.blob_id(content) for content in contents[:3]}
    for content in contents[:3]:
        assert survivor.save_blob(BlobType.DATA, content)[1] == 0
        assert survivor.load_blob(survivor.keys.blob_id(content)) == content
    assert survivor.save_blob(BlobType.DATA, contents[3])[1] > 0
    assert names(memory_storage, INDEX_PREFIX) == []
    survivor.flush()
    assert len(names(memory_storage, INDEX_PREFIX)) == 1
    assert Repository.open(memory_storage, b"pass").index.has_pack(pack_id_from_name(pack) or b"")
    assert survivor.adopt_unindexed_packs() == []


def test_adopting_skips_damaged_packs_and_foreign_files(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    repository.save_blob(BlobType.DATA, b"kept")
    repository.flush()
    other = create(MemoryStorage())
    other.save_blob(BlobType.DATA, os.urandom(MiB))
    (foreign,) = names(other.storage, DATA_PREFIX)
    memory_storage.save(foreign, other.storage.load(foreign))  # a pack this repository cannot read
    memory_storage.save("data/readme.txt", b"not a pack")
    assert repository.adopt_unindexed_packs() == [foreign]
    assert len(repository.index) == 1


# -- snapshot documents ------------------------------------------------------------------------


def test_a_snapshot_document_round_trips_and_its_id_names_its_file(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    snapshot_id = repository.save_snapshot_document(b"document bytes")
    assert repository.snapshot_ids() == [snapshot_id]
    assert names(memory_storage, SNAPSHOTS_PREFIX) == [SNAPSHOTS_PREFIX + snapshot_id]
    assert repository.load_snapshot_document(snapshot_id) == b"document bytes"
    assert b"document bytes" not in memory_storage.load(SNAPSHOTS_PREFIX + snapshot_id)


def test_a_damaged_snapshot_file_is_detected(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    snapshot_id = repository.save_snapshot_document(b"document bytes")
    memory_storage.corrupt(SNAPSHOTS_PREFIX + snapshot_id, 17)
    with pytest.raises(IntegrityError, match="does not match"):
        repository.load_snapshot_document(snapshot_id)
    with pytest.raises(ObjectNotFound):
        repository.load_snapshot_document("00" * 32)


def test_opening_without_the_index_still_lists_snapshots(memory_storage: MemoryStorage) -> None:
    repository = create(memory_storage)
    repository.save_blob(BlobType.DATA, b"content")
    repository.flush()
    snapshot_id = repository.save_snapshot_document(b"document")
    light = Repository.open(memory_storage, b"pass", with_index=False)
    assert len(light.index) == 0
    assert light.snapshot_ids() == [snapshot_id]
    assert len(Repository.open(memory_storage, b"pass").index) == 1
