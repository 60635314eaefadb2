"""Tests of backup: what a snapshot records, what is read and stored again, and how bad input is met.

Tests that spy on file reading, or make reading fail for one path, run the backup with its content
workers as threads in this process (``processes=False``), where the spies can see the reads; the
others use the default, which for a local repository may be worker processes.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import random
import shutil
import socket
import subprocess
import tempfile
import threading
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import resguardo.backends.local as local_backend
import resguardo.engine.archiver as archiver_module
from resguardo.backends import LocalStorage, MemoryStorage
from resguardo.core.errors import ConfigurationError, SourceError, StorageError
from resguardo.engine.archiver import BackupOptions, backup, backup_stream
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.events import Event, ItemWarning
from resguardo.engine.repository import DATA_PREFIX, Repository
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, SYMLINK, Node, decode_tree
from resguardo.engine.walk import CACHEDIR_TAG_SIGNATURE

try:
    from resguardo.backends.faulty import FaultyStorage
except ImportError:  # pragma: no cover - the fault-injecting backend is optional
    FaultyStorage = None  # type: ignore[assignment,misc]

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
SMALL_CHUNKS = ChunkerParameters(min_size=1024, average_size=4096, max_size=16384)
MiB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------------


def in_process(**options: Any) -> BackupOptions:
    """Backup options that keep content workers as threads of this process (where spies see reads)."""
    if "processes" in BackupOptions.__dataclass_fields__:
        options.setdefault("processes", False)
    return BackupOptions(**options)


def random_bytes(size: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(size)


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def subtree_of(repository: Repository, tree_id: bytes | None, folder: Path) -> bytes | None:
    """Return the ID of the tree of ``folder`` (an absolute path) in the snapshot tree ``tree_id``."""
    for part in folder.parts[1:]:
        tree_id = tree_nodes(repository, tree_id)[os.fsencode(part)].subtree
    return tree_id


def tree_nodes(repository: Repository, tree_id: bytes | None) -> dict[bytes, Node]:
    assert tree_id is not None
    return {node.name: node for node in decode_tree(repository.load_blob(tree_id))}


def node_at(repository: Repository, snapshot: Snapshot, path: str | Path) -> Node | None:
    """Return the node a snapshot holds for an absolute path, or None."""
    node = Node(name=b"/", type=DIRECTORY, subtree=snapshot.tree)
    for component in os.fsencode(str(path)).split(b"/"):
        if not component:
            continue
        if node.type != DIRECTORY:
            return None
        found = tree_nodes(repository, node.subtree).get(component)
        if found is None:
            return None
        node = found
    return node


def content_of(repository: Repository, node: Node) -> bytes:
    return b"".join(repository.load_blob(blob_id) for blob_id in node.content)


def stored_files(repository: Repository, snapshot: Snapshot, root: Path) -> dict[str, bytes]:
    """Return {path relative to root: content} of every file the snapshot holds below ``root``."""
    top = node_at(repository, snapshot, root)
    assert top is not None and top.type == DIRECTORY
    found: dict[str, bytes] = {}

    def walk(node: Node, prefix: str) -> None:
        for child in tree_nodes(repository, node.subtree).values():
            relative = prefix + os.fsdecode(child.name)
            if child.type == DIRECTORY:
                walk(child, relative + "/")
            elif child.type == FILE:
                found[relative] = content_of(repository, child)

    walk(top, "")
    return found


def files_on_disk(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not path.is_symlink()
    }


class Events:
    """A reporter that keeps every event."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.lock = threading.Lock()

    def __call__(self, event: Event) -> None:
        with self.lock:
            self.events.append(event)

    def warnings(self) -> list[ItemWarning]:
        return [event for event in self.events if isinstance(event, ItemWarning)]


class _ChangingFile:
    """A file being read whose content changes on disk right after the first read."""

    def __init__(self, stream: Any, change: Callable[[], None]) -> None:
        self.stream = stream
        self.change: Callable[[], None] | None = change

    def read(self, size: int = -1) -> bytes:
        data = self.stream.read(size)
        if self.change is not None:
            self.change, change = None, self.change
            change()
        return data

    def fileno(self) -> int:
        return int(self.stream.fileno())

    def __enter__(self) -> _ChangingFile:
        return self

    def __exit__(self, *_exception: object) -> None:
        self.stream.close()


