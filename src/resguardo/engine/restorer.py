"""Restore: write a snapshot's files back into a directory, with their metadata.

The work is shared so that every core stays busy:

* a **walker** thread loads the snapshot's trees depth-first, applies includes and excludes, and
  hands each directory's plan (the entries to restore in it, its hard links) to the calling thread;
  when it has walked everything, the progress totals are known.
* the **calling** thread creates the directories in depth-first order (lazily: a directory kept
  only to reach an included path is created when something below it is restored) and hands their
  entries, in batches, to the workers;
* **workers** create the files, write their content and set their metadata. For a large restore
  from storage that other processes can open, they are processes of their own
  (``python -m resguardo.engine.restorer``), so that the per-file work of the interpreter runs on
  every core instead of queueing for one interpreter lock; otherwise they are threads (AES-GCM,
  zstd, BLAKE3 and the writes release the lock). Files larger than :data:`PIECE_BYTES` are written
  in pieces by several workers at once.

Reads are planned by pack: the wanted blobs in one window of a pack form a *run*, read with one
storage load of the range covering them and kept until each of its blobs has been used as often as
counted (a memory cap drops the oldest runs, read again if needed). When the writing is done, the
calling thread makes the hard links and applies every directory's metadata, deepest first, so that
creating entries does not change a restored time.

Security: no file-system call follows a path through the target. Every call is relative to a
directory descriptor opened with ``O_DIRECTORY | O_NOFOLLOW``, starting from the target; files are
created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` after removing whatever was in the way, and metadata is
set through the open descriptor or with ``follow_symlinks=False``. A symlink in the target, restored
or already there, is therefore never followed, and an existing file (or a hard link to a file
elsewhere) is replaced, never written through. Worker processes open each directory (and each file
written in pieces) again from the target down, without following links, and check that it is the
very one the calling thread created (same device and inode) before writing in it. Trees with names
that could escape their directory are refused by :func:`~resguardo.engine.tree.decode_tree`.

Damage: a blob that cannot be read leaves a hole of its length in its file, which is named in
``damaged`` (and in a warning); every other file is restored. A damaged tree names its directory,
which is skipped.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import gc
import grp
import io
import os
import pickle
import pwd
import queue
import re
import signal
import stat
import struct
import subprocess
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from resguardo.backends.base import Storage
from resguardo.core.errors import (
    ConfigurationError,
    IntegrityError,
    ObjectNotFound,
    ResguardoError,
    StorageError,
    TargetError,
)
from resguardo.engine.compression import decompress
from resguardo.engine.crypto import RepositoryKeys
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.filters import PathFilter
from resguardo.engine.index import BlobLocation
from resguardo.engine.repository import Repository, pack_name
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import (
    BLOCK_DEVICE,
    CHARACTER_DEVICE,
    DIRECTORY,
    FIFO,
    FILE,
    SOCKET,
    SYMLINK,
    Node,
    decode_tree,
)

BATCH_FILES = 48
"""Entries of one directory handed to a worker at once."""
BATCH_BYTES = 4 * 1024 * 1024
"""Content bytes handed to a worker at once (a larger file is a batch of its own)."""
PIECE_BYTES = 32 * 1024 * 1024
"""Files larger than this are written in pieces of about this size, by several workers at once."""
JOBS_IN_FLIGHT_PER_WORKER = 6
PROCESSES_FROM_FILES = 2000
PROCESSES_FROM_BYTES = 256 * 1024 * 1024
"""Worker processes are started when the snapshot holds at least this many files or bytes."""
RUN_WINDOW_LOCAL = 4 * 1024 * 1024
RUN_WINDOW_REMOTE = 16 * 1024 * 1024
"""Wanted blobs of one pack window of this size are read together, with one load."""
RUN_CACHE_BYTES = 128 * 1024 * 1024
"""Memory that runs read but not yet used up may take (per worker process) before the oldest go."""
TREE_WINDOW = 1024 * 1024
"""Tree blobs are read with this many bytes of their pack on each side, for the trees nearby."""
TREE_WINDOWS_KEPT = 8

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
_HOLE_BLOCK = 4096
_ZERO_BLOCK = bytes(_HOLE_BLOCK)
_NOT_ZERO = re.compile(rb"[^\0]")
_FRAME_HEADER = struct.Struct("<I")
_DAMAGED_FILE = "restored with holes where its content is damaged: "

Identity = tuple[int, int]
"""(device, inode) of a directory or file the restore created."""


@dataclass(slots=True)
class RestoreResult:
    """What a restore did.

    Attributes:
        files_restored: non-directory entries restored whole (files, symlinks, hard links, FIFOs,
            device nodes); damaged files are not counted here but listed in ``damaged``.
        directories: directories created or reused in the target.
        bytes_written: content bytes of the files restored whole (holes of sparse files included).
        errors: (path, message) of entries that could not be restored; the rest were.
        damaged: paths whose content or tree could not be read from the repository: files are
            restored with holes where the damaged blobs were, directories are skipped.
    """

    files_restored: int = 0
    directories: int = 0
    bytes_written: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        """True when every selected entry was restored intact."""
        return not self.errors and not self.damaged


# -- the plan -----------------------------------------------------------------------------------


@dataclass(slots=True, eq=False)
class _Directory:
    """A directory to restore: its node (None for the target itself) and what goes in it."""

    name: bytes
    path: bytes
    node: Node | None
    parent: _Directory | None
    wanted: bool
    entries: list[Node] = field(default_factory=list)
    links: list[tuple[Node, _Directory, bytes]] = field(default_factory=list)
    fd: int = -1
    identity: Identity = (0, 0)
    created: bool = False
    failed: bool = False
    inheriting: bool = False
    """New entries may take their group (setgid bit) or permissions (default ACL) from here."""


def _display(path: bytes) -> str:
    return os.fsdecode(path) if path else "/"


def _entry_path(directory_path: bytes, name: bytes) -> str:
    return os.fsdecode(directory_path + b"/" + name)


def _identity(fd: int) -> Identity:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def _inheriting(fd: int, status: os.stat_result) -> bool:
    """Return True when entries created in this directory take their group or mode from it."""
    if status.st_mode & stat.S_ISGID:
        return True
    try:
        os.getxattr(fd, "system.posix_acl_default")
    except OSError:
        return False
    return True


def _read_umask() -> int | None:
    """Return the process's umask without changing it (Linux), or None when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


# -- reading trees and content ------------------------------------------------------------------


