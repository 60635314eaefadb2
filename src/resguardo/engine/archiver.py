"""Backup: walk file trees (or read a stream), store new content, and save a snapshot.

The walk runs on the calling thread; reading, hashing, compressing and encrypting file content runs
on a pool of worker threads whose heavy lifting (chunking, BLAKE3, zstd, AES-GCM) happens in native
code that releases the interpreter lock. Directories are finished in post-order as soon as the
content of their files is stored, so the pool never drains at a directory boundary.

Files whose size, mtime, ctime and inode match the parent snapshot are not read again.
"""

from __future__ import annotations

import errno
import os
import stat
import threading
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

from resguardo import __version__
from resguardo.core.errors import ConfigurationError, IntegrityError, SourceError
from resguardo.engine.backupparts import default_hostname, select_parent, stream_file_node
from resguardo.engine.chunker import Chunker
from resguardo.engine.contentworkers import BatchOutcome, ContentWorkers, UnreadableFile, storage_is_shareable
from resguardo.engine.dircache import (
    CachedDirectory,
    DirectoryCache,
    cache_file_path,
    combine,
    fingerprint_entries,
)
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.filters import PathFilter
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, Node, decode_tree, encode_tree
from resguardo.engine.walk import CACHEDIR_TAG_NAME, is_tagged_cache_directory, node_from_stat
from resguardo.engine.walk import user_name as _user_name

MAX_JOBS_IN_FLIGHT = 64


@dataclass(slots=True)
class BackupOptions:
    """How to back up.

    Attributes:
        excludes: patterns of paths to leave out (see :mod:`resguardo.engine.filters`).
        exclude_caches: leave out the contents of directories tagged with a valid CACHEDIR.TAG.
        one_file_system: do not cross into other file systems (mount points are kept, empty).
        tags: labels stored with the snapshot.
        hostname: the host recorded in the snapshot (default: this machine's name).
        parent: ID of the snapshot to compare with; None picks the latest of the same host and paths.
        use_parent: False reads every file again.
        workers: processes (or threads, for storage that cannot be shared) that store file content.
        processes: use worker processes when the storage allows it; threads otherwise.
        estimate_totals: count files and bytes in a background thread first, so that progress
            events carry totals (for a progress bar with an ETA); costs a second walk.
        cache_dir: where the local metadata cache lives (None: no cache; unchanged files are still
            found through the parent snapshot, only more slowly).
    """

    excludes: Sequence[str] = ()
    exclude_caches: bool = False
    one_file_system: bool = False
    tags: Sequence[str] = ()
    hostname: str | None = None
    parent: str | None = None
    use_parent: bool = True
    workers: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))
    processes: bool = True
    cache_dir: str | None = None
    estimate_totals: bool = False


@dataclass(slots=True)
class BackupResult:
    """What a backup did: the saved snapshot and the files it could not read."""

    snapshot: Snapshot
    unreadable: list[tuple[str, str]]

    @property
    def partial(self) -> bool:
        """True when some files could not be read (the snapshot says so too)."""
        return bool(self.unreadable)


@dataclass(slots=True)
class _Counters:
    files_new: int = 0
    files_changed: int = 0
    files_unchanged: int = 0
    directories: int = 0
    data_blobs: int = 0
    tree_blobs: int = 0
    bytes_added: int = 0
    bytes_processed: int = 0
    files_processed: int = 0


@dataclass(slots=True)
class _PendingFile:
    node: Node
    path: bytes
    futures: list[Future[list[tuple[bytes, int]]]]
    changed: bool
    reading_error: str = ""


@dataclass(slots=True)
class _PendingDirectory:
    node: Node
    path: bytes
    entries: list[Node | _PendingFile]
    fingerprint: bytes
    cached: CachedDirectory | None = None


def _display(path: bytes) -> str:
    return os.fsdecode(path)


def _absolute_paths(paths: Iterable[str]) -> list[bytes]:
    """Return the paths absolute and normalized, without duplicates, sorted."""
    return sorted({os.path.normpath(os.path.abspath(os.fsencode(path))) for path in paths})


def _normalize_paths(paths: Iterable[str]) -> list[bytes]:
    """Return absolute, normalized paths with duplicates and paths inside others removed."""
    normalized = _absolute_paths(paths)
    kept: list[bytes] = []
    for path in normalized:
        if any(path == parent or path.startswith(parent.rstrip(b"/") + b"/") for parent in kept):
            continue
        kept.append(path)
    return kept