class ReadSpy:
    """Records the source files the archiver opens for reading, and can make chosen ones fail."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
        self.root = os.fsencode(str(root))
        self.opened: list[str] = []
        self.failures: dict[str, OSError] = {}
        self.before_read: dict[str, Callable[[], None]] = {}
        self.during_read: dict[str, Callable[[], None]] = {}
        self.lock = threading.Lock()
        real_read_whole = archiver_module._read_whole_file
        real_open = builtins.open

        def note(path: object) -> str | None:
            encoded = os.fsencode(path) if isinstance(path, (str, bytes, os.PathLike)) else b""
            if not encoded.startswith(self.root):
                return None
            shown = os.fsdecode(encoded)
            with self.lock:
                self.opened.append(shown)
            if shown in self.before_read:
                self.before_read.pop(shown)()
            if shown in self.failures:
                raise self.failures[shown]
            return shown

        def read_whole(path: bytes) -> tuple[bytes, os.stat_result]:
            note(path)
            return real_read_whole(path)

        def spying_open(file: Any, *arguments: Any, **keywords: Any) -> Any:
            shown = note(file)
            stream = real_open(file, *arguments, **keywords)
            if shown is not None and shown in self.during_read:
                return _ChangingFile(stream, self.during_read.pop(shown))
            return stream

        monkeypatch.setattr(archiver_module, "_read_whole_file", read_whole)
        monkeypatch.setattr(archiver_module, "open", spying_open, raising=False)

    def count(self, path: Path) -> int:
        return self.opened.count(str(path))


@pytest.fixture
def repository(tmp_path: Path) -> Repository:
    storage = LocalStorage(tmp_path / "repository", durable=False)
    return Repository.create(storage, b"pass", chunker=SMALL_CHUNKS, pack_size=MiB, kdf=FAST_KDF)


@pytest.fixture
def memory_repository() -> Repository:
    return Repository.create(MemoryStorage(), b"pass", chunker=SMALL_CHUNKS, pack_size=MiB, kdf=FAST_KDF)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    root = tmp_path / "source"
    write(root / "a.txt", b"hello, world\n")
    write(root / "empty", b"")
    write(root / "sub" / "b.bin", random_bytes(200_000, 1))
    write(root / "sub" / "deeper" / "c.txt", b"nested text " * 500)
    (root / "empty-dir").mkdir()
    (root / "link").symlink_to("a.txt")
    return root


# -- what a snapshot records -------------------------------------------------------------------


def test_a_backup_records_absolute_paths_and_nested_directories(
    repository: Repository, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(source.parent)
    result = backup(repository, ["source/sub/../"])
    snapshot = result.snapshot
    assert snapshot.paths == [str(source)]
    assert not result.partial and snapshot.unreadable == []
    assert stored_files(repository, snapshot, source) == files_on_disk(source)
    link = node_at(repository, snapshot, source / "link")
    assert link is not None and link.type == SYMLINK and link.target == b"a.txt"
    empty_dir = node_at(repository, snapshot, source / "empty-dir")
    assert empty_dir is not None and empty_dir.type == DIRECTORY
    assert tree_nodes(repository, empty_dir.subtree) == {}
    deep = node_at(repository, snapshot, source / "sub" / "deeper" / "c.txt")
    status = (source / "sub" / "deeper" / "c.txt").stat()
    assert deep is not None
    assert (deep.size, deep.mtime_ns, deep.mode, deep.inode) == (
        status.st_size,
        status.st_mtime_ns,
        status.st_mode & 0o7777,
        status.st_ino,
    )
    # The directories above the backed-up path are recorded too, so that the path stays absolute.
    assert node_at(repository, snapshot, source.parent) is not None
    assert set(tree_nodes(repository, node_at(repository, snapshot, source.parent).subtree)) == {b"source"}  # type: ignore[union-attr]


def test_several_paths_are_stored_side_by_side_and_nested_ones_once(
    repository: Repository, source: Path
) -> None:
    result = backup(repository, [str(source / "sub"), str(source / "a.txt"), str(source / "sub" / "deeper")])
    assert sorted(result.snapshot.paths) == sorted([str(source / "sub"), str(source / "a.txt")])
    assert node_at(repository, result.snapshot, source / "a.txt") is not None
    assert node_at(repository, result.snapshot, source / "sub" / "deeper" / "c.txt") is not None
    assert node_at(repository, result.snapshot, source / "empty") is None
    assert result.snapshot.summary["files_new"] == 3


def test_summary_counts_new_changed_and_unchanged_files_across_backups(
    repository: Repository, source: Path
) -> None:
    first = backup(repository, [str(source)]).snapshot
    assert first.summary["files_new"] == 4  # regular files; the symlink is not one
    assert first.summary["files_changed"] == 0
    assert first.summary["files_unchanged"] == 0
    assert first.summary["directories"] == 4
    assert first.parent is None
    assert first.summary["data_added"] > 0

    write(source / "a.txt", b"hello, changed world\n")
    write(source / "sub" / "new.txt", b"a new file")
    second = backup(repository, [str(source)]).snapshot
    assert second.parent == first.id
    assert (
        second.summary["files_new"],
        second.summary["files_changed"],
        second.summary["files_unchanged"],
    ) == (
        1,
        1,
        3,
    )

    third = backup(repository, [str(source)]).snapshot
    assert third.parent == second.id
    assert (third.summary["files_new"], third.summary["files_changed"], third.summary["files_unchanged"]) == (
        0,
        0,
        5,
    )
    # Nothing of the source was stored again. (The folders above it, /tmp and the like, are in the
    # snapshot too, and other processes may touch their mtimes between two backups: not compared.)
    assert third.summary["data_blobs"] == 0
    assert subtree_of(repository, third.tree, source) == subtree_of(repository, second.tree, source)
    assert stored_files(repository, third, source) == files_on_disk(source)


@pytest.mark.parametrize("with_cache", [False, True], ids=["parent-only", "with-metadata-cache"])
def test_unchanged_files_are_not_read_again(
    repository: Repository, source: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, with_cache: bool
) -> None:
    cache = str(tmp_path / "cache") if with_cache else None
    spy = ReadSpy(monkeypatch, source)
    backup(repository, [str(source)], in_process(cache_dir=cache))
    assert spy.count(source / "a.txt") == 1
    assert spy.count(source / "sub" / "b.bin") == 1
    spy.opened.clear()
    # From now on, reading these two files fails loudly; their size, times and inode stay the same.
    spy.failures[str(source / "a.txt")] = PermissionError(errno.EACCES, "must not be read")
    spy.failures[str(source / "sub" / "b.bin")] = PermissionError(errno.EACCES, "must not be read")
    write(source / "sub" / "deeper" / "c.txt", b"changed " * 300)
    result = backup(repository, [str(source)], in_process(cache_dir=cache))
    assert not result.partial
    assert spy.count(source / "a.txt") == 0
    assert spy.count(source / "sub" / "b.bin") == 0
    assert spy.count(source / "sub" / "deeper" / "c.txt") == 1  # the spy does see the reads
    assert result.snapshot.summary["files_unchanged"] == 3  # regular files only, with or without the cache
    assert result.snapshot.summary["total_files_processed"] == 5  # and the symlink
    assert stored_files(repository, result.snapshot, source) == files_on_disk(source)


def test_a_file_with_the_same_size_and_mtime_but_a_new_ctime_is_read_again(
    repository: Repository, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup(repository, [str(source)])
    path = source / "a.txt"
    before = path.stat()
    path.write_bytes(b"HELLO, WORLD\n")  # same size
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # same mtime; ctime moves on
    spy = ReadSpy(monkeypatch, source)
    result = backup(repository, [str(source)], in_process())
    assert spy.count(path) == 1
    assert result.snapshot.summary["files_changed"] == 1
    node = node_at(repository, result.snapshot, path)
    assert node is not None and content_of(repository, node) == b"HELLO, WORLD\n"


def test_without_a_parent_every_file_is_read(
    repository: Repository, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    backup(repository, [str(source)])
    spy = ReadSpy(monkeypatch, source)
    result = backup(repository, [str(source)], in_process(use_parent=False))
    assert result.snapshot.parent is None
    assert spy.count(source / "a.txt") == 1
    assert result.snapshot.summary["files_unchanged"] == 0
    # Everything read was already stored. (Trees may be new: the folders above the source, recorded
    # too, change whenever a test running beside this one creates files there.)
    assert result.snapshot.summary["data_blobs"] == 0


def test_identical_content_is_stored_once(repository: Repository, tmp_path: Path) -> None:
    content = random_bytes(5 * MiB, 2)
    write(tmp_path / "copies" / "one.bin", content)
    write(tmp_path / "copies" / "nested" / "two.bin", content)
    result = backup(repository, [str(tmp_path / "copies")])
    added = result.snapshot.summary["data_added"]
    assert 5 * MiB < added < 5 * MiB + 256 * 1024
    one = node_at(repository, result.snapshot, tmp_path / "copies" / "one.bin")
    two = node_at(repository, result.snapshot, tmp_path / "copies" / "nested" / "two.bin")
    assert one is not None and two is not None
    assert one.content == two.content
    assert content_of(repository, two) == content
    stored = sum(item.size for item in repository.storage.list(DATA_PREFIX))
    assert stored < 5 * MiB + 512 * 1024


def test_an_insertion_in_a_large_file_changes_only_the_chunks_near_it(
    repository: Repository, tmp_path: Path
) -> None:
    path = tmp_path / "large" / "database.bin"
    original = random_bytes(3 * MiB, 3)
    write(path, original)
    first = backup(repository, [str(tmp_path / "large")]).snapshot
    middle = len(original) // 2
    edited = original[:middle] + b"INSERTED" + original[middle:]
    path.write_bytes(edited)
    second = backup(repository, [str(tmp_path / "large")]).snapshot
    before = node_at(repository, first, path)
    after = node_at(repository, second, path)
    assert before is not None and after is not None
    assert len(before.content) > 100  # about 3 MiB / 4 KiB chunks
    old, new = before.content, after.content
    prefix = next(n for n in range(min(len(old), len(new))) if old[n] != new[n])
    suffix = next(n for n in range(min(len(old), len(new))) if old[-1 - n] != new[-1 - n])
    # Boundaries depend on the repository's random gear table: the chunks the insertion touches are
    # usually 1 to 3, sometimes more, but content-defined chunking always falls back into step within a
    # few largest chunks. Counting chunks made this test fail about once in a hundred repositories.
    resynchronized_within = 4 * SMALL_CHUNKS.max_size
    changed_old = sum(len(repository.load_blob(blob_id)) for blob_id in old[prefix : len(old) - suffix])
    changed_new = sum(len(repository.load_blob(blob_id)) for blob_id in new[prefix : len(new) - suffix])
    assert changed_old <= resynchronized_within and changed_new <= resynchronized_within
    assert prefix > len(old) // 3 and suffix > len(old) // 3
    assert second.summary["data_added"] < resynchronized_within + 16 * 1024
    assert content_of(repository, after) == edited


# -- what is left out --------------------------------------------------------------------------


def test_excludes_leave_out_matching_files_and_directories(repository: Repository, tmp_path: Path) -> None:
    root = tmp_path / "project"
    write(root / "keep.py", b"print()")
    write(root / "scratch.tmp", b"temporary")
    write(root / "deep" / "er" / "notes.tmp", b"temporary")
    write(root / "__pycache__" / "keep.cpython-311.pyc", b"bytecode")
    write(root / "pkg" / "__pycache__" / "x.pyc", b"bytecode")
    write(root / "pkg" / "module.py", b"x = 1")
    write(root / "secret" / "key.pem", b"private")
    write(root / "other" / "secret" / "kept.txt", b"anchored patterns match only at their place")
    patterns = ["*.tmp", "__pycache__", str(root / "secret")]
    result = backup(repository, [str(root)], BackupOptions(excludes=patterns))
    assert sorted(stored_files(repository, result.snapshot, root)) == [
        "keep.py",
        "other/secret/kept.txt",
        "pkg/module.py",
    ]
    assert node_at(repository, result.snapshot, root / "secret") is None
    assert result.snapshot.excludes == patterns


def test_a_malformed_exclude_pattern_is_refused(repository: Repository, source: Path) -> None:
    with pytest.raises(ConfigurationError, match="unclosed"):
        backup(repository, [str(source)], BackupOptions(excludes=["[abc"]))


def test_exclude_caches_keeps_only_the_tag_of_a_tagged_directory(
    repository: Repository, tmp_path: Path
) -> None:
    root = tmp_path / "home"
    write(root / "document.txt", b"keep me")
    write(root / ".cache" / "CACHEDIR.TAG", CACHEDIR_TAG_SIGNATURE + b"\n# a cache\n")
    write(root / ".cache" / "big.bin", random_bytes(50_000, 4))
    write(root / "fake-cache" / "CACHEDIR.TAG", b"Signature: not the right one")
    write(root / "fake-cache" / "data.bin", b"kept: the tag is not valid")
    with_option = backup(repository, [str(root)], BackupOptions(exclude_caches=True)).snapshot
    assert sorted(stored_files(repository, with_option, root)) == [
        ".cache/CACHEDIR.TAG",
        "document.txt",
        "fake-cache/CACHEDIR.TAG",
        "fake-cache/data.bin",
    ]
    without_option = backup(repository, [str(root)]).snapshot
    assert ".cache/big.bin" in stored_files(repository, without_option, root)


@pytest.fixture
def mounted_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A small tmpfs mounted inside tmp_path (a second file system), or skip when mounting is not allowed."""
    mount_point = tmp_path / "tree" / "mounted"
    mount_point.mkdir(parents=True)
    if shutil.which("mount") is None:
        pytest.skip("no mount command to create a second file system")
    attempt = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "resguardo-test", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if attempt.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {attempt.stderr.decode(errors='replace').strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def test_one_file_system_keeps_mount_points_empty(repository: Repository, mounted_tmpfs: Path) -> None:
    root = mounted_tmpfs.parent
    write(root / "local.txt", b"on the first file system")
    write(mounted_tmpfs / "inner" / "remote.txt", b"on the second file system")
    assert os.stat(mounted_tmpfs).st_dev != os.stat(root).st_dev

    confined = backup(repository, [str(root)], BackupOptions(one_file_system=True)).snapshot
    assert stored_files(repository, confined, root) == {"local.txt": b"on the first file system"}
    mount_node = node_at(repository, confined, mounted_tmpfs)
    assert mount_node is not None and mount_node.type == DIRECTORY
    assert tree_nodes(repository, mount_node.subtree) == {}

    crossing = backup(repository, [str(root)]).snapshot
    assert "mounted/inner/remote.txt" in stored_files(repository, crossing, root)

    # A path given explicitly is backed up even when it lives on another file system.
    other = backup(repository, [str(mounted_tmpfs / "inner")], BackupOptions(one_file_system=True)).snapshot
    assert stored_files(repository, other, mounted_tmpfs / "inner") == {
        "remote.txt": b"on the second file system"
    }


def test_one_file_system_keeps_a_nested_path_given_on_another_file_system(
    repository: Repository, mounted_tmpfs: Path
) -> None:
    root = mounted_tmpfs.parent
    write(mounted_tmpfs / "inner" / "remote.txt", b"on the second file system")
    both = backup(repository, [str(root), str(mounted_tmpfs / "inner")], BackupOptions(one_file_system=True))
    assert "mounted/inner/remote.txt" in stored_files(repository, both.snapshot, root)


def test_one_file_system_changes_nothing_within_one_file_system(repository: Repository, source: Path) -> None:
    confined = backup(repository, [str(source)], BackupOptions(one_file_system=True)).snapshot
    assert stored_files(repository, confined, source) == files_on_disk(source)


# -- tags, hostname, parents -------------------------------------------------------------------


def test_tags_and_hostname_are_recorded(repository: Repository, source: Path) -> None:
    tagged = backup(repository, [str(source)], BackupOptions(tags=["daily", "finance"], hostname="fs01"))
    assert tagged.snapshot.tags == ["daily", "finance"]
    assert tagged.snapshot.hostname == "fs01"
    default = backup(repository, [str(source)])
    assert default.snapshot.hostname == socket.gethostname()
    assert default.snapshot.tags == []
    assert default.snapshot.username != "" or os.getuid() != 0


def test_the_parent_is_the_latest_snapshot_of_the_same_host_and_paths(
    repository: Repository, source: Path
) -> None:
    paths = [str(source / "sub"), str(source / "a.txt")]
    first = backup(repository, paths, BackupOptions(hostname="alpha")).snapshot
    backup(repository, paths, BackupOptions(hostname="beta"))
    backup(repository, [str(source / "sub")], BackupOptions(hostname="alpha"))
    second = backup(repository, list(reversed(paths)), BackupOptions(hostname="alpha")).snapshot
    assert second.parent == first.id
    third = backup(repository, paths, BackupOptions(hostname="alpha")).snapshot
    assert third.parent == second.id
    chosen = backup(repository, paths, BackupOptions(hostname="alpha", parent=first.id[:10])).snapshot
    assert chosen.parent == first.id
    assert chosen.summary["files_unchanged"] == 3


# -- streams -----------------------------------------------------------------------------------


def test_a_stream_from_a_pipe_is_backed_up_without_a_temporary_file(
    repository: Repository, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_temporary_files(*_arguments: object, **_keywords: object) -> None:
        raise AssertionError("backup_stream must not use a temporary file")

    for name in ("mkstemp", "mkdtemp", "NamedTemporaryFile", "TemporaryFile", "SpooledTemporaryFile"):
        monkeypatch.setattr(tempfile, name, no_temporary_files)
    payload = random_bytes(3 * MiB, 5) + b"-- SQL dump --\n" * 20_000
    read_end, write_end = os.pipe()

    def writer() -> None:
        with os.fdopen(write_end, "wb") as stream:
            for start in range(0, len(payload), 65536):
                stream.write(payload[start : start + 65536])

    thread = threading.Thread(target=writer)
    thread.start()
    with os.fdopen(read_end, "rb", buffering=0) as stream:
        result = backup_stream(repository, stream, "database.sql", BackupOptions(tags=["db"]))
    thread.join()
    snapshot = result.snapshot
    assert snapshot.paths == ["database.sql"]
    assert snapshot.tags == ["db"]
    (node,) = decode_tree(repository.load_blob(snapshot.tree))
    assert node.name == b"database.sql" and node.type == FILE
    assert node.size == len(payload)
    assert content_of(repository, node) == payload
    assert snapshot.summary["files_new"] == 1

    again = backup_stream(repository, io.BytesIO(payload), "database.sql")
    assert again.snapshot.parent == snapshot.id
    assert again.snapshot.summary["files_changed"] == 1
    assert again.snapshot.summary["data_blobs"] == 0  # only the directory listing is new (its mtime)


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "nul\0"])
def test_a_stream_name_that_is_not_a_plain_file_name_is_refused(repository: Repository, name: str) -> None:
    with pytest.raises(ConfigurationError, match="not a valid file name"):
        backup_stream(repository, io.BytesIO(b"data"), name)