class _TreeReader:
    """Loads tree blobs, reading a window of their pack around each so nearby trees are read once."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.pack_sizes = repository.index.packs()
        self.windows: list[tuple[bytes, int, bytes]] = []

    def load(self, tree_id: bytes) -> list[Node]:
        """Return the nodes of a tree.

        Raises:
            IntegrityError: the tree is missing from the index, damaged or malformed.
            StorageError: its pack is missing (ObjectNotFound) or could not be read.
        """
        location = self.repository.lookup(tree_id)
        offset, end = location.offset, location.offset + location.length
        for pack_id, start, data in self.windows:
            if pack_id == location.pack_id and start <= offset and end <= start + len(data):
                break
        else:
            start = max(0, offset - TREE_WINDOW)
            stop = max(end, min(self.pack_sizes.get(location.pack_id, 0), end + TREE_WINDOW))
            data = self.repository.storage.load(pack_name(location.pack_id), start, stop - start)
            if len(data) < end - start:
                raise IntegrityError(f"pack {location.pack_id.hex()[:16]} is shorter than the index says")
            self.windows.append((location.pack_id, start, data))
            if len(self.windows) > TREE_WINDOWS_KEPT:
                del self.windows[0]
        keys = self.repository.keys
        envelope = memoryview(data)[offset - start : end - start]
        plaintext = decompress(keys.decrypt(envelope), location.compression, location.raw_length)
        if keys.blob_id(plaintext) != tree_id:
            raise IntegrityError(f"tree {tree_id.hex()[:16]} does not match its ID")
        return decode_tree(plaintext)


@dataclass(slots=True, eq=False)
class _Run:
    """A range of one pack holding wanted blobs, read with one load once ``sealed``."""

    pack_id: bytes
    start: int
    end: int
    remaining: int = 0
    sealed: bool = False
    data: bytes | None = None
    error: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _BlobReader:
    """Returns the plaintext of content blobs, reading their packs in runs; safe across threads.

    Every use of a blob is :meth:`register` ed before it is asked for, so that a run can be read
    once for all its blobs and forgotten after their last use.
    """

    def __init__(self, storage: Storage, keys: RepositoryKeys, verify: bool) -> None:
        self.storage = storage
        self.keys = keys
        self.verify = verify
        self.window = RUN_WINDOW_LOCAL if storage.is_local else RUN_WINDOW_REMOTE
        self.lock = threading.Lock()
        self.runs: dict[tuple[bytes, int], _Run] = {}
        self.places: dict[bytes, tuple[_Run, BlobLocation]] = {}
        self.loaded: OrderedDict[_Run, int] = OrderedDict()
        self.loaded_bytes = 0

    def register(self, content: Iterable[bytes], lookup: Callable[[bytes], BlobLocation | None]) -> None:
        """Count one more use of each blob of ``content``; ``lookup`` says where a new one is."""
        places = self.places
        with self.lock:
            for blob_id in content:
                place = places.get(blob_id)
                if place is not None:
                    place[0].remaining += 1
                    continue
                location = lookup(blob_id)
                if location is None:
                    continue
                offset, end = location.offset, location.offset + location.length
                key = (location.pack_id, offset // self.window)
                run = self.runs.get(key)
                if run is None or (run.sealed and not (run.start <= offset and end <= run.end)):
                    run = self.runs[key] = _Run(location.pack_id, offset, end)
                elif not run.sealed:
                    run.start = min(run.start, offset)
                    run.end = max(run.end, end)
                run.remaining += 1
                places[blob_id] = (run, location)

    def raw_length(self, blob_id: bytes) -> int | None:
        """Return the plaintext length of a registered blob, or None when it is not indexed."""
        place = self.places.get(blob_id)
        return None if place is None else place[1].raw_length

    def plaintext(self, blob_id: bytes) -> bytes:
        """Return a blob's plaintext, authenticated and (with ``verify``) checked against its ID.

        Raises:
            IntegrityError: the blob is not indexed, or is damaged.
            StorageError: its pack is missing (ObjectNotFound) or could not be read.
        """
        place = self.places.get(blob_id)
        if place is None:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is not in the index")
        run, location = place
        data = run.data
        if data is None:
            data = self._load(run)
        start = location.offset - run.start
        envelope = memoryview(data)[start : start + location.length]
        with self.lock:
            run.remaining -= 1
            if run.remaining <= 0 and run.data is not None:
                self._drop(run)
        try:
            plaintext = decompress(self.keys.decrypt(envelope), location.compression, location.raw_length)
            if self.verify and self.keys.blob_id(plaintext) != blob_id:
                raise IntegrityError("its content does not match its ID")
        except IntegrityError as error:
            raise IntegrityError(
                f"blob {blob_id.hex()[:16]} in pack {location.pack_id.hex()[:16]} is damaged: {error}"
            ) from None
        return plaintext

    def _load(self, run: _Run) -> bytes:
        with run.lock:
            if run.data is not None:
                return run.data
            if run.error is not None:
                raise run.error
            with self.lock:
                run.sealed = True
            try:
                data = self.storage.load(pack_name(run.pack_id), run.start, run.end - run.start)
                if len(data) != run.end - run.start:
                    raise IntegrityError(f"pack {run.pack_id.hex()[:16]} is shorter than the index says")
            except (IntegrityError, ObjectNotFound) as error:
                run.error = error
                raise
            with self.lock:
                run.data = data
                self.loaded[run] = len(data)
                self.loaded_bytes += len(data)
                while self.loaded_bytes > RUN_CACHE_BYTES and len(self.loaded) > 1:
                    self._drop(next(iter(self.loaded)))
            return data

    def _drop(self, run: _Run) -> None:
        """Forget a run's bytes (with ``self.lock`` held)."""
        run.data = None
        self.loaded_bytes -= self.loaded.pop(run, 0)


# -- file-system helpers (all relative to directory descriptors) ---------------------------------


@functools.lru_cache(maxsize=4096)
def _uid_for(user: str, uid: int) -> int:
    if user:
        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            pass
    return uid


@functools.lru_cache(maxsize=4096)
def _gid_for(group: str, gid: int) -> int:
    if group:
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            pass
    return gid


def _owner(node: Node) -> tuple[int, int]:
    """Return (uid, gid) for a node: by name when it exists on this host, else the stored number."""
    return _uid_for(node.user, node.uid), _gid_for(node.group, node.gid)


class _FatalTargetError(Exception):
    """The target cannot take any more writes (disk full, quota, read-only)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def _describe(error: OSError) -> str:
    if error.errno == errno.ENOTEMPTY:
        return "a directory that is not empty is in the way"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or str(error)


_MALFORMED = (OverflowError, ValueError, TypeError)
"""What the operating system's calls raise for metadata out of range or of the wrong type."""


def _malformed(error: Exception) -> str:
    return f"the snapshot holds malformed metadata for it ({error})"


def _check_fatal(path: str, error: OSError) -> None:
    if error.errno in _FATAL_ERRNOS:
        raise _FatalTargetError(path, _describe(error)) from None


