"""Tests of restore: a backed-up tree comes back identical, only inside its target, and damage stays local.

Trees are built in ``tmp_path``, backed up with the real archiver into an in-memory repository, and
restored into another folder of ``tmp_path``; the comparison reads both trees with ``lstat`` and
compares type, mode, times, owner, size, content, symlink target, extended attributes and hard links.
Malicious repositories are crafted by hand with ``encode_tree`` and ``save_blob``.
"""

from __future__ import annotations

import errno
import hashlib
import os
import pickle
import random
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgpack
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import resguardo.engine.restorer as restorer_module
from resguardo.backends import LocalStorage, MemoryStorage, Storage
from resguardo.core.errors import ConfigurationError, IntegrityError, ResguardoError, TargetError
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.events import Event, ItemWarning, Progress
from resguardo.engine.index import PackRecord
from resguardo.engine.pack import BlobEntry, BlobType
from resguardo.engine.repository import Repository, pack_name
from resguardo.engine.restorer import RestoreResult, restore
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, SYMLINK, Node, decode_tree, encode_tree

PASSPHRASE = b"restore tests"
FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)
AS_ROOT = os.geteuid() == 0


# -- helpers -----------------------------------------------------------------------------------


def new_repository(storage: Storage | None = None, **options: Any) -> Repository:
    storage = storage or MemoryStorage()
    return Repository.create(storage, PASSPHRASE, chunker=SMALL_CHUNKS, kdf=FAST_KDF, **options)


def back_up(repository: Repository, *paths: Path) -> Snapshot:
    result = backup(
        repository, [str(path) for path in paths], BackupOptions(hostname="test-host", use_parent=False)
    )
    assert not result.unreadable
    return result.snapshot


def inside(target: Path, source: Path) -> Path:
    """Return where ``source`` (an absolute path) lands when restored into ``target``."""
    return Path(os.fsdecode(os.fsencode(target) + os.fsencode(source)))


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def xattrs_of(path: bytes) -> list[tuple[str, bytes]]:
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:
        return []
    return sorted((name, os.getxattr(path, name, follow_symlinks=False)) for name in names)


def describe(root: Path, *, directory_times: bool = True) -> dict[bytes, tuple[Any, ...]]:
    """Return everything a restore must reproduce, per path relative to ``root`` (root itself is b"")."""
    entries: dict[bytes, tuple[Any, ...]] = {}
    first_of_inode: dict[tuple[int, int], bytes] = {}
    base = os.fsencode(root)

    def visit(relative: bytes) -> None:
        path = base + relative
        status = os.lstat(path)
        kind = stat.S_IFMT(status.st_mode)
        detail: Any = None
        if stat.S_ISREG(status.st_mode):
            detail = (status.st_size, hashlib.sha256(Path(os.fsdecode(path)).read_bytes()).hexdigest())
            if status.st_nlink > 1:
                detail += (first_of_inode.setdefault((status.st_dev, status.st_ino), relative),)
        elif stat.S_ISLNK(status.st_mode):
            detail = os.readlink(path)
        mtime = status.st_mtime_ns if directory_times or not stat.S_ISDIR(status.st_mode) else None
        entries[relative] = (
            kind,
            stat.S_IMODE(status.st_mode),
            mtime,
            status.st_uid,
            status.st_gid,
            detail,
            xattrs_of(path),
        )
        if stat.S_ISDIR(status.st_mode):
            for name in sorted(os.listdir(path)):
                visit(relative + b"/" + name)

    visit(b"")
    return entries


def assert_same_tree(source: Path, restored: Path) -> None:
    expected, actual = describe(source), describe(restored)
    assert sorted(actual) == sorted(expected)
    for path, entry in expected.items():
        assert actual[path] == entry, path


def events_of(result_events: list[Event], kind: type) -> list[Any]:
    return [event for event in result_events if isinstance(event, kind)]


def save_tree(repository: Repository, nodes: list[Node]) -> bytes:
    tree_id, _added = repository.save_blob(BlobType.TREE, encode_tree(nodes))
    return tree_id


def save_data(repository: Repository, data: bytes) -> bytes:
    blob_id, _added = repository.save_blob(BlobType.DATA, data)
    return blob_id


def save_snapshot(repository: Repository, tree: bytes) -> Snapshot:
    repository.flush()
    snapshot = Snapshot(time=datetime.now(UTC), tree=tree, paths=["/crafted"], hostname="crafted")
    snapshot.id = repository.save_snapshot_document(snapshot.to_document())
    return snapshot


def file_node(repository: Repository, name: bytes, data: bytes, mode: int = 0o644) -> Node:
    content = [save_data(repository, data)] if data else []
    return Node(
        name=name, type=FILE, mode=mode, size=len(data), content=content, mtime_ns=1_600_000_000_000_000_000
    )


def directory_node(name: bytes, subtree: bytes, mode: int = 0o755) -> Node:
    return Node(name=name, type=DIRECTORY, mode=mode, subtree=subtree, mtime_ns=1_600_000_000_000_000_000)


def symlink_node(name: bytes, target: bytes) -> Node:
    return Node(name=name, type=SYMLINK, mode=0o777, target=target)


