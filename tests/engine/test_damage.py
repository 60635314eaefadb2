"""A byte flipped in any object of a repository is found by check(read_data=True), which names the object.

For damage in a pack, the report also names the snapshots and paths that can no longer be restored
intact, and only those; the expected paths are worked out here independently, by walking every
snapshot's trees before the damage is done. Damage to a pack's header or trailer is an error of the
pack, but its blobs still verify through the index, so no path is affected by it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage, MemoryStorage, Storage
from resguardo.backends.faulty import FaultyStorage
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import AffectedPath, CheckReport, check
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.events import Event
from resguardo.engine.pack import TRAILER, BlobType
from resguardo.engine.repository import (
    CONFIG_NAME,
    INDEX_PREFIX,
    KEYS_PREFIX,
    SNAPSHOTS_PREFIX,
    Repository,
    pack_name,
)
from resguardo.engine.snapshot import list_snapshots
from resguardo.engine.tree import DIRECTORY, Node, decode_tree

PASSPHRASE = b"correct horse battery staple"
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
OPTIONS = BackupOptions(workers=2, hostname="test-host")


class Fixture:
    """A repository with three snapshots of a small tree, and what the tests need to know about it."""

    def __init__(self, storage: Storage, source: Path) -> None:
        self.storage = storage
        self.source = source
        generator = random.Random(11)
        for directory in ("alpha", "beta", "beta/deep", "gamma"):
            (source / directory).mkdir(parents=True)
            for number in range(3):
                size = generator.choice([100, 5_000, 120_000, 300_000])
                (source / directory / f"file{number}.bin").write_bytes(generator.randbytes(size))
        # The same content twice: one damaged blob then affects both files.
        (source / "gamma" / "twin.bin").write_bytes((source / "beta" / "deep" / "file1.bin").read_bytes())
        # Backups write through a FaultyStorage that injects nothing, so they run on threads here.
        writer = Repository.create(
            FaultyStorage(storage), PASSPHRASE, chunker=SMALL_CHUNKS, pack_size=1024 * 1024, kdf=FAST_KDF
        )
        backup(writer, [str(source)], OPTIONS)
        (source / "alpha" / "late.bin").write_bytes(generator.randbytes(900_000))
        backup(writer, [str(source)], OPTIONS)
        (source / "beta" / "file0.bin").write_bytes(b"changed in the third snapshot")
        backup(writer, [str(source)], OPTIONS)
        self.repository = Repository.open(storage, PASSPHRASE)
        self.snapshots = list_snapshots(self.repository)
        assert len(self.snapshots) == 3
        self.files: dict[AffectedPath, list[bytes]] = {}
        self.directories: dict[AffectedPath, bytes] = {}
        for snapshot in self.snapshots:
            for path, node in walk(self.repository, snapshot.tree, ""):
                where = AffectedPath(snapshot.short_id, path)
                if node.type == DIRECTORY:
                    assert node.subtree is not None
                    self.directories[where] = node.subtree
                else:
                    self.files[where] = node.content

    def users_of_blob(self, blob_id: bytes) -> set[AffectedPath]:
        """Return every (snapshot, file) whose content uses the blob."""
        return {where for where, content in self.files.items() if blob_id in content}

    def blob_of(self, relative: str) -> bytes:
        """Return the first content blob of a file of the source (as in the first snapshot)."""
        path = str(self.source / relative)
        return next(content[0] for where, content in self.files.items() if where.path == path)

    def flip(self, name: str, position: int) -> None:
        """Flip one bit of a stored object."""
        if isinstance(self.storage, MemoryStorage):
            self.storage.corrupt(name, position)
            return
        assert isinstance(self.storage, LocalStorage)
        file = self.storage.root / name
        data = bytearray(file.read_bytes())
        data[position % len(data)] ^= 0x01
        file.write_bytes(bytes(data))

    def flip_blob(self, blob_id: bytes) -> str:
        """Flip a bit in the middle of a blob's envelope; return the name of its pack."""
        location = self.repository.lookup(blob_id)
        name = pack_name(location.pack_id)
        self.flip(name, location.offset + location.length // 2)
        return name

    def check(self) -> CheckReport:
        return check(self.repository, read_data=True)


def walk(repository: Repository, tree_id: bytes, parent: str) -> Iterator[tuple[str, Node]]:
    """Yield (absolute path, node) for every entry under a tree, the way a restore would see them."""
    for node in decode_tree(repository.load_blob(tree_id)):
        path = f"{parent}/{node.name.decode()}"
        yield path, node
        if node.type == DIRECTORY:
            assert node.subtree is not None
            yield from walk(repository, node.subtree, path)


@pytest.fixture(params=["memory", "local"])
def fixture(request: pytest.FixtureRequest, tmp_path: Path) -> Fixture:
    storage: Storage
    if request.param == "memory":
        storage = MemoryStorage()
    else:
        storage = LocalStorage(tmp_path / "repository", durable=False)
    return Fixture(storage, tmp_path / "source")


def error_names(report: CheckReport, kind: str) -> set[str]:
    return {error.name for error in report.errors if error.kind == kind}


def test_the_fixture_is_healthy_and_spread_over_many_packs(fixture: Fixture) -> None:
    report = fixture.check()
    assert report.ok, report.errors
    assert report.counts.packs >= 5
    assert report.affected == {}


# -- packs --------------------------------------------------------------------------------------------


def test_a_flipped_byte_in_a_blob_names_its_pack_and_exactly_the_paths_using_it(fixture: Fixture) -> None:
    blob_id = fixture.blob_of("beta/file2.bin")
    pack = fixture.flip_blob(blob_id)

    report = fixture.check()

    assert not report.ok
    assert error_names(report, "pack") == {pack}
    assert error_names(report, "blob") == {blob_id.hex()}
    expected = fixture.users_of_blob(blob_id)
    assert {where.path for where in expected} == {str(fixture.source / "beta/file2.bin")}
    assert len(expected) == 3  # the file is unchanged, so every snapshot holds it
    assert set(report.affected) == {blob_id.hex()}
    assert set(report.affected[blob_id.hex()]) == expected
    assert report.affected_paths() == expected
    assert report.affected_snapshots() == {snapshot.short_id for snapshot in fixture.snapshots}


def test_a_damaged_blob_shared_by_two_files_affects_both(fixture: Fixture) -> None:
    blob_id = fixture.blob_of("beta/deep/file1.bin")
    fixture.flip_blob(blob_id)

    report = fixture.check()

    paths = {where.path for where in report.affected_paths()}
    assert paths == {str(fixture.source / "beta/deep/file1.bin"), str(fixture.source / "gamma/twin.bin")}
    assert report.affected_paths() == fixture.users_of_blob(blob_id)


def test_damage_to_a_file_of_later_snapshots_affects_only_those(fixture: Fixture) -> None:
    blob_id = fixture.blob_of("alpha/late.bin")
    fixture.flip_blob(blob_id)

    report = fixture.check()

    first, second, third = (snapshot.short_id for snapshot in fixture.snapshots)
    assert report.affected_snapshots() == {second, third}
    assert report.affected_paths() == {
        AffectedPath(second, str(fixture.source / "alpha/late.bin")),
        AffectedPath(third, str(fixture.source / "alpha/late.bin")),
    }
    assert first not in report.affected_snapshots()


def test_a_flipped_byte_in_a_tree_affects_its_directory_in_every_snapshot(fixture: Fixture) -> None:
    deep = str(fixture.source / "beta/deep")
    tree_ids = {tree for where, tree in fixture.directories.items() if where.path == deep}
    assert len(tree_ids) == 1  # unchanged, so shared by all three snapshots
    tree_id = tree_ids.pop()
    pack = fixture.flip_blob(tree_id)

    report = fixture.check()

    assert error_names(report, "pack") == {pack}
    assert error_names(report, "tree") == {tree_id.hex()}
    assert report.affected_paths() == {
        AffectedPath(snapshot.short_id, deep) for snapshot in fixture.snapshots
    }


def test_a_missing_pack_is_named_with_every_path_it_held(fixture: Fixture) -> None:
    blob_id = fixture.blob_of("gamma/file0.bin")
    location = fixture.repository.lookup(blob_id)
    name = pack_name(location.pack_id)
    fixture.storage.remove(name)
    lost = {
        entry_id for entry_id, place in fixture.repository.index.blobs() if place.pack_id == location.pack_id
    }

    report = fixture.check()

    assert error_names(report, "pack") == {name}
    assert set(report.affected) == {blob.hex() for blob in lost}
    expected = set().union(*(fixture.users_of_blob(blob) for blob in lost))
    assert expected
    assert report.affected_paths() == expected


def header_position(fixture: Fixture, pack: str) -> tuple[int, int]:
    """Return (start, length) of a pack's header envelope."""
    content = fixture.storage.load(pack)
    header_length, _magic = TRAILER.unpack(content[-TRAILER.size :])
    return len(content) - TRAILER.size - header_length, header_length


def data_pack(fixture: Fixture) -> str:
    location = fixture.repository.lookup(fixture.blob_of("alpha/file1.bin"))
    assert location.type == BlobType.DATA
    return pack_name(location.pack_id)


def test_a_flipped_byte_in_a_pack_header_names_the_pack(fixture: Fixture) -> None:
    pack = data_pack(fixture)
    start, length = header_position(fixture, pack)
    fixture.flip(pack, start + length // 2)

    report = fixture.check()

    assert error_names(report, "pack") == {pack}
    assert any("header" in error.message for error in report.errors)
    assert {error.kind for error in report.errors} == {"pack"}
    assert report.affected == {}


@pytest.mark.parametrize("from_end", [1, 6], ids=["magic", "header-length"])
def test_a_flipped_byte_in_a_pack_trailer_names_the_pack(fixture: Fixture, from_end: int) -> None:
    pack = data_pack(fixture)
    size = fixture.storage.size(pack)
    fixture.flip(pack, size - from_end)

    report = fixture.check()

    assert error_names(report, "pack") == {pack}
    assert {error.kind for error in report.errors} == {"pack"}
    assert report.affected == {}


def test_an_unindexed_pack_with_a_damaged_header_fails_the_structure_check(fixture: Fixture) -> None:
    for stored in list(fixture.storage.list(INDEX_PREFIX)):
        fixture.storage.remove(stored.name)
    pack = data_pack(fixture)
    start, length = header_position(fixture, pack)
    fixture.flip(pack, start + length // 2)

    report = check(fixture.repository)

    assert error_names(report, "pack") == {pack}
    # Without its header nothing says which blobs the pack held: the files that used them are named.
    assert report.affected_paths()
    assert all(kind in {"pack", "blob"} for kind in {error.kind for error in report.errors})


# -- other objects ----------------------------------------------------------------------------------


def test_a_flipped_byte_in_an_index_file_names_it_and_the_check_goes_on(fixture: Fixture) -> None:
    index_files = sorted(stored.name for stored in fixture.storage.list(INDEX_PREFIX))
    damaged = index_files[0]
    fixture.flip(damaged, 40)

    report = fixture.check()

    assert not report.ok
    assert [(error.kind, error.name) for error in report.errors] == [("index", damaged)]
    # Its packs are read from their headers instead: nothing else is wrong and no path is affected.
    assert report.warnings
    assert all("unreferenced" in warning.message for warning in report.warnings)
    assert report.counts.snapshots == 3
    assert report.affected == {}


def test_a_flipped_byte_in_a_snapshot_names_it_and_the_others_are_still_checked(fixture: Fixture) -> None:
    damaged = fixture.snapshots[1]
    fixture.flip(SNAPSHOTS_PREFIX + damaged.id, 30)

    report = fixture.check()

    assert [(error.kind, error.name) for error in report.errors] == [
        ("snapshot", SNAPSHOTS_PREFIX + damaged.id)
    ]
    assert report.counts.snapshots == 3
    assert report.counts.trees > 0
    assert report.counts.packs_read == report.counts.packs


def test_a_flipped_byte_in_a_key_slot_names_it(fixture: Fixture) -> None:
    spare = fixture.repository.add_key(b"a second passphrase", FAST_KDF)
    fixture.flip(KEYS_PREFIX + spare, 25)

    report = fixture.check()

    assert [(error.kind, error.name) for error in report.errors] == [("key", KEYS_PREFIX + spare)]
    assert report.counts.key_slots == 2


def test_a_damaged_only_key_slot_is_reported_as_the_repository_being_unopenable(fixture: Fixture) -> None:
    (slot,) = [stored.name for stored in fixture.storage.list(KEYS_PREFIX)]
    fixture.flip(slot, 60)

    report = fixture.check()

    assert error_names(report, "key") == {slot, KEYS_PREFIX}
    assert any("can no longer be opened" in error.message for error in report.errors)


def test_a_flipped_byte_in_the_config_names_it(fixture: Fixture) -> None:
    fixture.flip(CONFIG_NAME, 20)

    report = fixture.check()

    assert [(error.kind, error.name) for error in report.errors] == [("config", CONFIG_NAME)]
    assert report.counts.packs_read == report.counts.packs


def test_every_problem_reaches_the_reporter(fixture: Fixture) -> None:
    fixture.flip_blob(fixture.blob_of("beta/file2.bin"))
    fixture.flip(CONFIG_NAME, 3)
    warnings: list[Event] = []

    report = check(fixture.repository, read_data=True, reporter=warnings.append)

    shown = {getattr(event, "path", None) for event in warnings}
    assert {error.name for error in report.errors} <= shown


class SharedLocalStorage(LocalStorage):
    """A local directory that says worker processes may open it too."""

    @property
    def shareable_between_processes(self) -> bool:
        return True


def test_worker_processes_find_the_same_damage_as_threads(tmp_path: Path) -> None:
    fixture = Fixture(SharedLocalStorage(tmp_path / "repository", durable=False), tmp_path / "source")
    blob_id = fixture.blob_of("beta/deep/file1.bin")
    fixture.flip_blob(blob_id)
    gamma = str(fixture.source / "gamma")
    (tree_id,) = {tree for where, tree in fixture.directories.items() if where.path == gamma}
    fixture.flip_blob(tree_id)

    by_threads = check(fixture.repository, read_data=True, processes=False)
    by_processes = check(fixture.repository, read_data=True, processes=True)

    assert by_processes.errors == by_threads.errors
    assert by_processes.affected == by_threads.affected
    # Bytes read may differ: trees walked before the packs' damage was known are read again.
    assert replace(by_processes.counts, bytes_read=0) == replace(by_threads.counts, bytes_read=0)
    # gamma/twin.bin uses the damaged blob too, but the damaged gamma tree already names gamma whole.
    outside_gamma = {
        where for where in fixture.users_of_blob(blob_id) if not where.path.startswith(gamma + "/")
    }
    assert len(outside_gamma) == 3
    assert by_processes.affected_paths() == outside_gamma | {
        AffectedPath(snapshot.short_id, gamma) for snapshot in fixture.snapshots
    }