def _remove_entry(dir_fd: int, name: bytes) -> None:
    """Remove whatever ``name`` is in the directory (an empty directory too), never following it."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno not in (errno.EISDIR, errno.EPERM):
            raise
        os.rmdir(name, dir_fd=dir_fd)


def _create_file(dir_fd: int, name: bytes, mode: int) -> int:
    """Create ``name`` as a new empty file (replacing what was there) and return it open for writing."""
    try:
        return os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)
    except FileExistsError:
        _remove_entry(dir_fd, name)
        return os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)


def _open_directory(dir_fd: int, name: bytes, *, create: bool) -> tuple[int, bool]:
    """Return a descriptor of directory ``name`` and whether it was created (replacing a non-directory)."""
    created = False
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            created = True
        except FileExistsError:
            pass
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd), created
    except OSError as error:
        if not create or error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    os.unlink(name, dir_fd=dir_fd)
    os.mkdir(name, 0o700, dir_fd=dir_fd)
    return os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd), True


def _link(source_fd: int, source: bytes, directory_fd: int, name: bytes) -> None:
    os.link(source, name, src_dir_fd=source_fd, dst_dir_fd=directory_fd, follow_symlinks=False)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    if written < len(data):
        view = memoryview(data)
        while written < len(data):
            written += os.pwrite(fd, view[written:], offset + written)


def _write_sparse(fd: int, data: bytes, offset: int) -> None:
    """Write ``data`` at ``offset`` but skip every run of at least 4 KiB of zero bytes (left as holes)."""
    position = 0
    size = len(data)
    while position < size:
        zeros = data.find(_ZERO_BLOCK, position)
        if zeros < 0:
            _write_all(fd, data[position:] if position else data, offset + position)
            return
        if zeros > position:
            _write_all(fd, data[position:zeros], offset + position)
        nonzero = _NOT_ZERO.search(data, zeros + _HOLE_BLOCK)
        position = nonzero.start() if nonzero is not None else size


# -- jobs and the code that carries them out (in worker threads or worker processes) -------------


@dataclass(slots=True)
class _Piece:
    """A range of chunks of a large file that the calling thread created."""

    file_id: int
    node: Node
    first: int
    last: int
    offset: int
    length: int
    identity: Identity
    fd: int = -1


@dataclass(slots=True)
class _Group:
    """Entries of one directory: found by ``fd`` (threads) or ``path`` and ``identity`` (processes)."""

    path: bytes
    identity: Identity
    inheriting: bool
    tasks: list[Node | _Piece] = field(default_factory=list)
    fd: int = -1


@dataclass(slots=True)
class _Job:
    """What one worker does at once: entries of one or more directories, and where their blobs are."""

    groups: list[_Group]
    locations: dict[bytes, BlobLocation] | None = None


@dataclass(slots=True)
class _Outcome:
    """What a worker did with one job (read by the calling thread)."""

    files: int = 0
    bytes: int = 0
    done_files: int = 0
    done_bytes: int = 0
    warnings: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)
    damaged: list[str] = field(default_factory=list)
    pieces: list[tuple[int, list[str], str]] = field(default_factory=list)
    fatal: _FatalTargetError | None = None
    crash: str = ""


class _Writer:
    """Creates the entries of jobs and writes their content; holds no state but the reader."""

    def __init__(self, reader: _BlobReader, as_root: bool, owner: tuple[int, int], umask: int | None) -> None:
        self.reader = reader
        self.as_root = as_root
        self.owner = owner
        self.umask = umask

    def run(self, job: _Group, dir_fd: int, outcome: _Outcome) -> None:
        for task in job.tasks:
            if isinstance(task, _Piece):
                self.write_piece(job, dir_fd, task, outcome)
                continue
            outcome.done_files += 1
            try:
                if task.type == FILE:
                    outcome.done_bytes += task.size
                    self.restore_file(dir_fd, job, task, outcome)
                elif task.type == SYMLINK:
                    self.restore_symlink(dir_fd, job, task, outcome)
                else:
                    self.restore_special(dir_fd, job, task, outcome)
            except OSError as error:
                path = _entry_path(job.path, task.name)
                _check_fatal(path, error)
                outcome.errors.append((path, f"not restored: {_describe(error)}"))
            except _MALFORMED as error:
                path = _entry_path(job.path, task.name)
                outcome.errors.append((path, f"not restored: {_malformed(error)}"))

    def restore_file(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        mode = node.mode
        umask = self.umask
        chmod = umask is None or job.inheriting or bool(mode & umask) or not 0 <= mode <= 0o777
        fd = _create_file(dir_fd, node.name, mode & 0o777)
        try:
            damage: list[str] = []
            end = self.write_content(fd, node, 0, len(node.content), 0, damage) if node.content else 0
            if end != node.size or node.sparse or damage:
                os.ftruncate(fd, node.size)
            if self.as_root:
                owner = _owner(node)
                if owner != self.owner or job.inheriting:
                    self.chown(fd, owner, _entry_path(job.path, node.name), outcome)
                    chmod = chmod or bool(mode & (stat.S_ISUID | stat.S_ISGID))
            if chmod:
                os.fchmod(fd, mode)
            if node.xattrs:
                self.set_xattrs(fd, node, _entry_path(job.path, node.name), outcome)
            os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
        finally:
            os.close(fd)
        if damage:
            _note_damage(_entry_path(job.path, node.name), damage, outcome)
        else:
            outcome.files += 1
            outcome.bytes += node.size

    @staticmethod
    def chown(fd: int, owner: tuple[int, int], path: str, outcome: _Outcome) -> None:
        try:
            os.fchown(fd, *owner)
        except OSError as error:
            outcome.warnings.append((path, f"owner not restored: {_describe(error)}"))
        except _MALFORMED as error:
            outcome.warnings.append((path, f"owner not restored: {_malformed(error)}"))

    def write_piece(self, job: _Group, dir_fd: int, piece: _Piece, outcome: _Outcome) -> None:
        """Write one piece of a large file; the calling thread finishes the file after its last piece."""
        outcome.done_bytes += piece.length
        damage: list[str] = []
        error = ""
        fd = piece.fd
        path = _entry_path(job.path, piece.node.name)
        try:
            if fd < 0:
                fd = os.open(piece.node.name, os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
            try:
                status = os.fstat(fd)
                if (status.st_dev, status.st_ino) != piece.identity or status.st_nlink != 1:
                    error = "it was replaced by something else during the restore"
                else:
                    self.write_content(fd, piece.node, piece.first, piece.last, piece.offset, damage)
            finally:
                if fd != piece.fd:
                    os.close(fd)
        except OSError as failure:
            _check_fatal(path, failure)
            error = _describe(failure)
        outcome.pieces.append((piece.file_id, damage, error))

    def write_content(  # noqa: PLR0917 - a range of chunks and where it starts
        self, fd: int, node: Node, first: int, last: int, offset: int, damage: list[str]
    ) -> int:
        """Write the chunks ``first`` to ``last`` (exclusive) of a file from ``offset``; return the end.

        A chunk that cannot be read leaves a hole of its length and is described in ``damage``;
        in a sparse file, runs of zero bytes are left as holes.
        """
        reader = self.reader
        write = _write_sparse if node.sparse else _write_all
        content = node.content
        for index in range(first, last):
            blob_id = content[index]
            try:
                data = reader.plaintext(blob_id)
            except (IntegrityError, StorageError) as error:
                damage.append(f"bytes from {offset}: {error}")
                length = reader.raw_length(blob_id)
                if length is None:
                    length = self.infer_length(node, index, offset)
                    if length is None:
                        damage.append(f"the content after byte {offset} cannot be placed")
                        return offset
                offset += length
                continue
            write(fd, data, offset)
            offset += len(data)
        return offset

    def infer_length(self, node: Node, index: int, offset: int) -> int | None:
        """Return the length of an unindexed chunk when it is the only one of the rest of the file."""
        rest = [self.reader.raw_length(blob_id) for blob_id in node.content[index + 1 :]]
        if None in rest:
            return None
        length = node.size - offset - sum(length or 0 for length in rest)
        return length if length >= 0 else None

    def restore_symlink(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        try:
            os.symlink(node.target, node.name, dir_fd=dir_fd)
        except FileExistsError:
            _remove_entry(dir_fd, node.name)
            os.symlink(node.target, node.name, dir_fd=dir_fd)
        self.apply_metadata_by_name(dir_fd, job, node, outcome)
        outcome.files += 1

    def restore_special(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        if node.type == FIFO:
            kind, device = stat.S_IFIFO, 0
        elif node.type in (CHARACTER_DEVICE, BLOCK_DEVICE) and self.as_root:
            kind = stat.S_IFCHR if node.type == CHARACTER_DEVICE else stat.S_IFBLK
            device = node.rdev
        else:
            path = _entry_path(job.path, node.name)
            outcome.warnings.append((path, "device node not restored: creating one needs root"))
            return
        try:
            os.mknod(node.name, kind | 0o600, device, dir_fd=dir_fd)
        except FileExistsError:
            _remove_entry(dir_fd, node.name)
            os.mknod(node.name, kind | 0o600, device, dir_fd=dir_fd)
        self.apply_metadata_by_name(dir_fd, job, node, outcome)
        outcome.files += 1

    def apply_metadata_by_name(self, dir_fd: int, job: _Group, node: Node, outcome: _Outcome) -> None:
        """Set the metadata of a symlink or special file by name, never following it."""
        path = _entry_path(job.path, node.name)
        if self.as_root:
            try:
                os.chown(node.name, *_owner(node), dir_fd=dir_fd, follow_symlinks=False)
            except OSError as error:
                outcome.warnings.append((path, f"owner not restored: {_describe(error)}"))
            except _MALFORMED as error:
                outcome.warnings.append((path, f"owner not restored: {_malformed(error)}"))
        if node.type != SYMLINK:
            try:
                os.chmod(node.name, node.mode, dir_fd=dir_fd, follow_symlinks=False)
            except (NotImplementedError, OSError, *_MALFORMED):
                outcome.warnings.append((path, "mode not restored: not supported here"))
        if node.xattrs:
            self.set_xattrs(b"/proc/self/fd/%d/%s" % (dir_fd, node.name), node, path, outcome)
        os.utime(node.name, ns=(node.mtime_ns, node.mtime_ns), dir_fd=dir_fd, follow_symlinks=False)

    @staticmethod
    def set_xattrs(where: int | bytes, node: Node, path: str, outcome: _Outcome) -> None:
        """Set a node's extended attributes; those the file system refuses become one warning."""
        refused: list[str] = []
        reason = ""
        for name, value in node.xattrs:
            try:
                os.setxattr(where, name, value, follow_symlinks=isinstance(where, int))
            except OSError as error:
                refused.append(os.fsdecode(name))
                reason = reason or _describe(error)
            except _MALFORMED as error:
                refused.append(repr(name))
                reason = reason or _malformed(error)
        if refused:
            outcome.warnings.append(
                (path, f"extended attributes not restored ({reason}): {', '.join(refused)}")
            )