class _Archiver:
    """One backup run; not reusable."""

    def __init__(
        self,
        repository: Repository,
        options: BackupOptions,
        reporter: Reporter,
        cache: DirectoryCache | None = None,
    ) -> None:
        self.repository = repository
        self.cache = cache or DirectoryCache(None)
        self.options = options
        self.reporter = reporter
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.chunker = Chunker(repository.keys.chunker_key, repository.config.chunker)
        self.small_file_limit = repository.config.chunker.min_size
        self.excludes = PathFilter(options.excludes)
        self.counters = _Counters()
        self.counter_lock = threading.Lock()
        self.unreadable: list[tuple[str, str]] = []
        self.finished: deque[_PendingDirectory] = deque()
        self.job_slots = threading.BoundedSemaphore(MAX_JOBS_IN_FLIGHT)
        self.executor = ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="backup")
        self.reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="backup-reader")
        self.use_processes = (
            options.processes and options.workers > 1 and storage_is_shareable(repository.storage)
        )
        self.content_workers: ContentWorkers | None = None
        self.hard_links: dict[tuple[int, int], _PendingFile] = {}
        self.given_paths: dict[bytes, int] = {}
        self.given_ancestors: set[bytes] = set()
        self.incomplete_directories: set[bytes] = set()
        self.totals: tuple[int, int] | None = None
        self.current = ""

    # -- reporting --------------------------------------------------------------------------

    def warn(self, path: bytes | str, message: str) -> None:
        shown = path if isinstance(path, str) else _display(path)
        self.reporter(ItemWarning("backup", shown, message))

    def unreadable_file(self, path: bytes, message: str) -> None:
        self.unreadable.append((_display(path), message))
        self.incomplete_directories.add(os.path.dirname(path))
        self.warn(path, message)

    def report_progress(self, force: bool = False) -> None:
        if force or self.throttle.due():
            counters = self.counters
            totals = self.totals
            self.reporter(
                Progress(
                    "backup",
                    counters.files_processed,
                    counters.bytes_processed,
                    files_total=totals[0] if totals else None,
                    bytes_total=totals[1] if totals else None,
                    current=self.current,
                )
            )

    def start_estimate(self, paths: list[bytes]) -> None:
        """Count the files and bytes under ``paths`` in a background thread (for progress totals)."""

        def count() -> None:
            files = size = 0
            stack = list(paths)
            while stack:
                path = stack.pop()
                if self.excludes and self.excludes.matches(_display(path)):
                    continue
                try:
                    status = os.lstat(path)
                except OSError:
                    continue
                if stat.S_ISDIR(status.st_mode):
                    try:
                        stack.extend(os.path.join(path, name) for name in os.listdir(path))
                    except OSError:
                        continue
                else:
                    files += 1
                    size += status.st_size if stat.S_ISREG(status.st_mode) else 0
            self.totals = (files, size)

        threading.Thread(target=count, name="backup-estimate", daemon=True).start()

    # -- storing content (worker threads) ---------------------------------------------------

    def _save_data_blob(self, data: bytes) -> list[tuple[bytes, int]]:
        """Store one chunk of file content and count it; return it as (id, length)."""
        blob_id, added = self.repository.save_blob(BlobType.DATA, data)
        with self.counter_lock:
            self.counters.bytes_processed += len(data)
            if added:
                self.counters.data_blobs += 1
                self.counters.bytes_added += added
        return [(blob_id, len(data))]

    def _store_chunk(self, data: bytes) -> list[tuple[bytes, int]]:
        try:
            return self._save_data_blob(data)
        finally:
            self.job_slots.release()

    def _store_small_file(self, path: bytes, expected: os.stat_result) -> list[tuple[bytes, int]]:
        try:
            data, status = _read_whole_file(path)
            if len(data) > self.small_file_limit:
                raise _GrewWhileReading
            if status.st_mtime_ns != expected.st_mtime_ns or status.st_size != expected.st_size:
                self.warn(path, "file changed while it was read; the stored copy may be inconsistent")
            return self._save_data_blob(data) if data else []
        finally:
            self.job_slots.release()

    def _count_outcome(self, outcome: BatchOutcome) -> None:
        """Add a worker process's batch to the counters and report its warnings (collector thread)."""
        with self.counter_lock:
            self.counters.data_blobs += outcome.blobs_added
            self.counters.bytes_added += outcome.bytes_added
            self.counters.bytes_processed += sum(
                length for chunks, _error in outcome.files for _blob, length in chunks
            )
        for path, message in outcome.warnings:
            self.warn(path, message)

    def _submit(
        self, function: Callable[..., list[tuple[bytes, int]]], *arguments: object
    ) -> Future[list[tuple[bytes, int]]]:
        self.job_slots.acquire()
        try:
            return self.executor.submit(function, *arguments)
        except BaseException:
            self.job_slots.release()
            raise

    # -- files ------------------------------------------------------------------------------

    def read_file(self, node: Node, path: bytes, status: os.stat_result, changed: bool) -> _PendingFile:
        """Queue the file's content for storing: small files go to a worker whole, large ones to the
        reader thread that chunks them and hands the chunks to the workers."""
        pending = _PendingFile(node, path, [], changed)
        if status.st_size == 0:
            return pending
        if self.use_processes:
            if self.content_workers is None:
                self.content_workers = ContentWorkers(
                    self.repository, self.options.workers, self._count_outcome
                )
            pending.futures.append(self.content_workers.submit(path, status.st_size, status.st_mtime_ns))
            return pending
        if status.st_size <= self.small_file_limit:
            pending.futures.append(self._submit(self._store_small_file, path, status))
        else:
            pending.futures.append(self.reader.submit(self._store_large_file, path, status))
        return pending

    def _store_large_file(self, path: bytes, expected: os.stat_result) -> list[tuple[bytes, int]]:
        """Chunk a large file (on the reader thread) and wait for its chunks to be stored.

        ``expected`` is the file's status when it was walked: a change since then is warned about too.
        """
        futures = []
        with open(path, "rb", buffering=0) as stream:
            before = os.fstat(stream.fileno())
            for chunk in self.chunker.split(stream):
                futures.append(self._submit(self._store_chunk, chunk))
            after = os.fstat(stream.fileno())
        if any(
            status.st_mtime_ns != expected.st_mtime_ns or status.st_size != expected.st_size
            for status in (before, after)
        ):
            self.warn(path, "file changed while it was read; the stored copy may be inconsistent")
        return [stored for future in futures for stored in future.result()]

    def file_entry(
        self, name: bytes, path: bytes, status: os.stat_result, previous: Node | None
    ) -> Node | _PendingFile:
        """Return a finished node for an unchanged file, or a pending one for a file to read."""
        unchanged = (
            previous is not None
            and previous.type == FILE
            and previous.size == status.st_size
            and previous.mtime_ns == status.st_mtime_ns
            and previous.ctime_ns == status.st_ctime_ns
            and previous.inode == status.st_ino
            and all(self.repository.has_usable_blob(blob) for blob in previous.content)
        )
        if unchanged and previous is not None:
            node = node_from_stat(name, path, status, with_xattrs=False)
            node.xattrs = previous.xattrs
            node.content = previous.content
            node.sparse = previous.sparse
            with self.counter_lock:
                self.counters.files_unchanged += 1
                self.counters.files_processed += 1
                self.counters.bytes_processed += status.st_size
            return node
        node = node_from_stat(name, path, status)
        if status.st_nlink > 1:
            key = (status.st_dev, status.st_ino)
            seen = self.hard_links.get(key)
            if seen is not None:
                return _PendingFile(node, path, seen.futures, seen.changed, seen.reading_error)
            pending = self.read_file(node, path, status, previous is not None)
            self.hard_links[key] = pending
            return pending
        return self.read_file(node, path, status, previous is not None)

    # -- directories ------------------------------------------------------------------------

    def load_previous_tree(self, subtree: bytes | None) -> dict[bytes, Node]:
        """Return the nodes of a parent-snapshot tree by name (empty when there is none)."""
        if subtree is None:
            return {}
        try:
            return {node.name: node for node in decode_tree(self.repository.load_blob(subtree))}
        except IntegrityError:
            return {}

    def entry(self, name: bytes, path: bytes, previous: Node | None) -> Node | _PendingFile | None:
        """Return the node for one path (queuing its content), or None when it is left out."""
        status = self.lstat(path)
        return None if status is None else self.entry_from_status(name, path, status, previous)

    def lstat(self, path: bytes) -> os.stat_result | None:
        """Return the lstat result of a path to back up, or None when it is excluded or unreadable."""
        if self.excludes and self.excludes.matches(_display(path)):
            return None
        try:
            return os.lstat(path)
        except FileNotFoundError:
            self.warn(path, "file vanished before it could be read")
        except OSError as error:
            self.unreadable_file(path, _describe_read_error(error))
        return None

    def entry_from_status(
        self, name: bytes, path: bytes, status: os.stat_result, previous: Node | None
    ) -> Node | _PendingFile | None:
        """Return the node for a path whose lstat result is known (queuing its content)."""
        try:
            if stat.S_ISDIR(status.st_mode):
                return self.directory(name, path, status, previous)
            if stat.S_ISREG(status.st_mode):
                return self.file_entry(name, path, status, previous)
            node = node_from_stat(name, path, status)
            self.counters.files_processed += 1
            return node
        except OSError as error:
            self.unreadable_file(path, _describe_read_error(error))
            return None

    def list_directory(
        self, path: bytes, status: os.stat_result
    ) -> list[tuple[bytes, bytes, os.stat_result]]:
        """Return (name, path, lstat result) of the entries to back up in a directory, by name."""
        try:
            names = sorted(os.listdir(path))
        except OSError as error:
            self.unreadable_file(path, _describe_read_error(error))
            return []
        restrict_to: set[bytes] | None = None
        if self.options.one_file_system and status.st_dev != self.allowed_device(path):
            if path not in self.given_ancestors:
                return []
            restrict_to = set(self.given_paths) | self.given_ancestors
        if self.options.exclude_caches and is_tagged_cache_directory(path):
            names = [child for child in names if child == CACHEDIR_TAG_NAME]
        listing = []
        for child_name in names:
            child_path = os.path.join(path, child_name)
            if restrict_to is not None and child_path not in restrict_to:
                continue
            child_status = self.lstat(child_path)
            if child_status is not None:
                listing.append((child_name, child_path, child_status))
        return listing

    def allowed_device(self, path: bytes) -> int:
        """Return the device of the nearest given path at or above ``path`` (for one_file_system)."""
        current = path
        while current not in self.given_paths:
            parent = os.path.dirname(current)
            if parent == current:
                return -1
            current = parent
        return self.given_paths[current]

    def directory(self, name: bytes, path: bytes, status: os.stat_result, previous: Node | None) -> Node:
        """Walk a directory; its tree is saved later, in post-order (see :meth:`finish_ready`).

        When the metadata cache shows that no entry changed since the last backup, only the
        subdirectories are walked, and the directory's last tree is reused or patched.
        """
        node = node_from_stat(name, path, status)
        self.counters.directories += 1
        self.current = _display(path)
        listing = self.list_directory(path, status)
        fingerprint = fingerprint_entries(
            (child_name, child_status) for child_name, _path, child_status in listing
        )
        cached = self.cache.get(path)
        entries: list[Node | _PendingFile] = []
        if (
            cached is not None
            and cached.fingerprint == fingerprint
            and self.repository.has_usable_blob(cached.tree_id)
        ):
            unchanged_files = other_entries = unchanged_bytes = 0
            for child_name, child_path, child_status in listing:
                if stat.S_ISDIR(child_status.st_mode):
                    entries.append(self.directory(child_name, child_path, child_status, None))
                elif stat.S_ISREG(child_status.st_mode):  # counted as without the cache: regular files
                    unchanged_files += 1
                    unchanged_bytes += child_status.st_size
                else:
                    other_entries += 1
            with self.counter_lock:
                self.counters.files_unchanged += unchanged_files
                self.counters.files_processed += unchanged_files + other_entries
                self.counters.bytes_processed += unchanged_bytes
            self.finished.append(_PendingDirectory(node, path, entries, fingerprint, cached))
        else:
            previous_subtree = (
                previous.subtree if previous is not None and previous.type == DIRECTORY else None
            )
            if previous_subtree is None and cached is not None:
                previous_subtree = cached.tree_id
            previous_nodes = self.load_previous_tree(previous_subtree)
            for child_name, child_path, child_status in listing:
                child = self.entry_from_status(
                    child_name, child_path, child_status, previous_nodes.get(child_name)
                )
                if child is not None:
                    entries.append(child)
            self.finished.append(_PendingDirectory(node, path, entries, fingerprint))
        self.finish_ready(block=False)
        self.report_progress()
        return node

    def finish_ready(self, block: bool) -> None:
        """Save the trees of walked directories whose files are stored, oldest first."""
        if block and self.content_workers is not None:
            self.content_workers.dispatch()
        while self.finished:
            pending = self.finished[0]
            if not block and not all(
                future.done()
                for item in pending.entries
                if isinstance(item, _PendingFile)
                for future in item.futures
            ):
                return
            self.finished.popleft()
            self.save_directory(pending)

    def resolve_file(self, pending: _PendingFile) -> Node | None:
        """Wait for a file's content to be stored; return its node, or None when it was unreadable."""
        node = pending.node
        content: list[bytes] = []
        size = 0
        error_message = pending.reading_error
        for future in pending.futures:
            try:
                stored = future.result()
            except _GrewWhileReading:
                return self.reread_grown_file(pending)
            except UnreadableFile as error:
                error_message = error_message or str(error)
                continue
            except OSError as error:
                error_message = error_message or _describe_read_error(error)
                continue
            for blob_id, length in stored:
                content.append(blob_id)
                size += length
        if error_message:
            self.unreadable_file(pending.path, error_message)
            return None
        node.content = content
        node.size = size
        with self.counter_lock:
            self.counters.files_processed += 1
            if pending.changed:
                self.counters.files_changed += 1
            else:
                self.counters.files_new += 1
        return node

    def reread_grown_file(self, pending: _PendingFile) -> Node | None:
        """Chunk a small file that grew past the single-chunk size while queued."""
        self.warn(pending.path, "file changed while it was read; the stored copy may be inconsistent")
        try:
            status = os.lstat(pending.path)
        except OSError as error:
            self.unreadable_file(pending.path, _describe_read_error(error))
            return None
        self.small_file_limit, saved_limit = -1, self.small_file_limit
        try:
            retry = self.read_file(pending.node, pending.path, status, pending.changed)
        finally:
            self.small_file_limit = saved_limit
        return self.resolve_file(retry)

    def save_directory(self, pending: _PendingDirectory) -> None:
        """Save a walked directory's tree (or reuse the cached one) and record it in the cache."""
        nodes: list[Node] = []
        for item in pending.entries:
            node = self.resolve_file(item) if isinstance(item, _PendingFile) else item
            if node is not None:
                nodes.append(node)
        subtree_ids = [node.subtree or b"" for node in nodes if node.type == DIRECTORY]
        combined = combine(pending.fingerprint, subtree_ids)
        cached = pending.cached
        if cached is not None and cached.combined == combined:
            tree_id = cached.tree_id
        elif cached is not None:
            tree_id = self.patch_cached_tree(cached.tree_id, nodes)
        else:
            tree_id = self.save_tree(nodes)
        pending.node.subtree = tree_id
        if pending.path not in self.incomplete_directories:
            # A directory missing an unreadable entry is not cached, so the next backup tries it again.
            self.cache.put(pending.path, CachedDirectory(pending.fingerprint, combined, tree_id))

    def patch_cached_tree(self, tree_id: bytes, subdirectories: list[Node]) -> bytes:
        """Save the cached tree with the subtrees of its subdirectories replaced by the new ones."""
        new_subtrees = {node.name: node.subtree for node in subdirectories}
        nodes = decode_tree(self.repository.load_blob(tree_id))
        for node in nodes:
            if node.type == DIRECTORY and node.name in new_subtrees:
                node.subtree = new_subtrees[node.name]
        return self.save_tree(nodes)

    def save_tree(self, nodes: list[Node]) -> bytes:
        data = encode_tree(nodes)
        tree_id, added = self.repository.save_blob(BlobType.TREE, data)
        if added:
            with self.counter_lock:  # content workers add to bytes_added from other threads
                self.counters.tree_blobs += 1
                self.counters.bytes_added += added
        return tree_id

    # -- the whole run ----------------------------------------------------------------------

    def run_paths(
        self, paths: list[bytes], parent: Snapshot | None, given: list[bytes] | None = None
    ) -> bytes:
        """Back up ``paths`` (absolute, none inside another) and return the root tree ID.

        ``given`` are all the paths asked for, nested ones included: with one_file_system, the walk
        still enters another file system on the way to a nested given path, and that path whole.
        """
        if self.options.estimate_totals:
            self.start_estimate(paths)
        for path in given or paths:
            try:
                self.given_paths[path] = os.lstat(path).st_dev
            except OSError as error:
                raise SourceError(
                    f"cannot back up {_display(path)}: {_describe_read_error(error)}",
                    "check the path (it must exist and be readable by this user), or leave it out",
                ) from None
            below, ancestor = path, os.path.dirname(path)
            while ancestor not in self.given_ancestors and ancestor != below:
                self.given_ancestors.add(ancestor)
                below, ancestor = ancestor, os.path.dirname(ancestor)
        root: dict[bytes, object] = {}
        for path in paths:
            components = [part for part in path.split(b"/") if part]
            previous = self.previous_node(parent, components)
            if not components:
                node = self.entry(b"/", path, previous)
            else:
                node = self.entry(components[-1], path, previous)
            level = root
            for component in components[:-1]:
                child = level.setdefault(component, {})
                assert isinstance(child, dict)
                level = child
            if node is not None:
                level[components[-1] if components else b""] = node
        self.finish_ready(block=True)
        tree = self.save_virtual(b"/", root)
        if self.content_workers is not None:
            self.content_workers.finish()
            self.content_workers = None
        return tree

    def save_virtual(self, path: bytes, level: dict[bytes, object]) -> bytes:
        """Save the trees of the directories above the backed-up paths; return the top one's ID."""
        if b"" in level:
            whole_root = level[b""]
            assert isinstance(whole_root, Node) and whole_root.subtree is not None
            return whole_root.subtree
        nodes: list[Node] = []
        for name in sorted(level):
            child = level[name]
            if isinstance(child, dict):
                child_path = os.path.join(path, name)
                node = node_from_stat(name, child_path, os.lstat(child_path))
                node.subtree = self.save_virtual(child_path, child)
                nodes.append(node)
            elif isinstance(child, _PendingFile):
                resolved = self.resolve_file(child)
                if resolved is not None:
                    nodes.append(resolved)
            else:
                assert isinstance(child, Node)
                nodes.append(child)
        return self.save_tree(nodes)

    def previous_node(self, parent: Snapshot | None, components: list[bytes]) -> Node | None:
        """Return the parent snapshot's node at ``components`` (the root tree for ``/``)."""
        if parent is None:
            return None
        node = Node(name=b"/", type=DIRECTORY, subtree=parent.tree)
        for component in components:
            node_or_none = self.load_previous_tree(node.subtree).get(component)
            if node_or_none is None:
                return None
            node = node_or_none
        return node

    def close(self) -> None:
        if self.content_workers is not None:
            self.content_workers.close()
        self.reader.shutdown(wait=True, cancel_futures=True)
        self.executor.shutdown(wait=True, cancel_futures=True)


