"""check(): a healthy repository passes, subsets split the packs, and harmless findings are only warnings.

Damage of every kind of object is covered in test_damage.py.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, MemoryStorage, Storage
from resguardo.backends.faulty import FaultyStorage, InjectedCrash
from resguardo.core.errors import ConfigurationError
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import check, parse_subset
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.events import Event, ItemWarning, Progress
from resguardo.engine.repository import DATA_PREFIX, INDEX_PREFIX, Repository, pack_id_from_name

PASSPHRASE = b"correct horse battery staple"
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
OPTIONS = BackupOptions(workers=2, hostname="test-host")


class RecordingStorage(MemoryStorage):
    """A MemoryStorage that remembers which objects were loaded whole."""

    def __init__(self) -> None:
        super().__init__()
        self.whole_loads: list[str] = []

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        if offset == 0 and length is None:
            self.whole_loads.append(name)
        return super().load(name, offset, length)


def make_source(root: Path, seed: int = 7) -> Path:
    """Write a small tree of incompressible files (about 3 MiB) under ``root``."""
    generator = random.Random(seed)
    for directory in ("alpha", "beta", "beta/deep", "gamma"):
        (root / directory).mkdir(parents=True)
        for number in range(4):
            size = generator.choice([0, 10, 3_000, 90_000, 400_000])
            (root / directory / f"file{number}.bin").write_bytes(generator.randbytes(size))
    return root


def create_repository(storage: Storage) -> Repository:
    return Repository.create(storage, PASSPHRASE, chunker=SMALL_CHUNKS, pack_size=1024 * 1024, kdf=FAST_KDF)


def repository_with_snapshots(storage: Storage, source: Path) -> Repository:
    """Return a repository holding three snapshots of ``source``, which changes between them.

    The backups write through a FaultyStorage that injects nothing: such a storage is not shared
    with worker processes, so the backups of these small trees run on threads in this process.
    The repository returned is opened again on ``storage`` itself.
    """
    repository = create_repository(FaultyStorage(storage))
    backup(repository, [str(source)], OPTIONS)
    (source / "gamma" / "late.bin").write_bytes(random.Random(1).randbytes(700_000))
    backup(repository, [str(source)], OPTIONS)
    (source / "alpha" / "file0.bin").write_bytes(b"changed")
    backup(repository, [str(source)], OPTIONS)
    return Repository.open(storage, PASSPHRASE)


def stored_packs(storage: Storage) -> list[str]:
    return sorted(stored.name for stored in storage.list(DATA_PREFIX))


@pytest.mark.parametrize("read_data", [False, True])
def test_a_clean_repository_passes(tmp_path: Path, read_data: bool) -> None:
    storage = LocalStorage(tmp_path / "repository", durable=False)
    repository = repository_with_snapshots(storage, make_source(tmp_path / "source"))
    events: list[Event] = []

    report = check(repository, read_data=read_data, reporter=events.append)

    assert report.ok, report.errors
    assert report.warnings == []
    assert report.affected == {}
    packs = stored_packs(storage)
    assert len(packs) > 3
    assert report.counts.packs == len(packs)
    assert report.counts.snapshots == 3
    assert report.counts.key_slots == 1
    assert report.counts.index_files == len(list(storage.list(INDEX_PREFIX)))
    assert report.counts.trees >= 8
    assert not any(isinstance(event, ItemWarning) for event in events)
    assert any(isinstance(event, Progress) and event.operation == "check" for event in events)
    if read_data:
        assert report.counts.packs_read == len(packs)
        assert report.counts.blobs == len(repository.index)
        assert report.counts.bytes_read >= sum(stored.size for stored in storage.list(DATA_PREFIX))
    else:
        assert report.counts.packs_read == 0
        assert report.counts.blobs == 0


def test_read_data_reads_every_pack_once(tmp_path: Path) -> None:
    storage = RecordingStorage()
    repository = repository_with_snapshots(storage, make_source(tmp_path))
    storage.whole_loads.clear()

    check(repository, read_data=True)

    pack_loads = [name for name in storage.whole_loads if name.startswith(DATA_PREFIX)]
    assert sorted(pack_loads) == stored_packs(storage)


@pytest.mark.parametrize("groups", [1, 2, 3, 7])
def test_subsets_n_of_t_cover_every_pack_exactly_once(tmp_path: Path, groups: int) -> None:
    storage = RecordingStorage()
    repository = repository_with_snapshots(storage, make_source(tmp_path))
    read: list[str] = []
    for group in range(1, groups + 1):
        storage.whole_loads.clear()
        report = check(repository, subset=f"{group}/{groups}")
        assert report.ok, report.errors
        assert report.read_data
        group_loads = [name for name in storage.whole_loads if name.startswith(DATA_PREFIX)]
        assert report.counts.packs_read == len(group_loads)
        read.extend(group_loads)
    assert sorted(read) == stored_packs(storage)


def test_subset_groups_partition_any_set_of_pack_ids() -> None:
    generator = random.Random(3)
    pack_ids = [generator.randbytes(32) for _ in range(500)]
    chosen = [pack_id for group in range(1, 6) for pack_id in parse_subset(f"{group}/5").select(pack_ids)]
    assert sorted(chosen) == sorted(pack_ids)
    assert all(len(parse_subset(f"{group}/5").select(pack_ids)) > 50 for group in range(1, 6))


@pytest.mark.parametrize(
    ("subset", "expected"), [("100%", 10), ("50%", 5), ("1%", 1), ("12.5%", 2), (" 30 % ", 3)]
)
def test_a_percentage_picks_that_share_of_the_packs_rounded_up(subset: str, expected: int) -> None:
    pack_ids = [bytes([number]) * 32 for number in range(10)]
    chosen = parse_subset(subset).select(pack_ids)
    assert len(chosen) == expected
    assert len(set(chosen)) == expected
    assert set(chosen) <= set(pack_ids)


def test_a_percentage_subset_reads_some_packs(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository = repository_with_snapshots(storage, make_source(tmp_path))
    report = check(repository, subset="50%")
    assert report.ok
    assert report.counts.packs_read == -(-len(stored_packs(storage)) // 2)


@pytest.mark.parametrize(
    "subset",
    ["", "abc", "0%", "101%", "-5%", "%", "5", "0/3", "4/3", "1/0", "1/2/3", "a/b", "1.5/3", "10 percent"],
)
def test_a_bad_subset_is_a_configuration_error(tmp_path: Path, subset: str) -> None:
    repository = create_repository(MemoryStorage())
    with pytest.raises(ConfigurationError) as caught:
        check(repository, subset=subset)
    assert "subset" in str(caught.value) or repr(subset) in str(caught.value)
    assert caught.value.hint


def test_workers_must_be_at_least_one() -> None:
    with pytest.raises(ConfigurationError):
        check(create_repository(MemoryStorage()), workers=0)


def test_an_unreferenced_pack_is_only_a_warning(tmp_path: Path) -> None:
    source = make_source(tmp_path / "source")
    inner = MemoryStorage()
    storage = FaultyStorage(inner)
    repository = create_repository(storage)
    backup(repository, [str(source)], OPTIONS)
    # The next backup dies after writing one pack: no index lists it, no snapshot uses it.
    (source / "new.bin").write_bytes(random.Random(2).randbytes(2_500_000))
    storage.crash_after_saves = storage.saves + 1
    with pytest.raises(InjectedCrash):
        backup(repository, [str(source)], OPTIONS)
    assert storage.crashed
    reopened = Repository.open(inner, PASSPHRASE)
    unindexed = [
        name for name in stored_packs(inner) if not reopened.index.has_pack(pack_id_from_name(name) or b"")
    ]
    assert len(unindexed) == 1
    events: list[Event] = []

    report = check(reopened, read_data=True, reporter=events.append)

    assert report.ok, report.errors
    assert [(warning.kind, warning.name) for warning in report.warnings] == [("pack", unindexed[0])]
    assert "unreferenced" in report.warnings[0].message
    assert report.counts.packs_read == len(stored_packs(inner))
    assert [event.path for event in events if isinstance(event, ItemWarning)] == unindexed


def test_a_lost_index_file_is_rebuilt_from_pack_headers_for_the_check(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository = repository_with_snapshots(storage, make_source(tmp_path))
    index_files = [stored.name for stored in storage.list(INDEX_PREFIX)]
    storage.remove(index_files[0])

    report = check(repository, read_data=True)

    assert report.ok, report.errors
    assert report.warnings
    assert {warning.kind for warning in report.warnings} == {"pack"}
    assert report.affected == {}


def test_the_report_converts_to_json(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository = repository_with_snapshots(storage, make_source(tmp_path))
    storage.corrupt(stored_packs(storage)[0], 5)
    document = check(repository, read_data=True).to_json()
    assert json.loads(json.dumps(document)) == document
    assert document["ok"] is False
    assert document["errors"][0]["kind"] == "pack"
    assert document["counts"]["snapshots"] == 3


def test_an_empty_repository_passes() -> None:
    report = check(create_repository(MemoryStorage()), read_data=True)
    assert report.ok
    assert report.counts.packs == 0
    assert report.counts.snapshots == 0


class RemoteView(FaultyStorage):
    """Storage that says its reads are expensive, as a remote one would: trees then load on threads."""

    @property
    def is_local(self) -> bool:
        return False


def test_remote_storage_gives_the_same_report(tmp_path: Path) -> None:
    storage = MemoryStorage()
    repository_with_snapshots(storage, make_source(tmp_path))
    for name in stored_packs(storage):
        storage.corrupt(name, 3000)

    local = check(Repository.open(storage, PASSPHRASE), read_data=True)
    remote = check(Repository.open(RemoteView(storage), PASSPHRASE), read_data=True)

    assert not local.ok
    assert remote.errors == local.errors
    assert remote.affected == local.affected
    assert remote.counts == local.counts