def test_a_failing_stream_raises_source_error_and_saves_no_snapshot(repository: Repository) -> None:
    class BrokenPipe(io.RawIOBase):
        def readable(self) -> bool:
            return True

        def readinto(self, _buffer: Any) -> int:
            raise OSError(errno.EIO, "Input/output error")

    with pytest.raises(SourceError, match="reading the input stream failed"):
        backup_stream(repository, BrokenPipe(), "dump.sql")  # type: ignore[arg-type]
    assert repository.snapshot_ids() == []


# -- bad input ---------------------------------------------------------------------------------


def test_a_missing_path_raises_source_error_naming_it(repository: Repository, tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(SourceError) as raised:
        backup(repository, [str(missing)])
    assert str(missing) in raised.value.message
    assert "No such file or directory" in raised.value.message
    assert repository.snapshot_ids() == []


def test_no_paths_is_a_configuration_error(repository: Repository) -> None:
    with pytest.raises(ConfigurationError, match="nothing to back up"):
        backup(repository, [])


def test_a_symlink_loop_in_a_path_raises_a_clear_source_error(repository: Repository, tmp_path: Path) -> None:
    (tmp_path / "loop").symlink_to("loop")
    with pytest.raises(SourceError, match="too many levels of symbolic links") as raised:
        backup(repository, [str(tmp_path / "loop" / "x")])
    assert str(tmp_path / "loop" / "x") in raised.value.message


def test_a_symlink_loop_inside_the_tree_is_stored_as_a_link(repository: Repository, tmp_path: Path) -> None:
    root = tmp_path / "tree"
    root.mkdir()
    (root / "loop").symlink_to("loop")
    result = backup(repository, [str(root)])
    node = node_at(repository, result.snapshot, root / "loop")
    assert node is not None and node.type == SYMLINK and node.target == b"loop"


def test_unreadable_files_make_a_partial_backup(
    repository: Repository, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ReadSpy(monkeypatch, source)
    spy.failures[str(source / "a.txt")] = PermissionError(errno.EACCES, "Permission denied")
    spy.failures[str(source / "sub" / "b.bin")] = OSError(errno.EIO, "Input/output error")
    events = Events()
    result = backup(repository, [str(source)], in_process(), reporter=events)
    assert result.partial and result.snapshot.partial
    assert sorted(result.unreadable) == sorted(
        [
            (str(source / "a.txt"), "permission denied"),
            (str(source / "sub" / "b.bin"), "input/output error while reading"),
        ]
    )
    assert sorted(result.snapshot.unreadable) == sorted(
        [str(source / "a.txt"), str(source / "sub" / "b.bin")]
    )
    assert repository.snapshot_ids() == [result.snapshot.id]
    warned = {(warning.path, warning.message) for warning in events.warnings()}
    assert (str(source / "a.txt"), "permission denied") in warned
    assert (str(source / "sub" / "b.bin"), "input/output error while reading") in warned
    stored = stored_files(repository, result.snapshot, source)
    assert "a.txt" not in stored and "sub/b.bin" not in stored
    assert stored["sub/deeper/c.txt"] == (source / "sub" / "deeper" / "c.txt").read_bytes()

    # The next backup reads them again instead of trusting the partial snapshot.
    spy.failures.clear()
    complete = backup(repository, [str(source)], in_process())
    assert not complete.partial
    assert stored_files(repository, complete.snapshot, source) == files_on_disk(source)


def test_a_file_the_kernel_refuses_to_read_makes_a_partial_backup(repository: Repository) -> None:
    write_only = Path("/sys/bus/pci/rescan")  # a regular sysfs file without read: EACCES even for root
    try:
        with write_only.open("rb") as stream:
            stream.read(1)
    except PermissionError:
        pass
    except OSError:
        pytest.skip("no write-only sysfs file here")
    else:
        pytest.skip("the write-only sysfs file can be read here")
    result = backup(repository, [str(write_only)])
    assert result.snapshot.unreadable == [str(write_only)]
    assert result.unreadable == [(str(write_only), "permission denied")]


def test_a_file_that_changes_while_read_gives_a_warning(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "live"
    large = write(root / "growing.log", random_bytes(300_000, 6))
    small = write(root / "small.cfg", b"x" * 500)
    spy = ReadSpy(monkeypatch, root)

    def append() -> None:
        with large.open("ab") as stream:
            stream.write(b"appended")

    spy.during_read[str(large)] = append
    spy.before_read[str(small)] = lambda: small.write_bytes(b"y" * 600)
    events = Events()
    result = backup(repository, [str(root)], in_process(), reporter=events)
    changed = {
        warning.path for warning in events.warnings() if "changed while it was read" in warning.message
    }
    assert changed == {str(large), str(small)}
    assert not result.partial
    stored = stored_files(repository, result.snapshot, root)
    assert stored["small.cfg"] == b"y" * 600


def test_a_large_file_replaced_between_walk_and_read_gives_a_warning(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "live"
    large = write(root / "big.log", random_bytes(300_000, 6))
    replacement = random_bytes(310_000, 7)
    spy = ReadSpy(monkeypatch, root)
    spy.before_read[str(large)] = lambda: large.write_bytes(replacement)
    events = Events()
    result = backup(repository, [str(root)], in_process(), reporter=events)
    assert [
        warning.path for warning in events.warnings() if "changed while it was read" in warning.message
    ] == [str(large)]
    node = node_at(repository, result.snapshot, large)
    assert node is not None and content_of(repository, node) == replacement


def test_a_small_file_that_grows_past_one_chunk_is_read_again_in_chunks(
    repository: Repository, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "live"
    path = write(root / "grows.txt", b"short")
    grown = random_bytes(100_000, 7)
    spy = ReadSpy(monkeypatch, root)
    spy.before_read[str(path)] = lambda: path.write_bytes(grown)
    events = Events()
    result = backup(repository, [str(root)], in_process(), reporter=events)
    assert any("changed while it was read" in warning.message for warning in events.warnings())
    node = node_at(repository, result.snapshot, path)
    assert node is not None
    assert content_of(repository, node) == grown
    assert node.size == len(grown)
    assert len(node.content) > 1


class _FullDisk(types.ModuleType):
    """The ``os`` module, except that writing to a file in the repository fails with ENOSPC."""

    def __init__(self, repository_root: Path) -> None:
        super().__init__("os")
        self.__dict__.update(os.__dict__)
        descriptors: set[int] = set()

        def open_(path: Any, flags: int, mode: int = 0o777, **keywords: Any) -> int:
            descriptor = os.open(path, flags, mode, **keywords)
            if str(path).startswith(str(repository_root) + "/data/"):
                descriptors.add(descriptor)
            return descriptor

        def write_(descriptor: int, data: Any) -> int:
            if descriptor in descriptors:
                raise OSError(errno.ENOSPC, "No space left on device")
            return os.write(descriptor, data)

        self.open = open_
        self.write = write_


def test_a_full_disk_surfaces_as_storage_error_saying_so(
    repository: Repository, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    storage = repository.storage
    assert isinstance(storage, LocalStorage)
    monkeypatch.setattr(local_backend, "os", _FullDisk(storage.root))
    with pytest.raises(StorageError, match="the disk is full") as raised:
        backup(repository, [str(source)], in_process())
    assert "free space" in raised.value.hint
    assert repository.snapshot_ids() == []
    leftovers = [
        path for path in storage.root.rglob("*") if path.name.startswith(local_backend.TEMPORARY_PREFIX)
    ]
    assert leftovers == []


@pytest.mark.skipif(FaultyStorage is None, reason="no fault-injecting backend")
def test_a_storage_error_from_the_backend_stops_the_backup(
    memory_repository: Repository, source: Path
) -> None:
    assert FaultyStorage is not None
    faulty = FaultyStorage(
        memory_repository.storage,
        fail_on=lambda operation, name: operation == "save" and name.startswith("snapshots/"),
        error=StorageError("cannot write snapshots/x: the disk is full"),
    )
    memory_repository.storage = faulty
    with pytest.raises(StorageError, match="the disk is full"):
        backup(memory_repository, [str(source)])
    assert memory_repository.snapshot_ids() == []
    assert faulty.failures == 1


@pytest.fixture
def tiny_repository(tmp_path: Path) -> Iterator[Repository]:
    """A repository on a 1 MiB tmpfs that a few MiB of new data fill up (skipped where mounts are refused)."""
    mount_point = tmp_path / "tiny"
    mount_point.mkdir()
    attempt = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "resguardo-full", str(mount_point)],
        capture_output=True,
        check=False,
    )
    if attempt.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here")
    try:
        storage = LocalStorage(mount_point / "repository", durable=False)
        yield Repository.create(storage, b"pass", chunker=SMALL_CHUNKS, pack_size=MiB, kdf=FAST_KDF)
    finally:
        subprocess.run(["umount", "--lazy", str(mount_point)], check=True)


@pytest.mark.parametrize("processes", [True, False], ids=["default-workers", "threads"])
def test_a_really_full_disk_surfaces_as_storage_error(
    tiny_repository: Repository, tmp_path: Path, processes: bool
) -> None:
    write(tmp_path / "big" / "file.bin", random_bytes(3 * MiB, 8))
    options = BackupOptions() if processes else in_process()
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            backup(tiny_repository, [str(tmp_path / "big")], options)
        except BaseException as error:
            outcome.append(error)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)  # a hung backup must fail the test, not stall it
    thread.start()
    thread.join(timeout=30)
    assert outcome, "the backup hung after the disk filled up"
    assert isinstance(outcome[0], StorageError), outcome
    assert "the disk is full" in outcome[0].message
    assert tiny_repository.snapshot_ids() == []