class _GrewWhileReading(Exception):
    """A file queued as small turned out larger than one chunk."""


def _read_whole_file(path: bytes) -> tuple[bytes, os.stat_result]:
    descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0))
    try:
        status = os.fstat(descriptor)
        parts = []
        while True:
            block = os.read(descriptor, max(status.st_size + 1, 65536))
            if not block:
                break
            parts.append(block)
        return (parts[0] if len(parts) == 1 else b"".join(parts)), status
    finally:
        os.close(descriptor)


def _describe_read_error(error: OSError) -> str:
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.ELOOP:
        return "too many levels of symbolic links"
    if error.errno == errno.EIO:
        return "input/output error while reading"
    return error.strerror or str(error)


def _default_hostname(options: BackupOptions) -> str:
    return default_hostname(options.hostname)


def _select_parent(
    repository: Repository, options: BackupOptions, paths: list[str], hostname: str
) -> Snapshot | None:
    return select_parent(
        repository, use_parent=options.use_parent, parent=options.parent, paths=paths, hostname=hostname
    )


def _finish_snapshot(
    repository: Repository,
    archiver: _Archiver,
    *,
    tree: bytes,
    paths: list[str],
    hostname: str,
    parent: Snapshot | None,
    started: float,
) -> BackupResult:
    repository.flush()
    counters = archiver.counters
    snapshot = Snapshot(
        time=repository.clock.now(),
        tree=tree,
        paths=paths,
        hostname=hostname,
        username=_user_name(os.getuid()),
        tags=list(archiver.options.tags),
        parent=parent.id if parent is not None else None,
        excludes=list(archiver.options.excludes),
        program_version=f"resguardo {__version__}",
        summary={
            "files_new": counters.files_new,
            "files_changed": counters.files_changed,
            "files_unchanged": counters.files_unchanged,
            "directories": counters.directories,
            "data_blobs": counters.data_blobs,
            "tree_blobs": counters.tree_blobs,
            "data_added": counters.bytes_added,
            "total_files_processed": counters.files_processed,
            "total_bytes_processed": counters.bytes_processed,
            "duration_seconds": round(repository.clock.monotonic() - started, 3),
        },
        unreadable=[path for path, _message in archiver.unreadable],
    )
    snapshot.id = repository.save_snapshot_document(snapshot.to_document())
    archiver.report_progress(force=True)
    return BackupResult(snapshot, archiver.unreadable)