def listing(root: Path) -> dict[str, bytes | str]:
    """Return every path under ``root`` with its content (files) or kind (others), not following links."""
    found: dict[str, bytes | str] = {}
    for directory, subdirectories, files in os.walk(root):
        for name in subdirectories + files:
            path = Path(directory) / name
            found[str(path)] = path.read_bytes() if path.is_file() and not path.is_symlink() else "other"
    return found


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A folder outside every restore target, with a file in it; checked to be untouched afterwards."""
    folder = tmp_path / "outside"
    folder.mkdir()
    (folder / "victim").write_bytes(b"precious")
    before = listing(folder)
    yield folder
    assert listing(folder) == before


# -- a faithful round trip ----------------------------------------------------------------------


def build_varied_tree(source: Path) -> None:
    """Empty dirs and files, files of 1..3 chunks, symlinks, hard links, a FIFO, special modes, times."""
    (source / "empty-dir").mkdir(parents=True)
    (source / "nested" / "deeper" / "deepest").mkdir(parents=True)
    (source / "empty-file").write_bytes(b"")
    (source / "one-chunk").write_bytes(random_bytes(700, 1))
    (source / "nested" / "few-chunks").write_bytes(random_bytes(40_000, 2))
    (source / "nested" / "deeper" / "many-chunks").write_bytes(random_bytes(200_000, 3))
    (source / "nested" / "deeper" / "deepest" / "zeros").write_bytes(bytes(50_000))
    (source / "twin-a").write_bytes(random_bytes(30_000, 4))
    (source / "twin-b").write_bytes(random_bytes(30_000, 4))
    os.symlink("one-chunk", source / "relative-link")
    os.symlink("/nonexistent/place", source / "dangling-link")
    os.symlink("nested", source / "directory-link")
    os.link(source / "one-chunk", source / "nested" / "hard-link")
    os.link(source / "one-chunk", source / "nested" / "deeper" / "second-hard-link")
    os.mkfifo(source / "pipe")
    os.chmod(source / "twin-a", 0o4755)
    os.chmod(source / "twin-b", 0o2750)
    os.chmod(source / "nested" / "few-chunks", 0o400)
    os.chmod(source / "empty-dir", 0o1777)
    os.chmod(source / "nested" / "deeper" / "deepest", 0o500)
    os.utime(source / "one-chunk", ns=(1_000_000_000_123_456_789, 1_500_000_000_987_654_321))
    os.utime(source / "dangling-link", ns=(1_000_000_000, 1_234_567_890_123_456_789), follow_symlinks=False)
    for directory in (source / "nested" / "deeper", source / "empty-dir"):
        os.utime(directory, ns=(1_000_000_000, 1_400_000_000_111_111_111))


def test_a_varied_tree_comes_back_identical(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_varied_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    target = tmp_path / "target"
    events: list[Event] = []

    result = restore(repository, snapshot, str(target), reporter=events.append)

    assert result.complete, (result.errors, result.damaged)
    restored = inside(target, source)
    assert os.stat(restored / "one-chunk").st_atime_ns == 1_500_000_000_987_654_321  # before reading it
    assert_same_tree(source, restored)
    first = os.stat(restored / "one-chunk")
    assert first.st_nlink == 3
    assert os.stat(restored / "nested" / "hard-link").st_ino == first.st_ino
    assert os.stat(restored / "nested" / "deeper" / "second-hard-link").st_ino == first.st_ino
    assert stat.S_ISFIFO(os.lstat(restored / "pipe").st_mode)
    assert os.lstat(restored / "twin-a").st_mode & stat.S_ISUID
    assert os.lstat(restored / "twin-b").st_mode & stat.S_ISGID
    assert os.lstat(restored / "dangling-link").st_mtime_ns == 1_234_567_890_123_456_789
    assert os.stat(restored / "one-chunk").st_mtime_ns == 1_500_000_000_987_654_321
    assert not events_of(events, ItemWarning)


def test_result_counts_and_progress_totals_match_what_was_restored(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_varied_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    events: list[Event] = []

    result = restore(repository, snapshot, str(tmp_path / "target"), reporter=events.append)

    regular = [path for path in source.rglob("*") if path.is_file() and not path.is_symlink()]
    others = [
        path for path in source.rglob("*") if path.is_symlink() or not (path.is_file() or path.is_dir())
    ]
    assert result.files_restored == len(regular) + len(others)
    inodes = {os.stat(path).st_ino: path.stat().st_size for path in regular}
    assert result.bytes_written == sum(inodes.values())
    inner = [path for path in source.rglob("*") if path.is_dir() and not path.is_symlink()]
    assert result.directories == len(inner) + len(source.parts) - 1
    final = events_of(events, Progress)[-1]
    assert final.operation == "restore"
    assert (final.files_done, final.bytes_done) == (final.files_total, final.bytes_total)
    assert final.files_total == result.files_restored
    assert final.bytes_total == result.bytes_written


def test_extended_attributes_come_back(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "tagged").write_bytes(b"content")
    try:
        os.setxattr(source / "tagged", "user.origin", b"\x00binary\xff value")
        os.setxattr(source, "user.folder", b"yes")
    except OSError as error:
        pytest.skip(f"the file system of {tmp_path} refuses user.* extended attributes: {error.strerror}")
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"))

    restored = inside(tmp_path / "target", source)
    assert result.complete
    assert os.getxattr(restored / "tagged", "user.origin") == b"\x00binary\xff value"
    assert os.getxattr(restored, "user.folder") == b"yes"


def test_a_sparse_file_keeps_its_holes(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    sparse = source / "disk.img"
    with open(sparse, "wb") as stream:
        stream.write(random_bytes(20_000, 5))
        stream.seek(3 * 1024 * 1024)
        stream.write(random_bytes(20_000, 6))
        stream.truncate(6 * 1024 * 1024)
    if os.stat(sparse).st_blocks * 512 >= os.stat(sparse).st_size:
        pytest.skip("the file system does not keep holes")
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"))

    restored = inside(tmp_path / "target", source) / "disk.img"
    assert result.complete
    assert restored.read_bytes() == sparse.read_bytes()
    assert os.stat(restored).st_size == 6 * 1024 * 1024
    assert os.stat(restored).st_blocks <= os.stat(sparse).st_blocks + 32  # 6 MiB would be 12288


def test_names_that_are_not_utf8_come_back_byte_for_byte(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    base = os.fsencode(source)
    os.mkdir(base + b"/caf\xe9")
    with open(base + b"/caf\xe9/\xff\xfe-latin1-\xe0.txt", "wb") as stream:
        stream.write(b"bytes")
    os.symlink(b"caf\xe9/\xff\xfe-latin1-\xe0.txt", base + b"/\x80link")
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"))

    assert result.complete
    assert_same_tree(source, inside(tmp_path / "target", source))
    restored = os.fsencode(inside(tmp_path / "target", source))
    assert sorted(os.listdir(restored)) == [b"caf\xe9", b"\x80link"]


def test_large_files_written_in_pieces_by_several_workers_are_identical(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restorer_module, "PIECE_BYTES", 50_000)
    source = tmp_path / "source"
    source.mkdir()
    (source / "big").write_bytes(random_bytes(1_000_000, 7))
    os.chmod(source / "big", 0o640)
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"), workers=3)

    assert result.complete
    assert_same_tree(source, inside(tmp_path / "target", source))


def test_many_large_files_in_pieces_each_keep_their_own_bookkeeping(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Large files finish in another order than they started: a finished file's number must never be
    # handed to a newer one while an older one still has pieces in flight.
    monkeypatch.setattr(restorer_module, "PIECE_BYTES", 20_000)
    source = tmp_path / "source"
    source.mkdir()
    for number in range(12):
        (source / f"big-{number:02}").write_bytes(random_bytes(60_000 + 70_000 * (number % 4), number))
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"), workers=3)

    assert result.complete
    assert_same_tree(source, inside(tmp_path / "target", source))


def test_restoring_twice_into_the_same_target_replaces_and_stays_identical(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_varied_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    target = tmp_path / "target"

    restore(repository, snapshot, str(target))
    result = restore(repository, snapshot, str(target), workers=1)

    assert result.complete, result.errors
    assert_same_tree(source, inside(target, source))


@pytest.mark.skipif(not AS_ROOT, reason="owners and device nodes are restored only by root")
def test_as_root_owners_come_back_by_name_or_number_and_device_nodes_are_made(tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "by-number").write_bytes(b"1")
    (source / "by-name").write_bytes(b"2")
    os.chown(source / "by-number", 54321, 54322)
    os.chown(source / "by-name", 0, 0)
    os.mknod(source / "null", 0o640 | stat.S_IFCHR, os.makedev(1, 3))
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"))

    restored = inside(tmp_path / "target", source)
    assert result.complete
    assert (os.stat(restored / "by-number").st_uid, os.stat(restored / "by-number").st_gid) == (54321, 54322)
    device = os.lstat(restored / "null")
    assert stat.S_ISCHR(device.st_mode) and device.st_rdev == os.makedev(1, 3)
    assert stat.S_IMODE(device.st_mode) == 0o640


@pytest.mark.skipif(not AS_ROOT, reason="owners are restored only by root")
def test_an_owner_name_known_here_wins_over_the_stored_number(tmp_path: Path) -> None:
    repository = new_repository()
    node = file_node(repository, b"owned", b"data")
    node.user, node.uid, node.group, node.gid = "root", 4242, "root", 4343
    stranger = file_node(repository, b"stranger", b"more")
    stranger.user, stranger.uid, stranger.group, stranger.gid = (
        "no-such-user-here",
        4242,
        "no-such-group",
        4343,
    )
    snapshot = save_snapshot(repository, save_tree(repository, [node, stranger]))

    restore(repository, snapshot, str(tmp_path / "target"))

    assert (os.stat(tmp_path / "target" / "owned").st_uid, os.stat(tmp_path / "target" / "owned").st_gid) == (
        0,
        0,
    )
    assert (
        os.stat(tmp_path / "target" / "stranger").st_uid,
        os.stat(tmp_path / "target" / "stranger").st_gid,
    ) == (
        4242,
        4343,
    )


@pytest.mark.skipif(not AS_ROOT, reason="owners are restored only by root")
@pytest.mark.parametrize("processes", [False, True])
def test_files_restored_into_a_setgid_directory_keep_their_own_group_and_mode(
    tmp_path: Path, processes: bool
) -> None:
    repository = new_repository(LocalStorage(tmp_path / "repository", durable=False))
    inner = save_tree(repository, [file_node(repository, b"deep", b"d", mode=0o640)])
    nodes = [directory_node(b"sub", inner), file_node(repository, b"top", b"t", mode=0o644)]
    snapshot = save_snapshot(repository, save_tree(repository, nodes))
    target = tmp_path / "target"
    target.mkdir()
    os.chown(target, 0, 54321)
    os.chmod(target, 0o2775)

    result = restore(repository, snapshot, str(target), processes=processes)

    assert result.complete
    for path, mode in ((target / "top", 0o644), (target / "sub" / "deep", 0o640), (target / "sub", 0o755)):
        status = os.stat(path)
        assert (status.st_uid, status.st_gid, stat.S_IMODE(status.st_mode)) == (0, 0, mode), path


def test_sockets_are_skipped(tmp_path: Path) -> None:
    repository = new_repository()
    socket_node = Node(name=b"socket", type="socket", mode=0o755)
    snapshot = save_snapshot(
        repository, save_tree(repository, [file_node(repository, b"file", b"x"), socket_node])
    )

    result = restore(repository, snapshot, str(tmp_path / "target"))

    assert result.complete
    assert sorted(os.listdir(tmp_path / "target")) == ["file"]


# -- a property: any tree comes back -------------------------------------------------------------

SAFE_NAME = (
    st.binary(min_size=1, max_size=6)
    .filter(lambda name: b"/" not in name and b"\0" not in name)
    .filter(lambda name: name not in (b".", b".."))
)
ENTRY = st.tuples(
    st.lists(SAFE_NAME, max_size=2),
    SAFE_NAME,
    st.sampled_from(["file", "dir", "symlink"]),
    st.sampled_from([0, 1, 1023, 1024, 1025, 5000, 16384, 40_000, 70_000]),
    st.sampled_from([0o644, 0o600, 0o755, 0o444, 0o4711, 0o2755]),
    st.integers(min_value=0, max_value=2**62),
)


def build_random_tree(root: bytes, entries: list[tuple[list[bytes], bytes, str, int, int, int]]) -> None:
    os.mkdir(root)
    later: list[tuple[bytes, int, int]] = []
    for number, (folders, name, kind, size, mode, mtime) in enumerate(entries):
        directory = root
        for folder in folders:
            directory = directory + b"/" + folder
            if (os.path.lexists(directory) and not os.path.isdir(directory)) or os.path.islink(directory):
                break
            os.makedirs(directory, exist_ok=True)
        else:
            path = directory + b"/" + name
            if os.path.lexists(path):
                continue
            if kind == "file":
                with open(path, "wb") as stream:
                    stream.write(random_bytes(size, number))
                os.chmod(path, mode)
                os.utime(path, ns=(mtime, mtime))
            elif kind == "dir":
                os.mkdir(path)
                later.append((path, mode | 0o700, mtime))
            else:
                os.symlink(name * 3, path)
                os.utime(path, ns=(mtime, mtime), follow_symlinks=False)
    for path, mode, mtime in reversed(later):
        os.chmod(path, mode)
        os.utime(path, ns=(mtime, mtime))


@settings(max_examples=30, suppress_health_check=[HealthCheck.too_slow])
@given(entries=st.lists(ENTRY, max_size=25))
def test_any_tree_backed_up_comes_back_identical(
    entries: list[tuple[list[bytes], bytes, str, int, int, int]],
) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        source = Path(scratch) / "source"
        build_random_tree(os.fsencode(source), entries)
        repository = new_repository()
        snapshot = back_up(repository, source)

        result = restore(repository, snapshot, str(Path(scratch) / "target"), workers=2)

        assert result.complete, (result.errors, result.damaged)
        assert describe(inside(Path(scratch) / "target", source)) == describe(source)


# -- filters ------------------------------------------------------------------------------------


def build_filter_tree(source: Path) -> None:
    for relative in (
        "docs/a.txt",
        "docs/b.log",
        "docs/deep/c.txt",
        "src/main.py",
        "src/util/d.txt",
        "top.txt",
    ):
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text(relative)
    (source / "empty").mkdir()


def restored_files(root: Path) -> list[str]:
    return sorted(str(path.relative_to(root)) for path in root.rglob("*"))


def test_includes_restore_only_matching_paths_and_the_directories_leading_to_them(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    target = tmp_path / "target"

    result = restore(repository, snapshot, str(target), includes=["*.txt"])

    assert result.complete
    assert restored_files(inside(target, source)) == [
        "docs",
        "docs/a.txt",
        "docs/deep",
        "docs/deep/c.txt",
        "src",
        "src/util",
        "src/util/d.txt",
        "top.txt",
    ]
    assert os.stat(inside(target, source) / "docs").st_mtime_ns == os.stat(source / "docs").st_mtime_ns


def test_an_anchored_include_of_a_directory_restores_all_of_it_and_nothing_else(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    target = tmp_path / "target"

    restore(repository, snapshot, str(target), includes=[f"{source}/src"])

    assert restored_files(inside(target, source)) == ["src", "src/main.py", "src/util", "src/util/d.txt"]


def test_excludes_leave_out_matching_paths_and_everything_below_them(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)
    target = tmp_path / "target"

    result = restore(repository, snapshot, str(target), excludes=["*.log", f"{source}/src"])

    assert result.complete
    assert restored_files(inside(target, source)) == [
        "docs",
        "docs/a.txt",
        "docs/deep",
        "docs/deep/c.txt",
        "empty",
        "top.txt",
    ]


def test_an_include_that_matches_nothing_restores_nothing(tmp_path: Path) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    result = restore(repository, snapshot, str(tmp_path / "target"), includes=["/no/such/path"])

    assert result.complete
    assert result.files_restored == result.directories == 0
    assert os.listdir(tmp_path / "target") == []


def test_a_malformed_pattern_or_no_worker_is_a_configuration_error(tmp_path: Path) -> None:
    repository = new_repository()
    snapshot = save_snapshot(repository, save_tree(repository, []))
    with pytest.raises(ConfigurationError):
        restore(repository, snapshot, str(tmp_path / "target"), includes=["[unclosed"])
    with pytest.raises(ConfigurationError):
        restore(repository, snapshot, str(tmp_path / "target"), workers=0)


# -- never outside the target --------------------------------------------------------------------


def lenient_decode_tree(data: bytes) -> list[Node]:
    """Decode a tree like decode_tree, but accept duplicate and unsorted names (a defense is bypassed)."""
    return [Node.from_map(stored) for stored in msgpack.unpackb(data)["nodes"]]


def assert_nothing_outside(tmp_path: Path, target: Path) -> None:
    allowed = {"outside", "target", "repository"}
    assert {entry.name for entry in tmp_path.iterdir()} <= allowed, sorted(tmp_path.iterdir())
    assert not list(Path("/tmp").glob("restore-escape-*"))


@pytest.mark.parametrize(
    "evil_name",
    [b"..", b".", b"a/b", b"../../restore-escape-dotdot", b"/tmp/restore-escape-absolute", b"nul\0byte", b""],
)
def test_a_tree_with_an_unsafe_name_is_skipped_as_damaged(
    tmp_path: Path, outside: Path, evil_name: bytes
) -> None:
    repository = new_repository()
    evil = save_tree(repository, [file_node(repository, evil_name, b"escaped")])
    good = save_tree(repository, [file_node(repository, b"fine", b"kept")])
    root = save_tree(repository, [directory_node(b"evil", evil), directory_node(b"good", good)])
    snapshot = save_snapshot(repository, root)
    target = tmp_path / "target"

    result = restore(repository, snapshot, str(target))

    assert result.damaged == ["/evil"]
    assert (target / "good" / "fine").read_bytes() == b"kept"
    assert not (target / "evil").exists()
    assert_nothing_outside(tmp_path, target)


def test_a_tree_with_duplicate_names_is_skipped_as_damaged(tmp_path: Path, outside: Path) -> None:
    repository = new_repository()
    duplicated = save_tree(
        repository,
        [symlink_node(b"a", os.fsencode(outside)), file_node(repository, b"a", b"through the link")],
    )
    snapshot = save_snapshot(repository, save_tree(repository, [directory_node(b"dup", duplicated)]))

    result = restore(repository, snapshot, str(tmp_path / "target"))

    assert result.damaged == ["/dup"]
    assert_nothing_outside(tmp_path, tmp_path / "target")


@pytest.mark.parametrize("workers", [1, 2, 4])
def test_a_symlink_then_a_directory_of_the_same_name_never_writes_through_the_link(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    monkeypatch.setattr(restorer_module, "decode_tree", lenient_decode_tree)
    repository = new_repository()
    payload = save_tree(
        repository, [file_node(repository, b"victim", b"overwritten"), file_node(repository, b"new", b"x")]
    )
    nodes = [symlink_node(b"a", os.fsencode(outside)), directory_node(b"a", payload)]
    snapshot = save_snapshot(repository, save_tree(repository, nodes))
    target = tmp_path / "target"

    restore(repository, snapshot, str(target), workers=workers)

    assert_nothing_outside(tmp_path, target)
    assert not (target / "a").is_symlink() or not (target / "a" / "new").exists()


def test_an_absolute_symlink_then_a_file_of_the_same_name_replaces_the_link(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restorer_module, "decode_tree", lenient_decode_tree)
    repository = new_repository()
    nodes = [
        symlink_node(b"victim", os.fsencode(outside / "victim")),
        file_node(repository, b"victim", b"overwritten"),
    ]
    snapshot = save_snapshot(repository, save_tree(repository, nodes))
    target = tmp_path / "target"

    restore(repository, snapshot, str(target), workers=1)

    assert_nothing_outside(tmp_path, target)
    assert not (target / "victim").is_symlink()
    assert (target / "victim").read_bytes() == b"overwritten"


def test_hard_links_of_a_crafted_tree_only_link_files_inside_the_target(
    tmp_path: Path, outside: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restorer_module, "decode_tree", lenient_decode_tree)
    repository = new_repository()
    first = file_node(repository, b"first", b"inside")
    first.links, first.inode, first.device = 2, 99, 7
    second = file_node(repository, b"second", b"inside")
    second.links, second.inode, second.device = 2, 99, 7
    link_dir = save_tree(repository, [symlink_node(b"x", os.fsencode(outside)), second])
    snapshot = save_snapshot(repository, save_tree(repository, [directory_node(b"d", link_dir), first]))
    target = tmp_path / "target"

    result = restore(repository, snapshot, str(target))

    assert result.complete, result.errors
    assert os.stat(target / "first").st_ino == os.stat(target / "d" / "second").st_ino
    assert_nothing_outside(tmp_path, target)


@pytest.mark.parametrize("processes", [False, True])
def test_malformed_metadata_fails_only_its_own_entry(tmp_path: Path, processes: bool) -> None:
    repository = new_repository(LocalStorage(tmp_path / "repository", durable=False))
    huge_mode = file_node(repository, b"huge-mode", b"a", mode=2**40)
    bad_xattr = file_node(repository, b"odd-xattr", b"b")
    bad_xattr.xattrs = [(7, 8)]  # type: ignore[list-item]
    huge_owner = file_node(repository, b"huge-owner", b"c")
    huge_owner.uid, huge_owner.user = 2**40, ""
    fine = file_node(repository, b"fine", b"d")
    odd_directory = directory_node(b"odd-dir", save_tree(repository, [file_node(repository, b"inner", b"e")]))
    odd_directory.mode = 2**40
    nodes = [fine, huge_mode, huge_owner, odd_directory, bad_xattr]
    snapshot = save_snapshot(repository, save_tree(repository, nodes))
    target = tmp_path / "target"
    events: list[Event] = []

    result = restore(repository, snapshot, str(target), reporter=events.append, processes=processes)

    assert [path for path, _message in result.errors] == ["/huge-mode"]
    assert "malformed" in result.errors[0][1]
    assert (target / "fine").read_bytes() == b"d"
    assert (target / "odd-dir" / "inner").read_bytes() == b"e"
    warned = {warning.path for warning in events_of(events, ItemWarning)}
    assert {"/odd-xattr", "/odd-dir", "/huge-mode"} <= warned
    if AS_ROOT:
        assert "/huge-owner" in warned


def test_a_symlink_already_in_the_target_is_replaced_not_followed(tmp_path: Path, outside: Path) -> None:
    source = tmp_path / "target-source"
    source.mkdir()
    (source / "victim").write_bytes(b"restored content")
    (source / "folder").mkdir()
    (source / "folder" / "inner").write_bytes(b"inner content")
    repository = new_repository()
    snapshot = back_up(repository, source)
    target = tmp_path / "target"
    landing = inside(target, source)
    landing.mkdir(parents=True)
    os.symlink(outside / "victim", landing / "victim")
    os.symlink(outside, landing / "folder")

    result = restore(repository, snapshot, str(target))

    assert result.complete, result.errors
    assert not (landing / "victim").is_symlink() and (landing / "victim").read_bytes() == b"restored content"
    assert not (landing / "folder").is_symlink()
    assert (landing / "folder" / "inner").read_bytes() == b"inner content"


def test_a_file_in_the_target_hard_linked_elsewhere_is_replaced_not_written_through(
    tmp_path: Path, outside: Path
) -> None:
    repository = new_repository()
    snapshot = save_snapshot(
        repository, save_tree(repository, [file_node(repository, b"victim", b"new content")])
    )
    target = tmp_path / "target"
    target.mkdir()
    os.link(outside / "victim", target / "victim")

    result = restore(repository, snapshot, str(target))

    assert result.complete
    assert (target / "victim").read_bytes() == b"new content"
    assert (outside / "victim").read_bytes() == b"precious"


def test_a_symlink_at_a_directory_of_the_path_above_is_replaced(tmp_path: Path, outside: Path) -> None:
    repository = new_repository()
    inner = save_tree(repository, [file_node(repository, b"victim", b"new content")])
    snapshot = save_snapshot(repository, save_tree(repository, [directory_node(b"d", inner)]))
    target = tmp_path / "target"
    target.mkdir()
    os.symlink(outside, target / "d")

    result = restore(repository, snapshot, str(target))

    assert result.complete
    assert not (target / "d").is_symlink()
    assert (target / "d" / "victim").read_bytes() == b"new content"


def test_a_non_empty_directory_in_the_way_of_a_file_is_an_error_for_that_file_only(tmp_path: Path) -> None:
    repository = new_repository()
    nodes = [file_node(repository, b"blocked", b"x"), file_node(repository, b"free", b"y")]
    snapshot = save_snapshot(repository, save_tree(repository, nodes))
    target = tmp_path / "target"
    (target / "blocked").mkdir(parents=True)
    (target / "blocked" / "keep").write_bytes(b"keep")
    events: list[Event] = []

    result = restore(repository, snapshot, str(target), reporter=events.append)

    assert [path for path, _message in result.errors] == ["/blocked"]
    assert "not empty" in result.errors[0][1]
    assert (target / "free").read_bytes() == b"y"
    assert (target / "blocked" / "keep").read_bytes() == b"keep"
    assert [warning.path for warning in events_of(events, ItemWarning)] == ["/blocked"]


# -- damage ---------------------------------------------------------------------------------------


class DamageFixture:
    """A repository of many files spread over several small packs, one of which gets damaged."""

    def __init__(self, tmp_path: Path) -> None:
        self.storage = MemoryStorage()
        self.source = tmp_path / "source"
        generator = random.Random(3)
        for number in range(60):
            path = self.source / f"dir{number % 4}" / f"file{number}.bin"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(generator.randbytes(generator.choice([0, 500, 3000, 30_000, 200_000])))
        self.repository = new_repository(self.storage, pack_size=1024 * 1024)
        self.snapshot = back_up(self.repository, self.source)
        self.files: dict[str, Node] = {}
        self.collect(self.snapshot.tree, "")

    def collect(self, tree_id: bytes, path: str) -> None:
        for node in decode_tree(self.repository.load_blob(tree_id)):
            child = f"{path}/{os.fsdecode(node.name)}"
            if node.type == DIRECTORY:
                assert node.subtree is not None
                self.collect(node.subtree, child)
            else:
                self.files[child] = node

    def data_pack(self) -> bytes:
        """Return the pack holding the most content blobs of the snapshot."""
        counts: dict[bytes, int] = {}
        for node in self.files.values():
            for blob_id in node.content:
                location = self.repository.index.lookup(blob_id)
                assert location is not None
                counts[location.pack_id] = counts.get(location.pack_id, 0) + 1
        return max(counts, key=lambda pack_id: counts[pack_id])

    def affected(self, damaged: set[bytes]) -> set[str]:
        return {path for path, node in self.files.items() if damaged & set(node.content)}


def test_a_missing_pack_damages_only_the_files_with_content_in_it(tmp_path: Path) -> None:
    fixture = DamageFixture(tmp_path)
    pack_id = fixture.data_pack()
    lost = {blob_id for blob_id, location in fixture.repository.index.blobs() if location.pack_id == pack_id}
    fixture.storage.remove(pack_name(pack_id))
    expected = fixture.affected(lost)
    assert expected and len(expected) < len(fixture.files)
    target = tmp_path / "target"
    events: list[Event] = []

    result = restore(fixture.repository, fixture.snapshot, str(target), reporter=events.append)

    assert set(result.damaged) == expected
    assert not result.errors
    for path, node in fixture.files.items():
        restored = Path(os.fsdecode(os.fsencode(target) + os.fsencode(path)))
        assert restored.stat().st_size == node.size
        if path not in expected:
            assert restored.read_bytes() == Path(path).read_bytes()
    assert {warning.path for warning in events_of(events, ItemWarning)} == expected


def test_a_corrupted_blob_leaves_a_hole_of_its_size_and_the_rest_of_the_file_intact(tmp_path: Path) -> None:
    fixture = DamageFixture(tmp_path)
    path, node = next((path, node) for path, node in sorted(fixture.files.items()) if len(node.content) >= 3)
    victim = node.content[1]
    location = fixture.repository.index.lookup(victim)
    assert location is not None
    fixture.storage.corrupt(pack_name(location.pack_id), location.offset + location.length // 2)
    target = tmp_path / "target"

    result = restore(fixture.repository, fixture.snapshot, str(target))

    assert set(result.damaged) == fixture.affected({victim})
    original = Path(path).read_bytes()
    restored = Path(os.fsdecode(os.fsencode(target) + os.fsencode(path))).read_bytes()
    start = fixture.repository.index.lookup(node.content[0]).raw_length  # type: ignore[union-attr]
    end = start + location.raw_length
    assert len(restored) == len(original)
    assert restored[:start] == original[:start]
    assert restored[start:end] == bytes(end - start)
    assert restored[end:] == original[end:]


def subtree_at(repository: Repository, tree_id: bytes, path: Path) -> bytes:
    """Return the tree ID of the directory at an absolute path of a snapshot."""
    for name in os.fsencode(path).split(b"/"):
        if name:
            node = next(node for node in decode_tree(repository.load_blob(tree_id)) if node.name == name)
            assert node.subtree is not None
            tree_id = node.subtree
    return tree_id


def test_a_damaged_tree_names_its_directory_and_the_rest_is_restored(tmp_path: Path) -> None:
    fixture = DamageFixture(tmp_path)
    location = fixture.repository.index.lookup(
        subtree_at(fixture.repository, fixture.snapshot.tree, fixture.source / "dir1")
    )
    assert location is not None
    fixture.storage.corrupt(pack_name(location.pack_id), location.offset + 20)
    target = tmp_path / "target"
    events: list[Event] = []

    result = restore(fixture.repository, fixture.snapshot, str(target), reporter=events.append)

    assert result.damaged == [str(fixture.source / "dir1")]
    assert [warning.path for warning in events_of(events, ItemWarning)] == [str(fixture.source / "dir1")]
    assert not inside(target, fixture.source / "dir1").exists()
    for other in ("dir0", "dir2", "dir3"):
        assert_same_tree(fixture.source / other, inside(target, fixture.source / other))


def test_a_damaged_root_tree_restores_nothing_and_says_so(tmp_path: Path) -> None:
    fixture = DamageFixture(tmp_path)
    location = fixture.repository.index.lookup(fixture.snapshot.tree)
    assert location is not None
    fixture.storage.corrupt(pack_name(location.pack_id), location.offset + 20)

    result = restore(fixture.repository, fixture.snapshot, str(tmp_path / "target"))

    assert result.damaged == ["/"]
    assert os.listdir(tmp_path / "target") == []


def test_verify_finds_a_blob_whose_content_does_not_match_the_id_the_tree_names(tmp_path: Path) -> None:
    repository = new_repository()
    real = save_data(repository, b"what is stored")
    repository.flush()
    location = repository.index.lookup(real)
    assert location is not None
    forged = b"\x02" * 32
    entry = BlobEntry(
        BlobType.DATA, forged, location.offset, location.length, location.raw_length, location.compression
    )
    repository.index.add_pack(
        PackRecord(location.pack_id, repository.index.packs()[location.pack_id], [entry])
    )
    node = Node(name=b"file", type=FILE, mode=0o644, size=14, content=[forged])
    snapshot = save_snapshot(repository, save_tree(repository, [node]))

    checked = restore(repository, snapshot, str(tmp_path / "checked"))
    unchecked = restore(repository, snapshot, str(tmp_path / "unchecked"), verify=False)

    assert checked.damaged == ["/file"]
    assert (tmp_path / "checked" / "file").read_bytes() == bytes(14)
    assert unchecked.complete
    assert (tmp_path / "unchecked" / "file").read_bytes() == b"what is stored"


# -- the target ------------------------------------------------------------------------------------


def test_a_file_in_place_of_the_target_is_a_target_error(tmp_path: Path) -> None:
    repository = new_repository()
    snapshot = save_snapshot(repository, save_tree(repository, [file_node(repository, b"f", b"x")]))
    (tmp_path / "target").write_bytes(b"not a directory")

    with pytest.raises(TargetError, match="not a directory"):
        restore(repository, snapshot, str(tmp_path / "target"))
    with pytest.raises(TargetError):
        restore(repository, snapshot, str(tmp_path / "target" / "below"))


def test_a_read_only_target_is_a_target_error(tmp_path: Path) -> None:
    repository = new_repository()
    snapshot = save_snapshot(repository, save_tree(repository, [file_node(repository, b"f", b"x")]))
    target = tmp_path / "target"
    target.mkdir()
    if AS_ROOT:
        mounted = subprocess.run(
            ["mount", "--bind", "-o", "ro", str(target), str(target)], check=False, capture_output=True
        )
        if mounted.returncode != 0:
            pytest.skip(f"cannot make a read-only bind mount here: {mounted.stderr.decode().strip()}")
    else:
        target.chmod(0o500)
    try:
        with pytest.raises(TargetError, match="not writable"):
            restore(repository, snapshot, str(target))
    finally:
        if AS_ROOT:
            subprocess.run(["umount", str(target)], check=True)
        else:
            target.chmod(0o700)
    assert os.listdir(target) == []


def test_a_full_disk_stops_the_restore_with_a_target_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    repository = new_repository()
    snapshot = back_up(repository, source)

    def full(_fd: int, _data: bytes, _offset: int) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(restorer_module.os, "pwrite", full)
    with pytest.raises(TargetError, match="No space left"):
        restore(repository, snapshot, str(tmp_path / "target"))


def test_the_target_is_created_when_missing(tmp_path: Path) -> None:
    repository = new_repository()
    snapshot = save_snapshot(repository, save_tree(repository, [file_node(repository, b"f", b"x")]))

    result: RestoreResult = restore(repository, snapshot, str(tmp_path / "new" / "target"))

    assert result.complete and (tmp_path / "new" / "target" / "f").read_bytes() == b"x"


def test_a_blob_missing_from_the_index_leaves_a_file_of_the_right_size(tmp_path: Path) -> None:
    repository = new_repository()
    known = save_data(repository, b"a" * 100)
    node = Node(name=b"f", type=FILE, mode=0o644, size=150, content=[known, b"\x01" * 32])
    snapshot = save_snapshot(repository, save_tree(repository, [node]))

    result = restore(repository, snapshot, str(tmp_path / "target"))

    assert result.damaged == ["/f"]
    assert (tmp_path / "target" / "f").read_bytes() == b"a" * 100 + bytes(50)


def test_integrity_errors_are_never_raised_for_damaged_content(tmp_path: Path) -> None:
    fixture = DamageFixture(tmp_path)
    for pack in {location.pack_id for _blob, location in fixture.repository.index.blobs()}:
        fixture.storage.corrupt(pack_name(pack), 100)
    try:
        result = restore(fixture.repository, fixture.snapshot, str(tmp_path / "target"))
    except IntegrityError as error:  # pragma: no cover - the failure being tested for
        pytest.fail(f"restore raised {error}")
    assert result.damaged


# -- worker processes -------------------------------------------------------------------------------


@pytest.fixture
def local_repository(tmp_path: Path) -> Repository:
    """A repository on local disk, which worker processes can open."""
    return new_repository(LocalStorage(tmp_path / "repository", durable=False))


def test_worker_processes_restore_a_varied_tree_identically(
    tmp_path: Path, local_repository: Repository
) -> None:
    source = tmp_path / "source"
    build_varied_tree(source)
    (source / "nested" / "bigger").write_bytes(random_bytes(300_000, 9))
    snapshot = back_up(local_repository, source)
    target = tmp_path / "target"
    events: list[Event] = []

    result = restore(local_repository, snapshot, str(target), reporter=events.append, processes=True)

    assert result.complete, (result.errors, result.damaged)
    assert_same_tree(source, inside(target, source))
    final = events_of(events, Progress)[-1]
    assert (final.files_done, final.bytes_done) == (final.files_total, final.bytes_total)
    assert not events_of(events, ItemWarning)


def test_worker_processes_write_large_files_in_pieces(
    tmp_path: Path, local_repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restorer_module, "PIECE_BYTES", 40_000)
    source = tmp_path / "source"
    source.mkdir()
    (source / "big").write_bytes(random_bytes(700_000, 10))
    (source / "small").write_bytes(b"small")
    snapshot = back_up(local_repository, source)

    result = restore(local_repository, snapshot, str(tmp_path / "target"), processes=True, workers=3)

    assert result.complete, result.errors
    assert_same_tree(source, inside(tmp_path / "target", source))


def test_worker_processes_name_the_files_of_a_missing_pack(
    tmp_path: Path, local_repository: Repository
) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    (source / "docs" / "large.bin").write_bytes(random_bytes(60_000, 11))
    snapshot = back_up(local_repository, source)
    node = next(node for path, node in walk_files(local_repository, snapshot) if path.endswith("large.bin"))
    location = local_repository.index.lookup(node.content[0])
    assert location is not None
    lost = {blob for blob, where in local_repository.index.blobs() if where.pack_id == location.pack_id}
    expected = {path for path, file in walk_files(local_repository, snapshot) if lost & set(file.content)}
    local_repository.storage.remove(pack_name(location.pack_id))
    target = tmp_path / "target"

    result = restore(local_repository, snapshot, str(target), processes=True)

    assert set(result.damaged) == expected
    assert not result.errors
    for path, file in walk_files(local_repository, snapshot):
        restored = Path(os.fsdecode(os.fsencode(target) + os.fsencode(path)))
        assert restored.stat().st_size == file.size
        if path not in expected:
            assert restored.read_bytes() == Path(path).read_bytes()


def test_worker_processes_never_write_through_a_symlink_of_the_same_name(
    tmp_path: Path, outside: Path, local_repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(restorer_module, "decode_tree", lenient_decode_tree)
    repository = local_repository
    inner = [file_node(repository, b"victim", b"overwritten"), file_node(repository, b"new", b"x")]
    nodes = [symlink_node(b"a", os.fsencode(outside)), directory_node(b"a", save_tree(repository, inner))]
    snapshot = save_snapshot(repository, save_tree(repository, nodes))

    restore(repository, snapshot, str(tmp_path / "target"), processes=True)

    assert_nothing_outside(tmp_path, tmp_path / "target")


def test_a_worker_process_that_dies_fails_the_restore_cleanly(
    tmp_path: Path, local_repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = tmp_path / "source"
    build_filter_tree(source)
    snapshot = back_up(local_repository, source)
    original = restorer_module._ProcessWorkers.submit

    def kill_then_submit(self: Any, job: Any) -> None:
        for worker in self.workers:
            worker.process.kill()
            worker.process.wait()
        original(self, job)

    monkeypatch.setattr(restorer_module._ProcessWorkers, "submit", kill_then_submit)
    with pytest.raises(ResguardoError, match="worker process ended unexpectedly"):
        restore(local_repository, snapshot, str(tmp_path / "target"), processes=True)


def test_processes_are_refused_for_a_storage_other_processes_cannot_open(tmp_path: Path) -> None:
    repository = new_repository()
    snapshot = save_snapshot(repository, save_tree(repository, []))
    with pytest.raises(ConfigurationError, match="worker processes"):
        restore(repository, snapshot, str(tmp_path / "target"), processes=True)


def test_a_worker_process_refuses_a_directory_replaced_during_the_restore(tmp_path: Path) -> None:
    (tmp_path / "target" / "a" / "b").mkdir(parents=True)
    target_fd = os.open(tmp_path / "target", os.O_RDONLY | os.O_DIRECTORY)
    try:
        opener = restorer_module._DirectoryOpener(target_fd)
        status = os.stat(tmp_path / "target" / "a" / "b")
        group = restorer_module._Group(b"/a/b", (status.st_dev, status.st_ino), False)
        assert opener.open(group) >= 0
        (tmp_path / "target" / "a" / "b").rename(tmp_path / "target" / "a" / "old")
        (tmp_path / "target" / "a" / "b").mkdir()
        with pytest.raises(OSError, match="replaced"):
            restorer_module._DirectoryOpener(target_fd).open(group)
        (tmp_path / "target" / "a" / "b").rmdir()
        os.symlink(tmp_path / "target" / "a" / "old", tmp_path / "target" / "a" / "b")
        with pytest.raises(OSError):
            restorer_module._DirectoryOpener(target_fd).open(group)
    finally:
        os.close(target_fd)


def test_a_fatal_target_error_survives_the_trip_back_from_a_worker_process() -> None:
    outcome = restorer_module._Outcome(
        fatal=restorer_module._FatalTargetError("/x", "No space left on device")
    )
    again = pickle.loads(pickle.dumps(outcome))
    assert again.fatal is not None
    assert (again.fatal.path, again.fatal.reason) == ("/x", "No space left on device")


def walk_files(repository: Repository, snapshot: Snapshot) -> Iterator[tuple[str, Node]]:
    """Yield (absolute path, node) of every non-directory entry of a snapshot."""
    stack = [(snapshot.tree, "")]
    while stack:
        tree_id, path = stack.pop()
        for node in decode_tree(repository.load_blob(tree_id)):
            child = f"{path}/{os.fsdecode(node.name)}"
            if node.type == DIRECTORY:
                assert node.subtree is not None
                stack.append((node.subtree, child))
            else:
                yield child, node
