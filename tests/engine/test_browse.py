"""Tests of the read-only views: walking a snapshot, diffs, statistics and reading one file."""

from __future__ import annotations

import os
import random
import re
from pathlib import Path

import pytest

from resguardo.backends import MemoryStorage
from resguardo.core.errors import IntegrityError, ResguardoError, SnapshotNotFound
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.browse import (
    Change,
    NotAFile,
    PathNotFound,
    diff_snapshots,
    find_node,
    open_file,
    repository_stats,
    snapshot_stats,
    walk_snapshot,
)
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository, pack_name
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, SYMLINK

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)


def new_repository() -> Repository:
    return Repository.create(MemoryStorage(), b"browse tests", chunker=SMALL_CHUNKS, kdf=FAST_KDF)


def back_up(repository: Repository, source: Path) -> Snapshot:
    return backup(repository, [str(source)], BackupOptions(hostname="test-host", use_parent=False)).snapshot


def build_tree(source: Path) -> None:
    (source / "docs" / "deep").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "docs" / "a.txt").write_bytes(b"alpha")
    (source / "docs" / "deep" / "b.bin").write_bytes(random.Random(1).randbytes(50_000))
    (source / "top.txt").write_bytes(b"top")
    os.symlink("top.txt", source / "link")
    os.link(source / "top.txt", source / "docs" / "top-again.txt")


# -- walk ---------------------------------------------------------------------------------------