def backup(
    repository: Repository,
    paths: Sequence[str],
    options: BackupOptions | None = None,
    reporter: Reporter = ignore_events,
) -> BackupResult:
    """Back up files and directories and save a snapshot.

    Args:
        repository: an open repository.
        paths: files or directories; stored under their absolute paths.
        options: excludes, tags, parent selection, threads.
        reporter: receives progress events and one warning per file left out.

    Returns:
        the saved snapshot and the files that could not be read (a partial backup).

    Raises:
        SourceError: a given path does not exist or cannot be read at all.
        ConfigurationError: no path was given, or an exclude pattern is malformed.
        StorageError: the repository could not be written.
    """
    options = options or BackupOptions()
    if not paths:
        raise ConfigurationError("nothing to back up", "give one or more paths, or --stdin")
    absolute = _normalize_paths(paths)
    shown_paths = [_display(path) for path in absolute]
    hostname = _default_hostname(options)
    started = repository.clock.monotonic()
    repository.adopt_unindexed_packs()
    parent = _select_parent(repository, options, shown_paths, hostname)
    cache = DirectoryCache(_cache_path(repository, options, shown_paths, hostname), repository.prune_epoch)
    if repository.index_rewritten:
        # A prune is pending or ran since the cache was written: a cached tree may name data that the
        # prune deletes, so this run compares with the parent snapshot (checking every blob) instead.
        cache.previous = {}
    archiver = _Archiver(repository, options, reporter, cache)
    try:
        tree = archiver.run_paths(absolute, parent, _absolute_paths(paths))
    finally:
        archiver.close()
    result = _finish_snapshot(
        repository, archiver, tree=tree, paths=shown_paths, hostname=hostname, parent=parent, started=started
    )
    cache.save()
    return result


