"""One restore run, coordinated from the calling thread.

This module owns :class:`_Restorer`: the walker thread that loads the trees depth-first and applies
includes and excludes, the calling thread's work of creating directories lazily and handing their
entries to the workers in batches (large files in pieces, finished here after their last piece),
taking in the workers' outcomes, and, at the end, making the hard links and applying directory
metadata deepest first.
"""

from __future__ import annotations

import os
import queue
import stat
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from resguardo.core.errors import IntegrityError, ResguardoError, StorageError
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter
from resguardo.engine.filters import PathFilter
from resguardo.engine.repository import Repository
from resguardo.engine.restorer.entry_writer import _Writer
from resguardo.engine.restorer.plan import _Directory, _Group, _Job, _Outcome, _Piece
from resguardo.engine.restorer.reading import _BlobReader, _TreeReader
from resguardo.engine.restorer.result import RestoreResult
from resguardo.engine.restorer.tuning import BATCH_BYTES, BATCH_FILES, JOBS_IN_FLIGHT_PER_WORKER, PIECE_BYTES
from resguardo.engine.restorer.workers import _ProcessWorkers, _ThreadWorkers
from resguardo.engine.restorer.writing import (
    _MALFORMED,
    _check_fatal,
    _create_file,
    _describe,
    _display,
    _entry_path,
    _identity,
    _inheriting,
    _malformed,
    _open_directory,
    _owner,
    _read_umask,
    _remove_entry,
)
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, SOCKET, Node, decode_tree


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
        self.piece_bytes = PIECE_BYTES
        self.decode_tree: Callable[[bytes], list[Node]] = decode_tree
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
        self.shared_files_started = 0
        """Large files handed out in pieces so far; the next one is numbered one more (never reused)."""
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
            trees = _TreeReader(self.repository, self.decode_tree)
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
            large = node.type == FILE and node.size > self.piece_bytes and len(node.content) > 1
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
        self.shared_files_started += 1
        file_id = self.shared_files_started
        shared = self.shared_files[file_id] = _SharedFile(fd, node, path, 0)
        identity = _identity(fd)
        pieces: list[_Piece] = []
        first = offset = piece_offset = 0
        for index, length in enumerate(lengths):
            offset += length
            if offset - piece_offset >= self.piece_bytes or index == len(lengths) - 1:
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
