"""Restore: write a snapshot's files back into a directory, with their metadata.

Three kinds of thread share the work, so that both cores stay busy:

* a **walker** thread loads the snapshot's trees depth-first, applies includes and excludes, and
  hands each directory's plan (the entries to restore in it, its hard links) to the calling thread.
  It also registers every content blob it meets with the reader, so reads can be planned by pack.
  When it has walked everything the progress totals are known.
* the **calling** thread creates the directories in depth-first order (lazily: a directory kept only
  to reach an included path is created when something below it is restored) and hands their
  entries, in batches, to
* **worker** threads, which create the files, write their content and set their metadata. AES-GCM,
  zstd, BLAKE3 and the writes release the interpreter lock. Files larger than :data:`PIECE_BYTES`
  are written in pieces by several workers at once.

Reads are planned by pack: the wanted blobs that lie in one window of a pack form a *run*, read
with one storage load of the range covering them, and kept in memory until each of its blobs has
been used as often as the walk counted (a memory cap drops the oldest runs; a dropped run is read
again if needed). When the writing is done, the calling thread makes the hard links and applies
every directory's metadata, deepest first, so creating entries does not change a restored time.

Security: no file-system call follows a path through the target. Every call is relative to a
directory descriptor opened with ``O_DIRECTORY | O_NOFOLLOW``, starting from the target; files are
created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` after removing whatever was in the way, and metadata is
set through the open descriptor or with ``follow_symlinks=False``. A symlink in the target, restored
or already there, is therefore never followed, and an existing file (or a hard link to a file
elsewhere) is replaced, never written through. Trees with names that could escape their directory
are refused by :func:`~resguardo.engine.tree.decode_tree`.

Damage: a blob that cannot be read leaves a hole of its length in its file, which is named in
``damaged`` (and in a warning); every other file is restored. A damaged tree names its directory,
which is skipped.
"""

from __future__ import annotations

import errno
import functools
import grp
import os
import pwd
import queue
import re
import stat
import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from resguardo.core.errors import (
    ConfigurationError,
    IntegrityError,
    ObjectNotFound,
    StorageError,
    TargetError,
)
from resguardo.engine.compression import decompress
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
JOBS_IN_FLIGHT_PER_WORKER = 4
RUN_WINDOW_LOCAL = 4 * 1024 * 1024
RUN_WINDOW_REMOTE = 16 * 1024 * 1024
"""Wanted blobs of one pack window of this size are read together, with one load."""
RUN_CACHE_BYTES = 256 * 1024 * 1024
"""Memory that runs read but not yet used up may take before the oldest are dropped."""
TREE_WINDOW = 1024 * 1024
"""Tree blobs are read with this many bytes of their pack on each side, for the trees nearby."""
TREE_WINDOWS_KEPT = 8

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
_SPECIAL_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


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
    created: bool = False
    failed: bool = False
    group_inherited: bool = False


def _display(path: bytes) -> str:
    return os.fsdecode(path) if path else "/"


def _entry_path(directory: _Directory, name: bytes) -> str:
    return os.fsdecode(directory.path + b"/" + name)


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

    The walker :meth:`register` s each use of a blob before any worker asks for it.
    """

    def __init__(self, repository: Repository, verify: bool) -> None:
        self.repository = repository
        self.keys = repository.keys
        self.verify = verify
        self.window = RUN_WINDOW_LOCAL if repository.storage.is_local else RUN_WINDOW_REMOTE
        self.lock = threading.Lock()
        self.runs: dict[tuple[bytes, int], _Run] = {}
        self.places: dict[bytes, tuple[_Run, BlobLocation]] = {}
        self.loaded: OrderedDict[_Run, int] = OrderedDict()
        self.loaded_bytes = 0

    def register(self, content: list[bytes]) -> None:
        """Count one more use of each blob of a file's content."""
        lookup = self.repository.index.lookup
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
                data = self.repository.storage.load(pack_name(run.pack_id), run.start, run.end - run.start)
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

    def __init__(self, path: str, error: OSError) -> None:
        super().__init__(path)
        self.path = path
        self.error = error


def _describe(error: OSError) -> str:
    if error.errno == errno.ENOTEMPTY:
        return "a directory that is not empty is in the way"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or str(error)