def _note_damage(path: str, damage: list[str], outcome: _Outcome) -> None:
    outcome.damaged.append(path)
    outcome.warnings.append((path, _DAMAGED_FILE + "; ".join(damage)))


def _carry_out(writer: _Writer, job: _Job, open_directory: Callable[[_Group], int]) -> _Outcome:
    """Run one job and return its outcome; failures become part of the outcome."""
    outcome = _Outcome()
    try:
        for group in job.groups:
            try:
                dir_fd = open_directory(group)
            except OSError as error:
                for task in group.tasks:
                    if isinstance(task, _Piece):
                        outcome.pieces.append((task.file_id, [], _describe(error)))
                    else:
                        outcome.done_files += 1
                        outcome.errors.append(
                            (_entry_path(group.path, task.name), f"not restored: {_describe(error)}")
                        )
                continue
            writer.run(group, dir_fd, outcome)
    except _FatalTargetError as fatal:
        outcome.fatal = fatal
    except Exception as crash:
        outcome.crash = f"{type(crash).__name__}: {crash}"
    return outcome


# -- worker pools -------------------------------------------------------------------------------


_OutcomeQueue = queue.SimpleQueue[_Outcome]


class _ThreadWorkers:
    """Worker threads of this process; jobs carry a descriptor of their directory."""

    def __init__(self, writer: _Writer, count: int, outcomes: _OutcomeQueue) -> None:
        self.writer = writer
        self.outcomes = outcomes
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.stopping = False
        self.threads = [
            threading.Thread(target=self.work, name=f"restore-{n}", daemon=True) for n in range(count)
        ]
        for thread in self.threads:
            thread.start()

    def submit(self, job: _Job) -> None:
        self.jobs.put(job)

    def work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            try:
                outcome = _Outcome() if self.stopping else _carry_out(self.writer, job, _group_fd)
            finally:
                for group in job.groups:
                    os.close(group.fd)
            if outcome.fatal is not None or outcome.crash:
                self.stopping = True
            self.outcomes.put(outcome)

    def close(self, *, abandon: bool) -> None:
        self.stopping = self.stopping or abandon
        for _thread in self.threads:
            self.jobs.put(None)
        for thread in self.threads:
            thread.join()


def _task_content(task: Node | _Piece) -> list[bytes]:
    return task.node.content[task.first : task.last] if isinstance(task, _Piece) else task.content


def _group_fd(group: _Group) -> int:
    return group.fd


def _node_from_fields(  # noqa: PLR0917 - the inverse of _reduce_node
    name: bytes,
    kind: str,
    mode: int,
    uid: int,
    gid: int,
    user: str,
    group: str,
    mtime_ns: int,
    size: int,
    content: list[bytes],
    target: bytes,
    rdev: int,
    xattrs: list[tuple[bytes, bytes]],
    sparse: bool,
) -> Node:
    return Node(
        name=name,
        type=kind,
        mode=mode,
        uid=uid,
        gid=gid,
        user=user,
        group=group,
        mtime_ns=mtime_ns,
        size=size,
        content=content,
        target=target,
        rdev=rdev,
        xattrs=xattrs,
        sparse=sparse,
    )


def _reduce_node(node: Node) -> tuple[Callable[..., Node], tuple[Any, ...]]:
    """Pickle only what a worker needs of a node, faster than the dataclass's own way."""
    return _node_from_fields, (
        node.name,
        node.type,
        node.mode,
        node.uid,
        node.gid,
        node.user,
        node.group,
        node.mtime_ns,
        node.size,
        node.content,
        node.target,
        node.rdev,
        node.xattrs,
        node.sparse,
    )


_REDUCERS: dict[type, Callable[[Any], Any]] = {Node: _reduce_node}


def _write_frame(stream: BinaryIO, message: object) -> None:
    buffer = io.BytesIO()
    buffer.write(_FRAME_HEADER.pack(0))
    pickler = pickle.Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _REDUCERS
    pickler.dump(message)
    data = buffer.getbuffer()
    _FRAME_HEADER.pack_into(data, 0, len(data) - _FRAME_HEADER.size)
    stream.write(data)
    stream.flush()


