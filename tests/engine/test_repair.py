"""Repairs of damaged repositories: the index rebuilt from the packs, snapshots rewritten without lost data.

Every case starts from a real repository on local disk holding two real backups of a generated tree,
damages it (index files deleted or flipped, a pack deleted, a byte flipped inside a blob or a tree,
a pack header damaged), repairs it, and then checks the result the way an operator would: ``check``
passes, every snapshot restores byte-identical where its data survives, and what was lost is marked
(renamed ``.damaged``) in the repaired snapshot and listed in its repair record. The files a damage
affects are worked out here independently, by walking the trees before the damage is done.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage
from resguardo.backends.faulty import FaultyStorage
from resguardo.core.errors import RepositoryLocked, ResguardoError, StorageError
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import CheckReport, check
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.index import decode_index_file
from resguardo.engine.locks import locked
from resguardo.engine.pack import BlobType
from resguardo.engine.repair import repair_index, repair_snapshots
from resguardo.engine.repair.trees import marked_name
from resguardo.engine.repository import DATA_PREFIX, INDEX_PREFIX, SNAPSHOTS_PREFIX, Repository, pack_name
from resguardo.engine.restorer import restore
from resguardo.engine.snapshot import REPAIRED_TAG, Snapshot, list_snapshots
from resguardo.engine.tree import DIRECTORY, Node, decode_tree

PASSPHRASE = b"correct horse battery staple"
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
OPTIONS = BackupOptions(workers=2, hostname="repair-host")

Manifest = dict[str, tuple[str, str]]


def manifest(root: Path) -> Manifest:
    """Return {path relative to root: (type, sha256 of the content or the link target)}."""
    found: Manifest = {}
    for directory, directories, files in os.walk(root):
        for name in directories + files:
            path = Path(directory) / name
            status = path.lstat()
            relative = str(path.relative_to(root))
            if stat.S_ISLNK(status.st_mode):
                found[relative] = ("symlink", os.readlink(path))
            elif stat.S_ISDIR(status.st_mode):
                found[relative] = ("dir", "")
            else:
                found[relative] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def walk(repository: Repository, tree_id: bytes, parent: str = "") -> Iterator[tuple[str, Node]]:
    """Yield (absolute path, node) for every entry under a tree."""
    for node in decode_tree(repository.load_blob(tree_id)):
        path = f"{parent}/{node.name.decode()}"
        yield path, node
        if node.type == DIRECTORY:
            assert node.subtree is not None
            yield from walk(repository, node.subtree, path)


class World:
    """A repository with two snapshots of a generated tree, and what the tests need to know about it."""

    def __init__(self, base: Path) -> None:
        self.base = base
        self.source = base / "source"
        self.storage = LocalStorage(base / "repository", durable=False)
        generator = random.Random(7)
        for directory in ("alpha", "beta", "beta/deep", "gamma"):
            (self.source / directory).mkdir(parents=True)
            for number in range(4):
                size = generator.choice([0, 300, 20_000, 90_000, 200_000])
                (self.source / directory / f"file{number}.bin").write_bytes(generator.randbytes(size))
        (self.source / "gamma" / "link").symlink_to("../alpha/file0.bin")
        (self.source / "empty").mkdir()
        repository = Repository.create(
            self.storage, PASSPHRASE, chunker=SMALL_CHUNKS, pack_size=1024 * 1024, kdf=FAST_KDF
        )
        first = backup(repository, [str(self.source)], OPTIONS).snapshot
        self.manifests = {first.id: manifest(self.source)}
        (self.source / "alpha" / "late.bin").write_bytes(generator.randbytes(150_000))
        (self.source / "gamma" / "file1.bin").write_bytes(b"changed for the second snapshot")
        second = backup(repository, [str(self.source)], OPTIONS).snapshot
        self.manifests[second.id] = manifest(self.source)
        self.repository = self.reopen()
        self.snapshots = {snapshot.id: snapshot for snapshot in list_snapshots(self.repository)}
        self.files: dict[tuple[str, str], Node] = {}
        self.directories: dict[tuple[str, str], bytes] = {}
        for snapshot in self.snapshots.values():
            for path, node in walk(self.repository, snapshot.tree):
                if node.type == DIRECTORY:
                    assert node.subtree is not None
                    self.directories[snapshot.id, path] = node.subtree
                else:
                    self.files[snapshot.id, path] = node

    def reopen(self) -> Repository:
        return Repository.open(self.storage, PASSPHRASE)

    def names(self, prefix: str) -> list[str]:
        return sorted(item.name for item in self.storage.list(prefix))

    def flip(self, name: str, position: int) -> None:
        file = self.storage.root / name
        data = bytearray(file.read_bytes())
        data[position % len(data)] ^= 0x01
        file.write_bytes(bytes(data))

    def blobs_of_pack(self, pack_id: bytes) -> set[bytes]:
        return {blob_id for blob_id, location in self.repository.index.blobs() if location.pack_id == pack_id}

    def pack_of(self, blob_id: bytes) -> bytes:
        location = self.repository.index.lookup(blob_id)
        assert location is not None
        return location.pack_id

    def file_node(self, relative: str) -> Node:
        """Return the node of a source file as the newest snapshot holds it."""
        newest = max(self.snapshots.values(), key=lambda snapshot: snapshot.time)
        return self.files[newest.id, str(self.source / relative)]

    def some_blob(self, directory: str) -> bytes:
        """Return the first content blob of the first non-empty file of a source directory."""
        names = sorted(path.name for path in (self.source / directory).iterdir() if path.is_file())
        return next(
            node.content[0]
            for node in map(self.file_node, (f"{directory}/{n}" for n in names))
            if node.content
        )

    def users_of(self, blobs: set[bytes]) -> set[tuple[str, str]]:
        """Return every (snapshot ID, path) of a file whose content uses one of ``blobs``."""
        return {where for where, node in self.files.items() if blobs & set(node.content)}

    def restore(self, repository: Repository, snapshot: Snapshot, name: str) -> Path:
        """Restore a snapshot and return where its source tree is in the target."""
        target = self.base / name
        shutil.rmtree(target, ignore_errors=True)
        result = restore(repository, snapshot, str(target))
        assert not result.errors, result.errors
        return target / self.source.relative_to("/")


@pytest.fixture
def world(tmp_path: Path) -> World:
    return World(tmp_path)


def assert_healthy(repository: Repository, *, read_data: bool = True) -> CheckReport:
    report = check(repository, read_data=read_data)
    assert report.ok, report.errors
    assert not report.warnings, report.warnings
    return report


def assert_every_snapshot_restores_identical(world: World, repository: Repository) -> None:
    snapshots = list_snapshots(repository)
    assert {snapshot.id for snapshot in snapshots} == set(world.manifests)
    for snapshot in snapshots:
        restored = world.restore(repository, snapshot, f"restored-{snapshot.short_id}")
        assert manifest(restored) == world.manifests[snapshot.id]


def relative(world: World, path: str) -> str:
    return str(Path(path).relative_to(world.source))


# -- repair index ---------------------------------------------------------------------------------


def test_deleting_every_index_file_then_repairing_the_index_restores_every_snapshot_identical(
    world: World,
) -> None:
    packs = world.names(DATA_PREFIX)
    blobs = len(world.repository.index)
    for name in world.names(INDEX_PREFIX):
        world.storage.remove(name)

    report = repair_index(world.reopen())

    assert report.packs_indexed == len(packs)
    assert report.blobs_indexed == blobs
    assert report.index_files_removed == []
    assert report.lost_blobs == [] and report.unreadable_packs == {}
    assert len(report.index_files_written) == len(world.names(INDEX_PREFIX)) >= 1
    repository = world.reopen()
    assert_healthy(repository)
    assert_every_snapshot_restores_identical(world, repository)


def test_a_damaged_index_file_is_replaced_by_one_rebuilt_from_the_packs(world: World) -> None:
    old = world.names(INDEX_PREFIX)
    world.flip(old[0], 100)

    report = repair_index(world.reopen())

    assert report.damaged_index_files == [old[0]]
    assert sorted(report.index_files_removed) == old
    assert set(world.names(INDEX_PREFIX)) == set(report.index_files_written)
    assert report.lost_blobs == []
    repository = world.reopen()
    assert repository.damaged_index_names == []
    assert_healthy(repository)
    assert_every_snapshot_restores_identical(world, repository)


def test_new_index_files_name_the_old_ones_they_supersede(world: World) -> None:
    old = world.names(INDEX_PREFIX)
    world.flip(old[0], 100)
    repository = world.reopen()

    report = repair_index(repository)

    written = report.index_files_written[0]
    data = world.storage.load(written)
    assert decode_index_file(repository.keys, written, data)
    document = repository.keys.decrypt(data)
    for name in old:
        assert name.removeprefix(INDEX_PREFIX).encode() in _decompressed(document)


def _decompressed(plaintext: bytes) -> bytes:
    import zstandard

    return zstandard.ZstdDecompressor().decompress(plaintext)


def test_a_crash_before_the_old_index_files_are_removed_leaves_a_valid_index(world: World) -> None:
    old = world.names(INDEX_PREFIX)
    world.flip(old[0], 100)
    faulty = FaultyStorage(
        world.storage, fail_on=lambda operation, name: operation == "remove" and name in old
    )
    repository = Repository.open(faulty, PASSPHRASE)

    with pytest.raises(StorageError):
        repair_index(repository)

    both = world.names(INDEX_PREFIX)
    assert set(old) < set(both)
    reopened = world.reopen()
    assert_every_snapshot_restores_identical(world, reopened)
    finished = repair_index(reopened)
    assert sorted(finished.index_files_removed) == both
    assert world.names(INDEX_PREFIX) == sorted(finished.index_files_written)
    assert_healthy(world.reopen())


def test_repairing_a_healthy_index_writes_and_removes_nothing(world: World) -> None:
    before = world.names(INDEX_PREFIX)

    report = repair_index(world.reopen(), read_all_packs=True)

    assert report.unchanged
    assert report.index_files_written == [] and report.index_files_removed == []
    assert world.names(INDEX_PREFIX) == before


def test_a_pack_whose_header_is_damaged_is_indexed_from_the_old_index_after_verifying_its_blobs(
    world: World,
) -> None:
    pack = world.pack_of(world.file_node("beta/file2.bin").content[0])
    name = pack_name(pack)
    world.flip(name, world.storage.size(name) - 20)

    report = repair_index(world.reopen())

    assert report.salvaged_packs == [name]
    assert report.unreadable_packs == {} and report.lost_blobs == []
    repository = world.reopen()
    assert_healthy(repository, read_data=False)
    assert_every_snapshot_restores_identical(world, repository)


def test_repairing_the_index_needs_an_exclusive_lock(world: World) -> None:
    repository = world.reopen()
    with locked(world.reopen()), pytest.raises(RepositoryLocked):
        repair_index(repository)


# -- a pack lost, then the snapshots repaired -------------------------------------------------------


def test_a_deleted_pack_drops_out_of_the_index_and_repaired_snapshots_mark_the_files_that_used_it(
    world: World,
) -> None:
    pack = world.pack_of(world.file_node("beta/file2.bin").content[0])
    lost_blobs = world.blobs_of_pack(pack)
    affected = world.users_of(lost_blobs)
    assert affected
    world.storage.remove(pack_name(pack))

    index_report = repair_index(world.reopen())

    assert index_report.missing_packs == [pack_name(pack)]
    assert set(index_report.lost_blobs) == {blob_id.hex() for blob_id in lost_blobs}
    repository = world.reopen()
    assert not check(repository).ok

    report = repair_snapshots(repository)

    assert {entry.original.id for entry in report.repaired} == {snapshot_id for snapshot_id, _ in affected}
    assert all(entry.original_removed for entry in report.repaired)
    reported = {
        (entry.original.id, item.path, item.marked_as) for entry in report.repaired for item in entry.lost
    }
    assert reported == {(snapshot_id, path, path + ".damaged") for snapshot_id, path in affected}
    repository = world.reopen()
    assert_healthy(repository)
    snapshots = list_snapshots(repository)
    assert len(snapshots) == len(world.snapshots)
    for snapshot in snapshots:
        original = snapshot.repair.original if snapshot.repair else snapshot.id
        expected = dict(world.manifests[original])
        restored = world.restore(repository, snapshot, f"restored-{snapshot.short_id}")
        found = manifest(restored)
        for snapshot_id, path in affected:
            if snapshot_id != original:
                continue
            name = relative(world, path)
            del expected[name]
            node = world.files[snapshot_id, path]
            kept = b"".join(
                repository.load_blob(blob_id) for blob_id in node.content if blob_id not in lost_blobs
            )
            assert (restored / (name + ".damaged")).read_bytes() == kept
            expected[name + ".damaged"] = ("file", hashlib.sha256(kept).hexdigest())
        assert found == expected


def test_a_repaired_snapshot_keeps_the_original_s_details_and_records_what_was_lost(world: World) -> None:
    node = world.file_node("alpha/late.bin")
    pack = world.pack_of(node.content[-1])
    world.storage.remove(pack_name(pack))
    repair_index(world.reopen())

    report = repair_snapshots(world.reopen())

    entry = next(item for item in report.repaired if any("late.bin" in lost.path for lost in item.lost))
    repaired = next(s for s in list_snapshots(world.reopen()) if s.id == entry.repaired_id)
    original = entry.original
    assert (repaired.time, repaired.hostname, repaired.paths) == (
        original.time,
        original.hostname,
        original.paths,
    )
    assert repaired.username == original.username and repaired.summary == original.summary
    assert repaired.tags == [*original.tags, REPAIRED_TAG]
    assert repaired.repair is not None and repaired.repair.original == original.id
    late = next(lost for lost in repaired.repair.lost if lost.path.endswith("alpha/late.bin"))
    assert late.type == "file" and late.missing_blobs >= 1
    assert 0 < late.bytes_lost <= node.size
    assert not world.storage.exists(SNAPSHOTS_PREFIX + original.id)


def test_a_byte_flipped_in_a_blob_is_left_out_by_reading_all_packs_and_its_file_is_marked(
    world: World,
) -> None:
    blob_id = world.some_blob("beta/deep")
    location = world.repository.lookup(blob_id)
    world.flip(pack_name(location.pack_id), location.offset + location.length // 2)

    header_only = repair_index(world.reopen())
    assert header_only.unchanged and header_only.damaged_blobs == {}
    report = repair_index(world.reopen(), read_all_packs=True)

    assert set(report.damaged_blobs) == {blob_id.hex()}
    assert report.lost_blobs == [blob_id.hex()]
    repaired = repair_snapshots(world.reopen())
    marked = {(entry.original.id, item.path) for entry in repaired.repaired for item in entry.lost}
    assert marked == world.users_of({blob_id})
    repository = world.reopen()
    assert_healthy(repository, read_data=False)
    # The damaged pack itself stays (only prune rewrites packs): a data check names it and nothing else.
    report_data = check(repository, read_data=True)
    assert {problem.kind for problem in report_data.errors} <= {"pack", "blob"}
    assert report_data.affected_paths() == set()


def test_a_lost_tree_leaves_its_directory_empty_and_marked(world: World) -> None:
    newest = max(world.snapshots.values(), key=lambda snapshot: snapshot.time)
    deep = str(world.source / "beta" / "deep")
    tree_id = world.directories[newest.id, deep]
    location = world.repository.lookup(tree_id)
    assert location.type == BlobType.TREE
    world.flip(pack_name(location.pack_id), location.offset + location.length // 2)
    repair_index(world.reopen(), read_all_packs=True)

    report = repair_snapshots(world.reopen())

    users = {snapshot_id for (snapshot_id, path), subtree in world.directories.items() if subtree == tree_id}
    assert {entry.original.id for entry in report.repaired} == users
    for entry in report.repaired:
        assert [(item.path, item.marked_as, item.type) for item in entry.lost] == [
            (deep, deep + ".damaged", "dir")
        ]
    repository = world.reopen()
    assert_healthy(repository, read_data=False)
    for entry in report.repaired:
        snapshot = next(s for s in list_snapshots(repository) if s.id == entry.repaired_id)
        restored = world.restore(repository, snapshot, f"restored-{snapshot.short_id}")
        expected = {
            path: value
            for path, value in world.manifests[entry.original.id].items()
            if path != "beta/deep" and not path.startswith("beta/deep/")
        }
        expected["beta/deep.damaged"] = ("dir", "")
        assert manifest(restored) == expected


def test_when_every_tree_is_lost_each_snapshot_becomes_empty_and_records_its_root(world: World) -> None:
    tree_packs = {
        location.pack_id for _, location in world.repository.index.blobs() if location.type == BlobType.TREE
    }
    for pack in tree_packs:
        world.storage.remove(pack_name(pack))
    repair_index(world.reopen())

    report = repair_snapshots(world.reopen())

    assert len(report.repaired) == len(world.snapshots)
    for entry in report.repaired:
        assert [(item.path, item.type) for item in entry.lost] == [("/", "dir")]
    assert_healthy(world.reopen(), read_data=False)


# -- dry runs, idempotence, keeping originals ---------------------------------------------------------


def _lose_a_pack(world: World) -> None:
    pack = world.pack_of(world.some_blob("gamma"))
    world.storage.remove(pack_name(pack))
    repair_index(world.reopen())


def test_a_dry_run_reports_what_it_would_repair_and_changes_nothing(world: World) -> None:
    _lose_a_pack(world)
    before = {item.name: item.size for item in world.storage.list("")}

    report = repair_snapshots(world.reopen(), dry_run=True)

    assert report.dry_run and report.repaired and report.paths_lost >= 1
    assert all(entry.repaired_id == "" and not entry.original_removed for entry in report.repaired)
    after = {item.name: item.size for item in world.storage.list("")}
    assert after == before
    assert report.paths_lost == repair_snapshots(world.reopen()).paths_lost


def test_a_second_repair_finds_nothing_to_do(world: World) -> None:
    _lose_a_pack(world)
    first = repair_snapshots(world.reopen())
    assert first.repaired
    objects = world.names("")

    index_again = repair_index(world.reopen(), read_all_packs=True)
    snapshots_again = repair_snapshots(world.reopen())

    assert index_again.unchanged
    assert snapshots_again.repaired == [] and snapshots_again.unchanged == len(world.snapshots)
    assert world.names("") == objects


def test_kept_originals_are_not_repaired_twice_and_a_later_run_removes_them(world: World) -> None:
    _lose_a_pack(world)
    first = repair_snapshots(world.reopen(), forget_originals=False)
    originals = {entry.original.id for entry in first.repaired}
    assert originals and all(world.storage.exists(SNAPSHOTS_PREFIX + name) for name in originals)

    again = repair_snapshots(world.reopen(), forget_originals=False)
    assert again.repaired == [] and set(again.finished) == originals

    finishing = repair_snapshots(world.reopen())
    assert finishing.repaired == [] and set(finishing.finished) == originals
    assert not any(world.storage.exists(SNAPSHOTS_PREFIX + name) for name in originals)
    assert_healthy(world.reopen())


def test_only_the_chosen_snapshots_are_repaired(world: World) -> None:
    _lose_a_pack(world)
    every = repair_snapshots(world.reopen(), dry_run=True)
    chosen = every.repaired[0].original.id

    report = repair_snapshots(world.reopen(), snapshot_ids=[chosen])

    assert [entry.original.id for entry in report.repaired] == [chosen]


def test_repairing_snapshots_refuses_while_the_index_lists_missing_packs(world: World) -> None:
    pack = world.pack_of(world.file_node("alpha/file1.bin").content[0])
    world.storage.remove(pack_name(pack))
    before = world.names("")

    with pytest.raises(ResguardoError, match="not in storage") as raised:
        repair_snapshots(world.reopen())

    assert "repair index" in raised.value.hint
    assert world.names("") == before


def test_a_marked_name_never_takes_a_name_already_in_the_directory() -> None:
    taken = {b"report", b"report.damaged", b"report.damaged-2"}

    assert marked_name(b"report", taken) == b"report.damaged-3"
    assert marked_name(b"other", taken) == b"other.damaged"
    assert {b"report.damaged-3", b"other.damaged"} <= taken


def test_repair_index_drops_a_pending_prune_plan_whose_index_files_it_replaces(tmp_path: Path) -> None:
    from resguardo.engine.pruneplan import PRUNE_PREFIX, PrunePlan

    storage = LocalStorage(tmp_path / "repository", durable=False)
    fast = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
    repository = Repository.create(storage, b"pass", kdf=fast)
    plan = PrunePlan(id="pending", created="2026-01-01T00:00:00+00:00", condemned=[], waiting_for=["x"])
    storage.save(PRUNE_PREFIX + plan.id, plan.to_bytes(repository.keys))

    repair_index(repository)

    assert not list(storage.list(PRUNE_PREFIX))