def _check_fatal(path: str, error: OSError) -> None:
    if error.errno in _FATAL_ERRNOS:
        raise _FatalTargetError(path, error) from None


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


_HOLE_BLOCK = 4096
_ZERO_BLOCK = bytes(_HOLE_BLOCK)
_NOT_ZERO = re.compile(rb"[^\0]")


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


def _write_all(fd: int, data: bytes, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    if written < len(data):
        view = memoryview(data)
        while written < len(data):
            written += os.pwrite(fd, view[written:], offset + written)


# -- jobs ---------------------------------------------------------------------------------------


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
    fatal: _FatalTargetError | None = None
    crash: BaseException | None = None


@dataclass(slots=True, eq=False)
class _SharedFile:
    """A large file open for writing by several piece jobs; the last one to finish closes it."""

    fd: int
    node: Node
    path: str
    pieces_left: int
    damage: list[str] = field(default_factory=list)
    error: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)


@dataclass(slots=True)
class _Piece:
    shared: _SharedFile
    first: int
    last: int
    offset: int
    length: int


@dataclass(slots=True)
class _Job:
    directory: _Directory
    fd: int
    tasks: list[Node | _Piece]


_WalkItem = _Directory | tuple[str, str] | BaseException | None


class _Restorer:
    """One restore run; not reusable."""

    def __init__(self, repository: Repository, snapshot: Snapshot, reporter: Reporter) -> None:
        self.repository = repository
        self.snapshot = snapshot
        self.reporter = reporter
        self.includes = PathFilter(())
        self.excludes = PathFilter(())
        self.workers = 2
        self.reader = _BlobReader(repository, verify=True)
        self.as_root = os.geteuid() == 0
        self.owner = (os.geteuid(), os.getegid())
        self.umask = _read_umask()
        self.result = RestoreResult()
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.hard_links: dict[tuple[int, int], tuple[_Directory, bytes]] = {}
        self.totals: tuple[int, int] | None = None
        self.files_done = 0
        self.bytes_done = 0
        self.failed_paths: set[str] = set()
        self.damaged_paths: set[str] = set()
        self.created: list[_Directory] = []
        self.walked: queue.SimpleQueue[_WalkItem] = queue.SimpleQueue()
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.outcomes: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        self.in_flight = 0
        self.stopping = False
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
            self.reporter(Progress("restore", self.files_done, self.bytes_done, files_total, bytes_total))

    # -- the walker thread ------------------------------------------------------------------

    def walk(self) -> None:
        """Walk the trees depth-first, handing each directory's plan to the calling thread."""
        try:
            trees = _TreeReader(self.repository)
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
                        self.reader.register(node.content)
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

    def write(self, target_fd: int) -> None:
        """Create the directories as the walker hands them over, and their entries through workers."""
        walker = threading.Thread(target=self.walk, name="restore-walker", daemon=True)
        threads = [
            threading.Thread(target=self.work, name=f"restore-{n}", daemon=True) for n in range(self.workers)
        ]
        walker.start()
        for thread in threads:
            thread.start()
        stack: list[_Directory] = []
        try:
            while True:
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
            while self.in_flight:
                self.collect(block=True)
        finally:
            self.stopping = True
            for _thread in threads:
                self.jobs.put(None)
            for thread in [*threads, walker]:
                thread.join()
            for directory in stack:
                if directory.fd >= 0 and directory.parent is not None:
                    os.close(directory.fd)
                    directory.fd = -1

    def place(self, directory: _Directory, stack: list[_Directory], target_fd: int) -> None:
        """Take one walked directory: create it when needed and hand its entries to the workers."""
        if directory.parent is None:
            self.root = directory
            directory.fd = target_fd
            directory.created = True
            directory.group_inherited = bool(os.fstat(target_fd).st_mode & stat.S_ISGID)
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
        except OSError as error:
            path = _display(directory.path)
            _check_fatal(path, error)
            directory.failed = True
            self.error(path, f"directory not restored: {_describe(error)}")
            return False
        directory.created = True
        directory.group_inherited = (
            parent.group_inherited if fresh else bool(os.fstat(directory.fd).st_mode & stat.S_ISGID)
        )
        self.created.append(directory)
        self.result.directories += 1
        return True

    def submit_entries(self, directory: _Directory) -> None:
        """Hand a directory's entries to the workers in batches (large files in pieces)."""
        batch: list[Node | _Piece] = []
        batch_bytes = 0
        for node in directory.entries:
            if node.type == FILE and node.size > PIECE_BYTES and len(node.content) > 1:
                self.submit_pieces(directory, node)
                continue
            batch.append(node)
            batch_bytes += node.size
            if len(batch) >= BATCH_FILES or batch_bytes >= BATCH_BYTES:
                self.submit(_Job(directory, directory.fd, batch))
                batch, batch_bytes = [], 0
        if batch:
            self.submit(_Job(directory, directory.fd, batch))

    def submit_pieces(self, directory: _Directory, node: Node) -> None:
        """Create a large file here and hand its content to several workers in pieces."""
        lengths = [self.reader.raw_length(blob_id) for blob_id in node.content]
        if None in lengths:
            self.submit(_Job(directory, directory.fd, [node]))
            return
        path = _entry_path(directory, node.name)
        try:
            fd = _create_file(directory.fd, node.name, 0o600)
        except OSError as error:
            _check_fatal(path, error)
            self.error(path, f"not restored: {_describe(error)}")
            return
        shared = _SharedFile(fd, node, path, 0)
        pieces: list[_Piece] = []
        first = offset = piece_offset = 0
        for index, length in enumerate(lengths):
            offset += length or 0
            if offset - piece_offset >= PIECE_BYTES or index == len(lengths) - 1:
                pieces.append(_Piece(shared, first, index + 1, piece_offset, offset - piece_offset))
                first, piece_offset = index + 1, offset
        shared.pieces_left = len(pieces)
        for piece in pieces:
            self.submit(_Job(directory, directory.fd, [piece]))

    def submit(self, job: _Job) -> None:
        job.fd = os.dup(job.fd)
        while self.in_flight >= self.workers * JOBS_IN_FLIGHT_PER_WORKER:
            self.collect(block=True)
        self.jobs.put(job)
        self.in_flight += 1

    def collect(self, block: bool) -> bool:
        """Take in one finished job's outcome; return False when none was ready (without blocking)."""
        try:
            outcome = self.outcomes.get(block=block)
        except queue.Empty:
            return False
        self.in_flight -= 1
        if outcome.crash is not None:
            raise outcome.crash
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
        self.report_progress()
        return True

    # -- worker threads ---------------------------------------------------------------------

    def work(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            outcome = _Outcome()
            try:
                if self.stopping:
                    self.abandon(job)
                else:
                    self.run_job(job, outcome)
            except _FatalTargetError as fatal:
                outcome.fatal = fatal
                self.stopping = True
            except BaseException as crash:
                outcome.crash = crash
                self.stopping = True
            finally:
                os.close(job.fd)
            self.outcomes.put(outcome)

    @staticmethod
    def abandon(job: _Job) -> None:
        """Release what a job skipped after a fatal error holds (the descriptor of a shared file)."""
        for task in job.tasks:
            if isinstance(task, _Piece):
                with task.shared.lock:
                    task.shared.pieces_left -= 1
                    last = task.shared.pieces_left == 0
                if last:
                    os.close(task.shared.fd)

    def run_job(self, job: _Job, outcome: _Outcome) -> None:
        directory = job.directory
        for task in job.tasks:
            if isinstance(task, _Piece):
                self.write_piece(task, outcome)
                continue
            outcome.done_files += 1
            try:
                if task.type == FILE:
                    outcome.done_bytes += task.size
                    self.restore_file(job.fd, directory, task, outcome)
                elif task.type == SYMLINK:
                    self.restore_symlink(job.fd, directory, task, outcome)
                else:
                    self.restore_special(job.fd, directory, task, outcome)
            except OSError as error:
                path = _entry_path(directory, task.name)
                _check_fatal(path, error)
                outcome.errors.append((path, f"not restored: {_describe(error)}"))

    def restore_file(self, dir_fd: int, directory: _Directory, node: Node, outcome: _Outcome) -> None:
        mode = node.mode
        umask = self.umask
        chmod = umask is None or bool(mode & _SPECIAL_BITS) or bool(mode & umask)
        fd = _create_file(dir_fd, node.name, mode & 0o777)
        try:
            damage: list[str] = []
            end = self.write_content(fd, node, 0, len(node.content), 0, damage) if node.content else 0
            if end != node.size or node.sparse or damage:
                os.ftruncate(fd, node.size)
            if self.as_root:
                owner = _owner(node)
                if owner != self.owner or directory.group_inherited:
                    self.chown(fd, owner, directory, node, outcome)
                    chmod = chmod or bool(mode & (stat.S_ISUID | stat.S_ISGID))
            if chmod:
                os.fchmod(fd, mode)
            if node.xattrs:
                self.set_xattrs(fd, node, _entry_path(directory, node.name), outcome)
            os.utime(fd, ns=(node.mtime_ns, node.mtime_ns))
        finally:
            os.close(fd)
        if damage:
            self.damaged_file(_entry_path(directory, node.name), damage, outcome)
        else:
            outcome.files += 1
            outcome.bytes += node.size

    @staticmethod
    def damaged_file(path: str, damage: list[str], outcome: _Outcome) -> None:
        outcome.damaged.append(path)
        outcome.warnings.append(
            (path, "restored with holes where its content is damaged: " + "; ".join(damage))
        )

    @staticmethod
    def chown(fd: int, owner: tuple[int, int], directory: _Directory, node: Node, outcome: _Outcome) -> None:
        try:
            os.fchown(fd, *owner)
        except OSError as error:
            outcome.warnings.append(
                (_entry_path(directory, node.name), f"owner not restored: {_describe(error)}")
            )

    def write_piece(self, piece: _Piece, outcome: _Outcome) -> None:
        shared = piece.shared
        outcome.done_bytes += piece.length
        damage: list[str] = []
        error = ""
        try:
            self.write_content(shared.fd, shared.node, piece.first, piece.last, piece.offset, damage)
        except OSError as failure:
            _check_fatal(shared.path, failure)
            error = _describe(failure)
        with shared.lock:
            shared.damage.extend(damage)
            shared.error = shared.error or error
            shared.pieces_left -= 1
            if shared.pieces_left:
                return
        outcome.done_files += 1
        node = shared.node
        try:
            if not shared.error:
                os.ftruncate(shared.fd, node.size)
                if self.as_root:
                    os.fchown(shared.fd, *_owner(node))
                os.fchmod(shared.fd, node.mode)
                if node.xattrs:
                    self.set_xattrs(shared.fd, node, shared.path, outcome)
                os.utime(shared.fd, ns=(node.mtime_ns, node.mtime_ns))
        except OSError as failure:
            _check_fatal(shared.path, failure)
            shared.error = _describe(failure)
        finally:
            os.close(shared.fd)
        if shared.error:
            outcome.errors.append((shared.path, f"not restored: {shared.error}"))
        elif shared.damage:
            self.damaged_file(shared.path, shared.damage, outcome)
        else:
            outcome.files += 1
            outcome.bytes += node.size

    def write_content(  # noqa: PLR0917 - a range of chunks and where it starts
        self, fd: int, node: Node, first: int, last: int, offset: int, damage: list[str]
    ) -> int:
        """Write the chunks ``first`` to ``last`` (exclusive) of a file from ``offset``; return the end.

        A chunk that cannot be read leaves a hole of its length and is described in ``damage``;
        in a sparse file, aligned all-zero blocks are left as holes.
        """
        reader = self.reader
        sparse = node.sparse
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
            if sparse:
                _write_sparse(fd, data, offset)
            else:
                _write_all(fd, data, offset)
            offset += len(data)
        return offset

    def infer_length(self, node: Node, index: int, offset: int) -> int | None:
        """Return the length of an unindexed chunk when it is the only one of the rest of the file."""
        rest = [self.reader.raw_length(blob_id) for blob_id in node.content[index + 1 :]]
        if None in rest:
            return None
        length = node.size - offset - sum(length or 0 for length in rest)
        return length if length >= 0 else None

    def restore_symlink(self, dir_fd: int, directory: _Directory, node: Node, outcome: _Outcome) -> None:
        try:
            os.symlink(node.target, node.name, dir_fd=dir_fd)
        except FileExistsError:
            _remove_entry(dir_fd, node.name)
            os.symlink(node.target, node.name, dir_fd=dir_fd)
        self.apply_metadata_by_name(dir_fd, directory, node, outcome)
        outcome.files += 1

    def restore_special(self, dir_fd: int, directory: _Directory, node: Node, outcome: _Outcome) -> None:
        if node.type == FIFO:
            kind, device = stat.S_IFIFO, 0
        elif node.type in (CHARACTER_DEVICE, BLOCK_DEVICE) and self.as_root:
            kind = stat.S_IFCHR if node.type == CHARACTER_DEVICE else stat.S_IFBLK
            device = node.rdev
        else:
            path = _entry_path(directory, node.name)
            outcome.warnings.append((path, "device node not restored: creating one needs root"))
            return
        try:
            os.mknod(node.name, kind | 0o600, device, dir_fd=dir_fd)
        except FileExistsError:
            _remove_entry(dir_fd, node.name)
            os.mknod(node.name, kind | 0o600, device, dir_fd=dir_fd)
        self.apply_metadata_by_name(dir_fd, directory, node, outcome)
        outcome.files += 1

    # -- metadata ---------------------------------------------------------------------------

    def apply_metadata_by_name(
        self, dir_fd: int, directory: _Directory, node: Node, outcome: _Outcome
    ) -> None:
        """Set the metadata of a symlink or special file by name, never following it."""
        if self.as_root:
            try:
                os.chown(node.name, *_owner(node), dir_fd=dir_fd, follow_symlinks=False)
            except OSError as error:
                path = _entry_path(directory, node.name)
                outcome.warnings.append((path, f"owner not restored: {_describe(error)}"))
        if node.type != SYMLINK:
            try:
                os.chmod(node.name, node.mode, dir_fd=dir_fd, follow_symlinks=False)
            except (NotImplementedError, ValueError, OSError):
                outcome.warnings.append(
                    (_entry_path(directory, node.name), "mode not restored: not supported here")
                )
        if node.xattrs:
            where = b"/proc/self/fd/%d/%s" % (dir_fd, node.name)
            self.set_xattrs(where, node, _entry_path(directory, node.name), outcome)
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
        if refused:
            outcome.warnings.append(
                (path, f"extended attributes not restored ({reason}): {', '.join(refused)}")
            )

    # -- the calling thread, at the end: hard links and directory metadata -------------------

    def finish(self) -> None:
        """Make the hard links, then apply directory metadata deepest first."""
        root = self.root
        if root is None:
            return
        stack: list[_Directory] = [root]
        opened: OrderedDict[int, int] = OrderedDict()
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
            if directory.node is not None:
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
            if self.as_root:
                self.chown(directory.fd, _owner(node), directory, node, outcome)
            os.fchmod(directory.fd, node.mode)
            if node.xattrs:
                self.set_xattrs(directory.fd, node, path, outcome)
            os.utime(directory.fd, ns=(node.mtime_ns, node.mtime_ns))
        except OSError as error:
            _check_fatal(path, error)
            outcome.warnings.append((path, f"metadata not restored: {_describe(error)}"))
        for warned, message in outcome.warnings:
            self.warn(warned, message)

    def make_link(
        self,
        directory: _Directory,
        node: Node,
        owner: _Directory,
        owner_name: bytes,
        opened: OrderedDict[int, int],
    ) -> None:
        path = _entry_path(directory, node.name)
        owner_path = _entry_path(owner, owner_name)
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

    def directory_fd(self, directory: _Directory, opened: OrderedDict[int, int]) -> int:
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
        workers: threads writing files.
        verify: check every blob against its ID after decrypting it (authentication is always checked).

    Returns:
        counts, the entries that could not be restored, and the damaged paths.

    Raises:
        TargetError: the target cannot be created or written, or it filled up.
        ConfigurationError: a pattern is malformed, or ``workers`` is less than 1.
    """
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1, got {workers}")
    restorer = _Restorer(repository, snapshot, reporter)
    restorer.includes = PathFilter(includes)
    restorer.excludes = PathFilter(excludes)
    restorer.workers = workers
    restorer.reader.verify = verify
    target_fd = _open_target(os.fsencode(target))
    try:
        restorer.write(target_fd)
        restorer.finish()
    except _FatalTargetError as fatal:
        raise TargetError(
            f"restore stopped at {fatal.path}: {_describe(fatal.error)}",
            "free space or make the target writable, then restore again",
        ) from None
    finally:
        os.close(target_fd)
    restorer.report_progress(force=True)
    return restorer.result