def _read_frame(stream: BinaryIO) -> Any:
    """Return the next message, or None at the end of the stream."""
    header = stream.read(_FRAME_HEADER.size)
    if len(header) < _FRAME_HEADER.size:
        return None
    (length,) = _FRAME_HEADER.unpack(header)
    data = stream.read(length)
    if len(data) < length:
        return None
    return pickle.loads(data)  # noqa: S301 - frames come only from our own parent or child process


class _WorkerProcess:
    """One child process writing files, the pipes to it, and a thread collecting its outcomes."""

    def __init__(
        self, setup: tuple[object, ...], target_fd: int, outcomes: queue.SimpleQueue[_Outcome]
    ) -> None:
        environment = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        environment["PYTHONPATH"] = os.pathsep.join(
            part for part in (package_root, environment.get("PYTHONPATH", "")) if part
        )
        request_read, request_write = os.pipe()
        reply_read, reply_write = os.pipe()
        try:
            self.process = subprocess.Popen(  # noqa: S603 - runs this same interpreter on our own module
                [
                    sys.executable,
                    "-m",
                    "resguardo.engine.restorer",
                    str(request_read),
                    str(reply_write),
                    str(target_fd),
                ],
                stdin=subprocess.DEVNULL,
                pass_fds=(request_read, reply_write, target_fd),
                env=environment,
            )
        finally:
            os.close(request_read)
            os.close(reply_write)
        self.requests: BinaryIO = os.fdopen(request_write, "wb")
        self.replies: BinaryIO = os.fdopen(reply_read, "rb")
        self.outcomes = outcomes
        self.outstanding = 0
        _write_frame(self.requests, setup)
        self.collector = threading.Thread(target=self.collect, name="restore-collector", daemon=True)
        self.collector.start()

    def collect(self) -> None:
        while True:
            try:
                outcome = _read_frame(self.replies)
            except (OSError, EOFError, pickle.UnpicklingError):
                outcome = None
            if outcome is None:
                self.outcomes.put(_Outcome(crash="a restore worker process ended unexpectedly"))
                return
            self.outstanding -= 1
            self.outcomes.put(outcome)

    def close(self, *, abandon: bool) -> None:
        if abandon:
            self.process.kill()
        with contextlib.suppress(OSError):
            self.requests.close()
        self.process.wait()
        self.replies.close()


class _ProcessWorkers:
    """Worker processes; jobs carry their directory's path and identity, and their blobs' locations."""

    def __init__(
        self,
        repository: Repository,
        verify: bool,
        target_fd: int,
        count: int,
        outcomes: queue.SimpleQueue[_Outcome],
    ) -> None:
        self.lookup = repository.index.lookup
        umask = _read_umask()
        setup = (repository.storage, repository.keys.master_secret, verify, umask)
        self.workers: list[_WorkerProcess] = []
        try:
            for _number in range(count):
                self.workers.append(_WorkerProcess(setup, target_fd, outcomes))
        except BaseException:
            self.close(abandon=True)
            raise

    def submit(self, job: _Job) -> None:
        lookup = self.lookup
        locations: dict[bytes, BlobLocation] = {}
        for group in job.groups:
            for task in group.tasks:
                for blob_id in _task_content(task):
                    location = lookup(blob_id)
                    if location is not None:
                        locations[blob_id] = location
        job.locations = locations
        worker = min(self.workers, key=lambda candidate: candidate.outstanding)
        worker.outstanding += 1
        try:
            _write_frame(worker.requests, job)
        except OSError:
            raise ResguardoError("a restore worker process ended unexpectedly") from None

    def close(self, *, abandon: bool) -> None:
        for worker in self.workers:
            worker.close(abandon=abandon)
        for worker in self.workers:
            worker.collector.join()


class _DirectoryOpener:
    """Opens job directories in a worker process, from the target down, reusing the last path's."""

    def __init__(self, target_fd: int) -> None:
        self.target_fd = target_fd
        self.stack: list[tuple[bytes, int]] = []

    def open(self, group: _Group) -> int:
        """Return a descriptor of the group's directory, checked to be the one created.

        Raises:
            OSError: a directory on the way cannot be opened, or is not the one created.
        """
        names = [name for name in group.path.split(b"/") if name]
        depth = 0
        while depth < min(len(names), len(self.stack)) and self.stack[depth][0] == names[depth]:
            depth += 1
        while len(self.stack) > depth:
            os.close(self.stack.pop()[1])
        for name in names[depth:]:
            parent = self.stack[-1][1] if self.stack else self.target_fd
            self.stack.append((name, os.open(name, _DIRECTORY_FLAGS, dir_fd=parent)))
        fd = self.stack[-1][1] if self.stack else self.target_fd
        if _identity(fd) != group.identity:
            raise OSError(errno.ESTALE, "the directory was replaced by something else during the restore")
        return fd


def _worker_main(requests: BinaryIO, replies: BinaryIO, target_fd: int) -> None:
    """Run a worker process: read the set-up frame, then jobs, until the parent closes the pipe."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    gc.disable()  # this process makes no reference cycles worth the collector's time
    setup = _read_frame(requests)
    if setup is None:
        return
    storage, master_secret, verify, umask = setup
    reader = _BlobReader(storage, RepositoryKeys(master_secret), verify)
    writer = _Writer(reader, os.geteuid() == 0, (os.geteuid(), os.getegid()), umask)
    opener = _DirectoryOpener(target_fd)
    jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()

    def read_ahead() -> None:
        """Read jobs as they come, counting their blobs' uses before any is written."""
        try:
            while (job := _read_frame(requests)) is not None:
                lookup = (job.locations or {}).get
                for group in job.groups:
                    for task in group.tasks:
                        reader.register(_task_content(task), lookup)
                jobs.put(job)
        finally:
            jobs.put(None)

    threading.Thread(target=read_ahead, name="restore-reader", daemon=True).start()
    while (job := jobs.get()) is not None:
        try:
            _write_frame(replies, _carry_out(writer, job, opener.open))
        except OSError:  # the restore process went away
            return


# -- one restore run, in the calling thread ------------------------------------------------------


@dataclass(slots=True, eq=False)
class _SharedFile:
    """A large file the calling thread created, written in pieces by the workers."""

    fd: int
    node: Node
    path: str
    pieces_left: int
    damage: list[str] = field(default_factory=list)
    error: str = ""


_WalkItem = _Directory | tuple[str, str] | BaseException | None
_OpenedDirectories = OrderedDict[int, int]