def test_walk_yields_every_entry_depth_first_with_absolute_paths(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    entries = [(path, node.type) for path, node in walk_snapshot(repository, snapshot)]

    paths = [path for path, _type in entries]
    below = [path.removeprefix(str(source)) for path in paths if path.startswith(str(source) + "/")]
    assert below == [
        "/docs",
        "/docs/a.txt",
        "/docs/deep",
        "/docs/deep/b.bin",
        "/docs/top-again.txt",
        "/empty",
        "/link",
        "/top.txt",
    ]
    assert paths[0] == "/" + str(tmp_path).split("/")[1]
    assert dict(entries)[str(source / "link")] == SYMLINK
    assert dict(entries)[str(source)] == DIRECTORY


def test_walk_under_a_path_yields_that_entry_then_what_is_below_it(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    under = [path for path, _node in walk_snapshot(repository, snapshot, str(source / "docs"))]
    single = list(walk_snapshot(repository, snapshot, str(source / "docs" / "a.txt") + "/"))

    names = ("a.txt", "deep", "deep/b.bin", "top-again.txt")
    assert under == [str(source / "docs")] + [str(source / "docs" / name) for name in names]
    assert [(path, node.type, node.size) for path, node in single] == [
        (str(source / "docs" / "a.txt"), FILE, 5)
    ]


def test_walk_of_a_path_not_in_the_snapshot_fails_at_once_with_a_clear_error(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    with pytest.raises(PathNotFound, match="not in snapshot") as raised:
        walk_snapshot(repository, snapshot, str(source / "missing"))
    with pytest.raises(SnapshotNotFound):
        walk_snapshot(repository, snapshot, str(source / "top.txt" / "below"))
    assert raised.value.hint


def test_walk_of_non_utf8_names_gives_paths_that_encode_back_to_the_same_bytes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    with open(os.fsencode(source) + b"/caf\xe9", "wb") as stream:
        stream.write(b"x")
    repository = new_repository()
    snapshot = back_up(repository, source)

    paths = [path for path, _node in walk_snapshot(repository, snapshot, str(source))]

    assert [os.fsencode(path) for path in paths] == [os.fsencode(source), os.fsencode(source) + b"/caf\xe9"]
    assert find_node(repository, snapshot, os.fsdecode(os.fsencode(source) + b"/caf\xe9")) is not None


def test_walk_names_the_directory_whose_tree_is_damaged(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    storage = MemoryStorage()
    repository = Repository.create(storage, b"x", chunker=SMALL_CHUNKS, kdf=FAST_KDF)
    snapshot = back_up(repository, source)
    docs = find_node(repository, snapshot, str(source / "docs"))
    assert docs is not None and docs.subtree is not None
    location = repository.index.lookup(docs.subtree)
    assert location is not None
    storage.corrupt(pack_name(location.pack_id), location.offset + 30)

    with pytest.raises(IntegrityError, match=re.escape(str(source / "docs"))):
        list(walk_snapshot(repository, snapshot, str(source)))


# -- diff ---------------------------------------------------------------------------------------


def test_diff_names_added_removed_modified_and_metadata_changes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    first = back_up(repository, source)
    (source / "docs" / "a.txt").write_bytes(b"changed")
    os.chmod(source / "top.txt", 0o600)
    (source / "empty").rmdir()
    (source / "new").mkdir()
    (source / "new" / "file").write_bytes(b"n")
    os.remove(source / "link")
    os.symlink("docs", source / "link")
    docs_time = os.stat(source / "docs").st_mtime_ns
    os.utime(source / "docs", ns=(docs_time, docs_time))
    second = back_up(repository, source)

    changes = diff_snapshots(repository, first, second)

    # The folders above the source (/tmp and the like) are in the snapshots too, and other processes
    # may touch their mtimes between the two backups: only the source's own changes are compared.
    relative = {
        (change.path.removeprefix(str(source)), change.kind)
        for change in changes
        if change.path == str(source) or change.path.startswith(str(source) + "/")
    }
    assert relative == {
        ("/docs/a.txt", "modified"),
        ("/top.txt", "metadata"),
        ("/docs/top-again.txt", "metadata"),
        ("/empty", "removed"),
        ("/new", "added"),
        ("/new/file", "added"),
        ("/link", "modified"),
        ("", "metadata"),
    }
    assert [change.path for change in changes] == sorted(change.path for change in changes)
    assert str(Change("/x/new", "added", DIRECTORY)) == "+ /x/new/"
    assert Change("/x/a", "metadata", FILE).to_json() == {"path": "/x/a", "kind": "metadata", "type": FILE}


def test_diff_of_a_snapshot_with_itself_is_empty_and_reads_no_tree(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    loads: list[bytes] = []
    original = repository.load_blob

    def counting(blob_id: bytes, *, verify: bool = True) -> bytes:
        loads.append(blob_id)
        return original(blob_id, verify=verify)

    repository.load_blob = counting  # type: ignore[method-assign]
    assert diff_snapshots(repository, snapshot, snapshot) == []
    assert loads == []


def test_diff_reads_only_the_trees_on_the_way_to_a_change(tmp_path: Path) -> None:
    source = tmp_path / "source"
    for number in range(30):
        (source / f"dir{number}" / "sub").mkdir(parents=True)
        (source / f"dir{number}" / "sub" / "file").write_bytes(b"same")
    repository = new_repository()
    first = back_up(repository, source)
    (source / "dir7" / "sub" / "file").write_bytes(b"different")
    second = back_up(repository, source)
    loads: list[bytes] = []
    original = repository.load_blob

    def counting(blob_id: bytes, *, verify: bool = True) -> bytes:
        loads.append(blob_id)
        return original(blob_id, verify=verify)

    repository.load_blob = counting  # type: ignore[method-assign]
    changes = diff_snapshots(repository, first, second)

    assert (str(source / "dir7" / "sub" / "file"), "modified") in {
        (change.path, change.kind) for change in changes
    }
    depth = len(source.parts) + 2  # the trees from the root down to dir7/sub, in each snapshot
    assert len(loads) <= 2 * depth + 2


# -- statistics ---------------------------------------------------------------------------------


def test_restore_size_counts_files_directories_and_bytes_with_hard_links_once(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    stats = snapshot_stats(repository, [snapshot], "restore-size")

    assert stats.files == 5  # a.txt, b.bin, top-again.txt, link, top.txt
    assert stats.directories == 3 + len(source.parts) - 1
    assert stats.bytes == 5 + 50_000 + 3
    assert stats.to_json()["files"] == 5
    assert "files: 5" in str(stats)


def test_restore_size_of_several_snapshots_is_their_sum(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    first = back_up(repository, source)
    second = back_up(repository, source)

    one = snapshot_stats(repository, [first], "restore-size")
    both = snapshot_stats(repository, [first, second], "restore-size")

    assert (both.files, both.bytes, both.snapshots) == (2 * one.files, 2 * one.bytes, 2)


def test_raw_data_counts_unique_blobs_and_ratios(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    compressible = b"the same sentence again and again. " * 3000
    (source / "one").write_bytes(compressible)
    (source / "two").write_bytes(compressible)
    repository = new_repository()
    snapshot = back_up(repository, source)

    stats = snapshot_stats(repository, [snapshot, snapshot], "raw-data")

    data_blobs = stats.blobs - stats.tree_blobs
    assert stats.tree_blobs == len(source.parts) + 0
    assert data_blobs >= 1
    assert stats.bytes == 4 * len(compressible)
    assert stats.compression_ratio > 5
    assert stats.dedup_ratio > 3
    assert stats.missing_blobs == 0
    assert "compression ratio" in str(stats)


def test_an_unknown_statistics_mode_is_refused(tmp_path: Path) -> None:
    repository = new_repository()
    with pytest.raises(ResguardoError, match="unknown statistics mode"):
        snapshot_stats(repository, [], "everything")


def test_repository_stats_count_packs_and_blobs_by_type(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    back_up(repository, source)

    stats = repository_stats(repository)

    assert stats.packs == len(repository.index.packs())
    assert stats.pack_bytes == sum(repository.index.packs().values())
    assert stats.blobs["tree"] == sum(
        1 for _id, where in repository.index.blobs() if where.type == BlobType.TREE
    )
    assert stats.blobs["data"] + stats.blobs["tree"] == len(repository.index)
    assert stats.stored_bytes["data"] < stats.pack_bytes
    assert stats.to_json()["blobs"] == stats.blobs


# -- one file -----------------------------------------------------------------------------------


def test_open_file_yields_the_content_chunk_by_chunk(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    chunks = list(open_file(repository, snapshot, str(source / "docs" / "deep" / "b.bin")))

    assert len(chunks) > 1
    assert b"".join(chunks) == (source / "docs" / "deep" / "b.bin").read_bytes()
    assert b"".join(open_file(repository, snapshot, str(source / "empty" / ".." / "top.txt"))) == b"top"


def test_open_file_refuses_directories_symlinks_and_missing_paths_at_once(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    with pytest.raises(NotAFile, match="is a directory"):
        open_file(repository, snapshot, str(source / "docs"))
    with pytest.raises(NotAFile, match="is a directory"):
        open_file(repository, snapshot, "/")
    with pytest.raises(NotAFile, match=r"symbolic link to top\.txt"):
        open_file(repository, snapshot, str(source / "link"))
    with pytest.raises(PathNotFound):
        open_file(repository, snapshot, str(source / "nothing"))