def _cache_path(
    repository: Repository, options: BackupOptions, paths: list[str], hostname: str
) -> str | None:
    """Return the metadata cache file for this repository and source, or None without a cache."""
    if options.cache_dir is None or not options.use_parent:
        return None
    source_key = "\0".join(
        [
            hostname,
            *sorted(paths),
            "excludes",
            *options.excludes,
            str(options.exclude_caches),
            str(options.one_file_system),
        ]
    )
    return cache_file_path(options.cache_dir, repository.config.id, source_key)


def backup_stream(
    repository: Repository,
    stream: BinaryIO,
    name: str,
    options: BackupOptions | None = None,
    reporter: Reporter = ignore_events,
) -> BackupResult:
    """Back up everything read from ``stream`` as one file called ``name``, without a temporary file.

    Raises:
        ConfigurationError: ``name`` is not a single, safe file name.
        SourceError: reading the stream failed.
        StorageError: the repository could not be written.
    """
    options = options or BackupOptions()
    encoded = os.fsencode(name)
    if not encoded or b"/" in encoded or encoded in (b".", b"..") or b"\0" in encoded:
        raise ConfigurationError(
            f"{name!r} is not a valid file name for --stdin-name", "use a plain name like db.sql"
        )
    hostname = _default_hostname(options)
    started = repository.clock.monotonic()
    repository.adopt_unindexed_packs()
    parent = _select_parent(repository, options, [name], hostname)
    archiver = _Archiver(repository, options, reporter)
    node = stream_file_node(encoded, repository.clock.now())
    pending = _PendingFile(node, encoded, [], parent is not None)
    try:
        try:
            for chunk in archiver.chunker.split(stream):
                pending.futures.append(archiver._submit(archiver._store_chunk, chunk))
                archiver.report_progress()
        except OSError as error:
            raise SourceError(f"reading the input stream failed: {error.strerror or error}") from None
        resolved = archiver.resolve_file(pending)
        assert resolved is not None
        tree = archiver.save_tree([resolved])
    finally:
        archiver.close()
    return _finish_snapshot(
        repository, archiver, tree=tree, paths=[name], hostname=hostname, parent=parent, started=started
    )