class _Restorer:
    """One restore run; not reusable."""

    def __init__(self, repository: Repository, snapshot: Snapshot, reporter: Reporter) -> None:
        self.repository = repository
        self.snapshot = snapshot
        self.reporter = reporter
        self.includes = PathFilter(())
        self.excludes = PathFilter(())
        self.verify = True
        self.reader: _BlobReader | None = None
        self.result = RestoreResult()
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.hard_links: dict[tuple[int, int], tuple[_Directory, bytes]] = {}
        self.totals: tuple[int, int] | None = None
        self.files_done = 0
        self.bytes_done = 0
        self.failed_paths: set[str] = set()
        self.damaged_paths: set[str] = set()
        self.created: list[_Directory] = []
        self.shared_files: dict[int, _SharedFile] = {}
        self.walked: queue.SimpleQueue[_WalkItem] = queue.SimpleQueue()
        self.outcomes: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        self.workers: _ThreadWorkers | _ProcessWorkers | None = None
        self.worker_count = 2
        self.in_flight = 0
        self.batch: list[_Group] = []
        self.batch_files = 0
        self.batch_bytes = 0
        self.stopping = False
        self.current = ""
        self.root: _Directory | None = None

    # -- reporting (calling thread only) ----------------------------------------------------

    def warn(self, path: str, message: str) -> None:
        self.reporter(ItemWarning("restore", path, message))

    def error(self, path: str, message: str) -> None:
        self.result.errors.append((path, message))
        self.failed_paths.add(path)
        self.warn(path, message)

    def damage(self, path: str, message: str) -> None:
        if path not in self.damaged_paths:
            self.damaged_paths.add(path)
            self.result.damaged.append(path)
        self.warn(path, message)

    def report_progress(self, force: bool = False) -> None:
        if force or self.throttle.due():
            files_total, bytes_total = self.totals or (None, None)
            self.reporter(
                Progress("restore", self.files_done, self.bytes_done, files_total, bytes_total, self.current)
            )

    # -- the walker thread ------------------------------------------------------------------

    def walk(self) -> None:
        """Walk the trees depth-first, handing each directory's plan to the calling thread."""
        try:
            trees = _TreeReader(self.repository)
            reader, lookup = self.reader, self.repository.index.lookup
            files_total = bytes_total = 0
            stack: list[tuple[_Directory, bytes]] = [
                (_Directory(b"", b"", None, None, wanted=not self.includes), self.snapshot.tree)
            ]
            while stack and not self.stopping:
                directory, tree_id = stack.pop()
                try:
                    nodes = trees.load(tree_id)
                except (IntegrityError, StorageError) as error:
                    message = f"directory skipped: its tree cannot be read: {error}"
                    self.walked.put((_display(directory.path), message))
                    continue
                subdirectories: list[tuple[_Directory, bytes]] = []
                for node in nodes:
                    child = self.plan_entry(directory, node)
                    if child is not None:
                        assert node.subtree is not None
                        subdirectories.append((child, node.subtree))
                for node in directory.entries:
                    files_total += 1
                    if node.type == FILE:
                        bytes_total += node.size
                        if reader is not None:
                            reader.register(node.content, lookup)
                files_total += len(directory.links)
                self.walked.put(directory)
                stack.extend(reversed(subdirectories))
            self.totals = (files_total, bytes_total)
            self.walked.put(None)
        except BaseException as crash:
            self.walked.put(crash)

    def plan_entry(self, directory: _Directory, node: Node) -> _Directory | None:
        """Add one entry to its directory's plan; return the new directory when it is one to walk."""
        wanted = directory.wanted
        if self.excludes or self.includes:
            shown = os.fsdecode(directory.path + b"/" + node.name)
            if self.excludes and self.excludes.matches(shown):
                return None
            wanted = wanted or self.includes.matches(shown)
            if node.type == DIRECTORY and not wanted and not self.includes.may_match_below(shown):
                return None
        if node.type == DIRECTORY:
            return _Directory(node.name, directory.path + b"/" + node.name, node, directory, wanted)
        if not wanted or node.type == SOCKET:
            return None
        if node.type == FILE and node.links > 1 and node.inode:
            key = (node.device, node.inode)
            owner = self.hard_links.get(key)
            if owner is not None:
                directory.links.append((node, owner[0], owner[1]))
                return None
            self.hard_links[key] = (directory, node.name)
        directory.entries.append(node)
        return None

    # -- the calling thread: directories and jobs -------------------------------------------

    def write(self, target_fd: int, use_processes: bool) -> None:
        """Create the directories as the walker hands them over, and their entries through workers."""
        self.start_workers(target_fd, use_processes)
        walker = threading.Thread(target=self.walk, name="restore-walker", daemon=True)
        walker.start()
        stack: list[_Directory] = []
        completed = False
        try:
            while True:
                if self.walked.empty():
                    self.flush()
                item = self.walked.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                if isinstance(item, tuple):
                    self.damage(*item)
                    continue
                self.place(item, stack, target_fd)
                while self.collect(block=False):
                    pass
            self.flush()
            while self.in_flight:
                self.collect(block=True)
            completed = True
        finally:
            self.stopping = True
            assert self.workers is not None
            self.workers.close(abandon=not completed)
            walker.join()
            self.release(stack)

    def start_workers(self, target_fd: int, use_processes: bool) -> None:
        if use_processes:
            self.workers = _ProcessWorkers(
                self.repository, self.verify, target_fd, self.worker_count, self.outcomes
            )
        else:
            self.reader = _BlobReader(self.repository.storage, self.repository.keys, self.verify)
            writer = _Writer(self.reader, os.geteuid() == 0, (os.geteuid(), os.getegid()), _read_umask())
            self.workers = _ThreadWorkers(writer, self.worker_count, self.outcomes)

    def release(self, stack: list[_Directory]) -> None:
        """Close the descriptors the writing phase still holds."""
        for directory in stack:
            if directory.fd >= 0 and directory.parent is not None:
                os.close(directory.fd)
                directory.fd = -1
        for shared in self.shared_files.values():
            os.close(shared.fd)
        for group in self.batch:
            if group.fd >= 0:
                os.close(group.fd)

    def place(self, directory: _Directory, stack: list[_Directory], target_fd: int) -> None:
        """Take one walked directory: create it when needed and hand its entries to the workers."""
        self.current = _display(directory.path)
        if directory.parent is None:
            self.root = directory
            directory.fd = target_fd
            directory.created = True
            status = os.fstat(target_fd)
            directory.identity = (status.st_dev, status.st_ino)
            directory.inheriting = _inheriting(target_fd, status)
            stack.append(directory)
        else:
            while stack[-1] is not directory.parent:
                popped = stack.pop()
                if popped.fd >= 0:
                    os.close(popped.fd)
                    popped.fd = -1
            stack.append(directory)
            if directory.parent.failed:
                directory.failed = True
                return
            if directory.wanted or directory.entries or directory.links:
                self.ensure(directory)
        if directory.entries and not directory.failed:
            self.submit_entries(directory)
        directory.entries = []  # handed over: the plan keeps only what the end needs

    def ensure(self, directory: _Directory) -> bool:
        """Create a directory (and the ancestors not created yet); return False when that failed."""
        if directory.created:
            return not directory.failed
        parent = directory.parent
        assert parent is not None
        if directory.failed or not self.ensure(parent):
            directory.failed = True
            return False
        try:
            directory.fd, fresh = _open_directory(parent.fd, directory.name, create=True)
            status = os.fstat(directory.fd)
            if not fresh and status.st_mode & 0o300 != 0o300 and status.st_uid == os.geteuid() != 0:
                os.fchmod(directory.fd, stat.S_IMODE(status.st_mode) | 0o700)  # its own mode comes at the end
        except OSError as error:
            path = _display(directory.path)
            _check_fatal(path, error)
            directory.failed = True
            self.error(path, f"directory not restored: {_describe(error)}")
            return False
        directory.created = True
        directory.identity = (status.st_dev, status.st_ino)
        directory.inheriting = parent.inheriting if fresh else _inheriting(directory.fd, status)
        self.created.append(directory)
        self.result.directories += 1
        return True

    def submit_entries(self, directory: _Directory) -> None:
        """Add a directory's entries to the batch for the workers (large files go in pieces)."""
        group: _Group | None = None
        for node in directory.entries:
            large = node.type == FILE and node.size > PIECE_BYTES and len(node.content) > 1
            if large and self.submit_pieces(directory, node):
                continue
            if group is None:
                group = self.new_group(directory)
                self.batch.append(group)
            group.tasks.append(node)
            self.batch_files += 1
            self.batch_bytes += node.size
            if self.batch_files >= BATCH_FILES or self.batch_bytes >= BATCH_BYTES:
                self.flush()
                group = None

    def new_group(self, directory: _Directory) -> _Group:
        group = _Group(directory.path, directory.identity, directory.inheriting)
        if isinstance(self.workers, _ThreadWorkers):
            group.fd = os.dup(directory.fd)
        return group

    def flush(self) -> None:
        """Hand the batch to the workers (waiting while they have enough to do)."""
        if self.batch:
            self.submit(_Job(self.batch))
            self.batch, self.batch_files, self.batch_bytes = [], 0, 0

    def submit_pieces(self, directory: _Directory, node: Node) -> bool:
        """Create a large file here and hand its content to the workers in pieces.

        Returns:
            False when its chunk lengths are not all known (it is then written by one worker).
        """
        lookup = self.repository.index.lookup
        locations = [lookup(blob_id) for blob_id in node.content]
        lengths = [location.raw_length for location in locations if location is not None]
        if len(lengths) != len(locations):
            return False
        path = _entry_path(directory.path, node.name)
        try:
            fd = _create_file(directory.fd, node.name, 0o600)
        except OSError as error:
            _check_fatal(path, error)
            self.error(path, f"not restored: {_describe(error)}")
            return True
        file_id = len(self.shared_files) + 1
        shared = self.shared_files[file_id] = _SharedFile(fd, node, path, 0)
        identity = _identity(fd)
        pieces: list[_Piece] = []
        first = offset = piece_offset = 0
        for index, length in enumerate(lengths):
            offset += length
            if offset - piece_offset >= PIECE_BYTES or index == len(lengths) - 1:
                pieces.append(
                    _Piece(file_id, node, first, index + 1, piece_offset, offset - piece_offset, identity)
                )
                first, piece_offset = index + 1, offset
        shared.pieces_left = len(pieces)
        for piece in pieces:
            if isinstance(self.workers, _ThreadWorkers):
                piece.fd = fd
            group = self.new_group(directory)
            group.tasks.append(piece)
            self.submit(_Job([group]))
        return True

    def submit(self, job: _Job) -> None:
        assert self.workers is not None
        while self.in_flight >= self.worker_count * JOBS_IN_FLIGHT_PER_WORKER:
            self.collect(block=True)
        self.workers.submit(job)
        self.in_flight += 1

    def collect(self, block: bool) -> bool:
        """Take in one finished job's outcome; return False when none was ready (without blocking)."""
        try:
            outcome = self.outcomes.get(block=block)
        except queue.Empty:
            return False
        self.in_flight -= 1
        if outcome.crash:
            raise ResguardoError(f"restore failed: {outcome.crash}")
        if outcome.fatal is not None:
            raise outcome.fatal
        self.files_done += outcome.done_files
        self.bytes_done += outcome.done_bytes
        self.result.files_restored += outcome.files
        self.result.bytes_written += outcome.bytes
        for path, message in outcome.warnings:
            self.warn(path, message)
        for path, message in outcome.errors:
            self.error(path, message)
        for path in outcome.damaged:
            self.damaged_paths.add(path)
            self.result.damaged.append(path)
        for file_id, damage, error in outcome.pieces:
            self.piece_done(file_id, damage, error)
        self.report_progress()
        return True

    def piece_done(self, file_id: int, damage: list[str], error: str) -> None:
        """Count one written piece of a large file; after the last, set the file's metadata."""
        shared = self.shared_files[file_id]
        shared.damage.extend(damage)
        shared.error = shared.error or error
        shared.pieces_left -= 1
        if shared.pieces_left:
            return
        del self.shared_files[file_id]
        node = shared.node
        self.files_done += 1
        try:
            if not shared.error:
                os.ftruncate(shared.fd, node.size)
                if os.geteuid() == 0:
                    os.fchown(shared.fd, *_owner(node))
                os.fchmod(shared.fd, node.mode)
                outcome = _Outcome()
                if node.xattrs:
                    _Writer.set_xattrs(shared.fd, node, shared.path, outcome)
                for path, message in outcome.warnings:
                    self.warn(path, message)
                os.utime(shared.fd, ns=(node.mtime_ns, node.mtime_ns))
        except OSError as failure:
            _check_fatal(shared.path, failure)
            shared.error = _describe(failure)
        except _MALFORMED as failure:
            shared.error = _malformed(failure)
        finally:
            os.close(shared.fd)
        if shared.error:
            self.error(shared.path, f"not restored: {shared.error}")
        elif shared.damage:
            self.damage(
                shared.path, "restored with holes where its content is damaged: " + "; ".join(shared.damage)
            )
        else:
            self.result.files_restored += 1
            self.result.bytes_written += node.size

    # -- the calling thread, at the end: hard links and directory metadata -------------------

    def finish(self) -> None:
        """Make the hard links, then apply directory metadata deepest first."""
        root = self.root
        if root is None:
            return
        stack: list[_Directory] = [root]
        opened: _OpenedDirectories = OrderedDict()
        try:
            for node, owner, owner_name in root.links:
                self.make_link(root, node, owner, owner_name, opened)
            for directory in self.created:
                parent = directory.parent
                assert parent is not None
                if parent.failed:
                    directory.failed = True
                    continue
                while stack[-1] is not parent:
                    self.close_directory(stack.pop())
                try:
                    directory.fd = _open_directory(parent.fd, directory.name, create=False)[0]
                except OSError as error:
                    path = _display(directory.path)
                    _check_fatal(path, error)
                    directory.failed = True
                    self.error(path, f"directory metadata not restored: {_describe(error)}")
                    continue
                stack.append(directory)
                for node, owner, owner_name in directory.links:
                    self.make_link(directory, node, owner, owner_name, opened)
            while len(stack) > 1:
                self.close_directory(stack.pop())
        finally:
            for directory in stack[1:]:
                os.close(directory.fd)
                directory.fd = -1
            for fd in opened.values():
                os.close(fd)

    def close_directory(self, directory: _Directory) -> None:
        try:
            self.apply_directory_metadata(directory)
        finally:
            os.close(directory.fd)
            directory.fd = -1

    def apply_directory_metadata(self, directory: _Directory) -> None:
        node = directory.node
        assert node is not None
        outcome = _Outcome()
        path = _display(directory.path)
        try:
            if os.geteuid() == 0:
                _Writer.chown(directory.fd, _owner(node), path, outcome)
            os.fchmod(directory.fd, node.mode)
            if node.xattrs:
                _Writer.set_xattrs(directory.fd, node, path, outcome)
            os.utime(directory.fd, ns=(node.mtime_ns, node.mtime_ns))
        except OSError as error:
            _check_fatal(path, error)
            outcome.warnings.append((path, f"metadata not restored: {_describe(error)}"))
        except _MALFORMED as error:
            outcome.warnings.append((path, f"metadata not restored: {_malformed(error)}"))
        for warned, message in outcome.warnings:
            self.warn(warned, message)

    def make_link(
        self,
        directory: _Directory,
        node: Node,
        owner: _Directory,
        owner_name: bytes,
        opened: _OpenedDirectories,
    ) -> None:
        path = _entry_path(directory.path, node.name)
        owner_path = _entry_path(owner.path, owner_name)
        self.files_done += 1
        if owner.failed or owner_path in self.failed_paths:
            self.error(path, f"hard link not restored: {owner_path}, the file it links to, was not restored")
            return
        try:
            owner_fd = self.directory_fd(owner, opened)
            try:
                os.link(
                    owner_name, node.name, src_dir_fd=owner_fd, dst_dir_fd=directory.fd, follow_symlinks=False
                )
            except FileExistsError:
                _remove_entry(directory.fd, node.name)
                os.link(
                    owner_name, node.name, src_dir_fd=owner_fd, dst_dir_fd=directory.fd, follow_symlinks=False
                )
        except OSError as error:
            _check_fatal(path, error)
            self.error(path, f"hard link not restored: {_describe(error)}")
            return
        if owner_path in self.damaged_paths:
            self.damage(path, f"hard link of {owner_path}, whose content is damaged")
        else:
            self.result.files_restored += 1

    def directory_fd(self, directory: _Directory, opened: _OpenedDirectories) -> int:
        """Return a descriptor of a restored directory: open already, or opened from the target down."""
        assert self.root is not None
        if directory.fd >= 0:
            return directory.fd
        cached = opened.get(id(directory))
        if cached is not None:
            opened.move_to_end(id(directory))
            return cached
        ancestors: list[_Directory] = []
        walker: _Directory | None = directory
        while walker is not None and walker.parent is not None:
            ancestors.append(walker)
            walker = walker.parent
        fd = os.dup(self.root.fd)
        try:
            for ancestor in reversed(ancestors):
                child_fd = _open_directory(fd, ancestor.name, create=False)[0]
                os.close(fd)
                fd = child_fd
        except BaseException:
            os.close(fd)
            raise
        opened[id(directory)] = fd
        if len(opened) > 16:
            os.close(opened.popitem(last=False)[1])
        return fd


def _open_target(target: bytes) -> int:
    """Create the target if missing and return a descriptor of it.

    Raises:
        TargetError: it cannot be created, is not a directory, or cannot be written.
    """
    shown = os.fsdecode(target)
    try:
        os.makedirs(target, exist_ok=True)
    except FileExistsError:
        raise TargetError(f"cannot restore to {shown}: it is not a directory", "choose a directory") from None
    except OSError as error:
        raise TargetError(
            f"cannot create the restore target {shown}: {_describe(error)}",
            "choose a directory you can write to",
        ) from None
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        reason = "it is not a directory" if error.errno == errno.ENOTDIR else _describe(error)
        raise TargetError(f"cannot restore to {shown}: {reason}", "choose a directory") from None
    if not os.access(target, os.W_OK | os.X_OK):
        os.close(fd)
        raise TargetError(
            f"cannot restore to {shown}: it is not writable (permission denied or a read-only file system)",
            "choose a directory you can write to",
        )
    return fd


def _processes_pay_off(repository: Repository, snapshot: Snapshot) -> bool:
    """Return True when worker processes can open the storage and the snapshot is large enough."""
    if not getattr(repository.storage, "shareable_between_processes", False):
        return False
    files = snapshot.summary.get("total_files_processed", 0)
    size = snapshot.summary.get("total_bytes_processed", 0)
    return files >= PROCESSES_FROM_FILES or size >= PROCESSES_FROM_BYTES


def restore(
    repository: Repository,
    snapshot: Snapshot,
    target: str,
    *,
    includes: Iterable[str] = (),
    excludes: Iterable[str] = (),
    reporter: Reporter = ignore_events,
    workers: int = 2,
    verify: bool = True,
    processes: bool | None = None,
) -> RestoreResult:
    """Restore a snapshot (or the part that the filters select) into ``target``.

    The snapshot's absolute paths become paths inside ``target``: ``/srv/www`` is restored to
    ``TARGET/srv/www``. Entries in the way are replaced; other entries already in the target are
    left alone. Owners are restored only when running as root (by name when the name exists here).

    Args:
        repository: an open repository.
        snapshot: the snapshot to restore.
        target: the directory to restore into; created when missing.
        includes: patterns (see :mod:`resguardo.engine.filters`) of the paths to restore, matched
            against the absolute paths of the snapshot; the directories leading to them are
            restored too. Empty: everything.
        excludes: patterns of paths to leave out (with everything below them).
        reporter: receives Progress("restore", ...) events (totals once the trees are walked), and
            one ItemWarning per entry not restored, damaged, or restored without some metadata.
        workers: worker processes or threads writing files.
        verify: check every blob against its ID after decrypting it (authentication is always checked).
        processes: write with worker processes (True), threads (False), or decide from the storage
            and the snapshot's size (None).

    Returns:
        counts, the entries that could not be restored, and the damaged paths.

    Raises:
        TargetError: the target cannot be created or written, or it filled up.
        ConfigurationError: a pattern is malformed, ``workers`` is less than 1, or processes were
            asked for with a storage that other processes cannot open.
        ResguardoError: a worker failed unexpectedly.
    """
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1, got {workers}")
    if processes and not getattr(repository.storage, "shareable_between_processes", False):
        raise ConfigurationError("this storage cannot be opened by worker processes", "restore with threads")
    restorer = _Restorer(repository, snapshot, reporter)
    restorer.includes = PathFilter(includes)
    restorer.excludes = PathFilter(excludes)
    restorer.worker_count = workers
    restorer.verify = verify
    use_processes = _processes_pay_off(repository, snapshot) if processes is None else processes
    target_fd = _open_target(os.fsencode(target))
    try:
        restorer.write(target_fd, use_processes)
        restorer.finish()
    except _FatalTargetError as fatal:
        raise TargetError(
            f"restore stopped at {fatal.path}: {fatal.reason}",
            "free space or make the target writable, then restore again",
        ) from None
    finally:
        os.close(target_fd)
    restorer.current = ""
    restorer.report_progress(force=True)
    return restorer.result


if __name__ == "__main__":
    # Run under the module's real name, so that what the worker pickles unpickles in the parent.
    from resguardo.engine import restorer as _restorer_module  # noqa: PLW0406

    with os.fdopen(int(sys.argv[1]), "rb") as _requests, os.fdopen(int(sys.argv[2]), "wb") as _replies:
        _restorer_module._worker_main(_requests, _replies, int(sys.argv[3]))
