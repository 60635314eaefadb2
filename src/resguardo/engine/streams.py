"""Backup of several named streams (database dumps, for instance) into one snapshot, never through a file.

Each stream is read by a thread of its own (``parallel`` at once), cut into chunks there, and its chunks
are handed to a pool of worker threads that hash, compress, encrypt and pack them (in native code that
releases the interpreter lock). Names may hold folders (``postgresql/sales.pgdump``): the snapshot's
tree gets one folder node per folder, and the snapshot document a ``streams`` list describing each
stream (see docs/format.md).

A stream is all or nothing: when one fails (its producer exits non-zero, is killed, or reading it
fails), the others are stopped and no snapshot is written. The packs already stored are then only
unreferenced data, which the next backup reuses and prune reclaims.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import datetime
from typing import BinaryIO, Protocol

import blake3

from resguardo import __version__
from resguardo.core.errors import ConfigurationError, ResguardoError, SourceError
from resguardo.engine.backupparts import (
    default_hostname,
    select_parent,
    stream_directory_node,
    stream_file_node,
)
from resguardo.engine.chunker import Chunker
from resguardo.engine.events import Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import Node, encode_tree
from resguardo.engine.walk import user_name

DEFAULT_PARALLEL_STREAMS = 3
CHUNKS_IN_FLIGHT = 64


class OpenStream(Protocol):
    """A running producer of one stream (a dump tool's output, for instance).

    ``reader`` gives its bytes; :meth:`finish` is called once the reader reached its end, and
    :meth:`abort` instead when the backup gives up on the stream. Either releases what it holds.
    """

    @property
    def reader(self) -> BinaryIO:
        """The stream's bytes."""
        ...

    def finish(self) -> None:
        """Wait for the producer to end.

        Raises:
            SourceError: the producer failed (exited non-zero, was killed): the stream is incomplete.
        """
        ...

    def abort(self) -> None:
        """Stop the producer (from any thread) and release what it holds; never raises."""
        ...


@dataclass(frozen=True, slots=True)
class StreamSource:
    """One stream to back up.

    Attributes:
        name: its path in the snapshot, relative, with ``/`` between folders (``postgresql/sales.pgdump``).
        open: starts the producer; may raise :class:`SourceError` (a tool missing, for instance).
        description: what the stream is, stored in the snapshot's ``streams`` list (text or integer values;
            e.g. ``{"kind": "postgresql.database", "database": "sales"}``).
    """

    name: str
    open: Callable[[], OpenStream]
    description: Mapping[str, str | int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StreamsOptions:
    """How to back up streams.

    Attributes:
        tags: labels stored with the snapshot.
        hostname: the host recorded in the snapshot (default: this machine's name).
        parallel: streams read at once.
        workers: threads that hash, compress, encrypt and pack chunks.
    """

    tags: Sequence[str] = ()
    hostname: str | None = None
    parallel: int = DEFAULT_PARALLEL_STREAMS
    workers: int = field(default_factory=lambda: max(2, os.cpu_count() or 2))


@dataclass(frozen=True, slots=True)
class StreamsBackupResult:
    """The saved snapshot; its ``streams`` list gives each stream's description and ``size``."""

    snapshot: Snapshot


@dataclass(slots=True)
class _StoredStream:
    content: list[bytes]
    size: int


class _Stopped(Exception):
    """Another stream failed: this one stops too."""


def check_stream_names(names: Iterable[str]) -> None:
    """Check that stream names make a valid tree: relative, no empty, ``.`` or ``..`` part, no NUL,
    no duplicate, and no name that is also the folder of another.

    Raises:
        ConfigurationError: a name breaks one of these rules.
    """
    files: set[tuple[str, ...]] = set()
    folders: set[tuple[str, ...]] = set()
    for name in names:
        parts = tuple(name.split("/"))
        if not name or "\0" in name or any(part in ("", ".", "..") for part in parts):
            raise ConfigurationError(f"{name!r} is not a valid stream name", "use names like db/sales.dump")
        if parts in files or parts in folders:
            raise ConfigurationError(f"two streams, or a stream and a folder, are both called {name!r}")
        files.add(parts)
        for length in range(1, len(parts)):
            if parts[:length] in files:
                raise ConfigurationError(f"{'/'.join(parts[:length])!r} is both a stream and a folder")
            folders.add(parts[:length])


class _StreamArchiver:
    """One backup of streams; not reusable."""

    def __init__(self, repository: Repository, options: StreamsOptions, reporter: Reporter) -> None:
        self.repository = repository
        self.options = options
        self.reporter = reporter
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.chunker = Chunker(repository.keys.chunker_key, repository.config.chunker)
        self.slots = threading.BoundedSemaphore(CHUNKS_IN_FLIGHT)
        self.workers = ThreadPoolExecutor(max_workers=max(1, options.workers), thread_name_prefix="streams")
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.running: dict[str, OpenStream] = {}
        self.counters = {"data_blobs": 0, "tree_blobs": 0, "data_added": 0, "bytes": 0, "streams_done": 0}
        self.current = ""

    def report_progress(self, force: bool = False) -> None:
        if force or self.throttle.due():
            counters = self.counters
            self.reporter(
                Progress("backup", counters["streams_done"], counters["bytes"], current=self.current)
            )

    def store_chunk(self, data: bytes) -> tuple[bytes, int]:
        """Store one chunk (on a worker thread); return it as (id, length)."""
        try:
            blob_id, added = self.repository.save_blob(BlobType.DATA, data)
            with self.lock:
                self.counters["bytes"] += len(data)
                if added:
                    self.counters["data_blobs"] += 1
                    self.counters["data_added"] += added
            return blob_id, len(data)
        finally:
            self.slots.release()

    def submit(self, data: bytes) -> Future[tuple[bytes, int]]:
        self.slots.acquire()
        try:
            return self.workers.submit(self.store_chunk, data)
        except BaseException:
            self.slots.release()
            raise

    def read_stream(self, source: StreamSource) -> _StoredStream:
        """Read one stream to its end and store its chunks (on a stream thread).

        Raises:
            SourceError: the stream failed; the message names it.
            _Stopped: another stream failed first.
            StorageError: the repository could not be written.
        """
        if self.stopped.is_set():
            raise _Stopped
        try:
            stream = source.open()
        except ResguardoError as error:
            raise SourceError(f"stream {source.name}: {error.message}", error.hint) from None
        with self.lock:
            self.running[source.name] = stream
        try:
            futures = self.chunk_stream(source.name, stream.reader)
            stored = [future.result() for future in futures]
            stream.finish()
        except ResguardoError as error:
            stream.abort()
            if isinstance(error, SourceError):
                raise SourceError(f"stream {source.name}: {error.message}", error.hint) from None
            raise
        except OSError as error:
            stream.abort()
            raise SourceError(f"stream {source.name}: reading it failed: {error.strerror or error}") from None
        except BaseException:
            stream.abort()
            raise
        finally:
            with self.lock:
                self.running.pop(source.name, None)
                self.counters["streams_done"] += 1
        return _StoredStream([blob_id for blob_id, _ in stored], sum(length for _, length in stored))

    def chunk_stream(self, name: str, reader: BinaryIO) -> list[Future[tuple[bytes, int]]]:
        futures = []
        for chunk in self.chunker.split(reader):
            if self.stopped.is_set():
                raise _Stopped
            futures.append(self.submit(chunk))
            self.current = name
            self.report_progress()
        return futures

    def stop_all(self) -> None:
        """Stop every stream still running (another one failed)."""
        self.stopped.set()
        with self.lock:
            running = list(self.running.values())
        for stream in running:
            stream.abort()

    def read_all(self, sources: Sequence[StreamSource]) -> list[_StoredStream]:
        """Read every stream, ``parallel`` at once; on the first failure stop the others and raise it."""
        first_error: BaseException | None = None
        with ThreadPoolExecutor(
            max_workers=max(1, self.options.parallel), thread_name_prefix="stream"
        ) as pool:
            futures = [pool.submit(self.read_stream, source) for source in sources]
            for future in as_completed(futures):
                try:
                    future.result()
                except _Stopped:
                    continue
                except BaseException as error:
                    if first_error is None:
                        first_error = error
                        self.stop_all()
        if first_error is not None:
            raise first_error
        return [future.result() for future in futures]

    def save_tree(self, nodes: list[Node]) -> bytes:
        tree_id, added = self.repository.save_blob(BlobType.TREE, encode_tree(nodes))
        if added:
            with self.lock:
                self.counters["tree_blobs"] += 1
                self.counters["data_added"] += added
        return tree_id

    def save_folder(self, level: dict[bytes, object], moment: datetime) -> bytes:
        """Save the tree of one level of the stream names (a dict of name to node or sub-level)."""
        nodes: list[Node] = []
        for name in sorted(level):
            child = level[name]
            if isinstance(child, Node):
                nodes.append(child)
            else:
                assert isinstance(child, dict)
                nodes.append(stream_directory_node(name, self.save_folder(child, moment), moment))
        return self.save_tree(nodes)

    def close(self) -> None:
        self.workers.shutdown(wait=True, cancel_futures=True)


def _tree_levels(
    sources: Sequence[StreamSource], stored: list[_StoredStream], moment: datetime
) -> dict[bytes, object]:
    root: dict[bytes, object] = {}
    for source, content in zip(sources, stored, strict=True):
        *folders, file_name = [os.fsencode(part) for part in source.name.split("/")]
        level = root
        for folder in folders:
            child = level.setdefault(folder, {})
            assert isinstance(child, dict)
            level = child
        node = stream_file_node(file_name, moment)
        node.content = content.content
        node.size = content.size
        level[file_name] = node
    return root


def content_id(stream: _StoredStream) -> str:
    """Return a stream's content ID: the hex BLAKE3 of its chunk IDs, the same whenever its bytes are."""
    return blake3.blake3(b"".join(stream.content)).hexdigest()


def _folders(names: Iterable[str]) -> set[str]:
    """Return every folder the stream names hold (``a/b/c`` holds ``a`` and ``a/b``)."""
    parts = [name.split("/") for name in names]
    return {"/".join(split[:length]) for split in parts for length in range(1, len(split))}


def backup_streams(
    repository: Repository,
    sources: Sequence[StreamSource],
    options: StreamsOptions | None = None,
    reporter: Reporter = ignore_events,
) -> StreamsBackupResult:
    """Back up several named streams into one snapshot, reading ``options.parallel`` of them at once.

    Args:
        repository: an open repository (the caller holds a shared lock).
        sources: the streams; their names must be distinct (see :func:`check_stream_names`).
        options: tags, host, how many streams at once, worker threads.
        reporter: receives progress events.

    Returns:
        the saved snapshot; ``snapshot.streams`` gives each stream's description, ``name`` and ``size``.

    Raises:
        ConfigurationError: no stream, or names that do not make a tree.
        SourceError: a stream failed (its message names it); no snapshot was written.
        StorageError: the repository could not be written.
    """
    options = options or StreamsOptions()
    if not sources:
        raise ConfigurationError("nothing to back up", "give at least one database or stream")
    check_stream_names(source.name for source in sources)
    names = [source.name for source in sources]
    hostname = default_hostname(options.hostname)
    started = repository.clock.monotonic()
    repository.adopt_unindexed_packs()
    parent = select_parent(repository, use_parent=True, parent=None, paths=names, hostname=hostname)
    archiver = _StreamArchiver(repository, options, reporter)
    try:
        stored = archiver.read_all(sources)
        moment = repository.clock.now()
        tree = archiver.save_folder(_tree_levels(sources, stored, moment), moment)
    finally:
        archiver.close()
    repository.flush()
    descriptions: list[dict[str, str | int]] = [
        {**source.description, "name": source.name, "size": content.size, "content_id": content_id(content)}
        for source, content in zip(sources, stored, strict=True)
    ]
    counters = archiver.counters
    total = sum(content.size for content in stored)
    snapshot = Snapshot(
        time=repository.clock.now(),
        tree=tree,
        paths=names,
        hostname=hostname,
        username=user_name(os.getuid()),
        tags=list(options.tags),
        parent=parent.id if parent is not None else None,
        program_version=f"resguardo {__version__}",
        summary={
            "files_new": len(sources),
            "files_changed": 0,
            "files_unchanged": 0,
            "directories": len(_folders(names)),
            "data_blobs": counters["data_blobs"],
            "tree_blobs": counters["tree_blobs"],
            "data_added": counters["data_added"],
            "total_files_processed": len(sources),
            "total_bytes_processed": total,
            "duration_seconds": round(repository.clock.monotonic() - started, 3),
        },
        streams=descriptions,
    )
    snapshot.id = repository.save_snapshot_document(snapshot.to_document())
    archiver.report_progress(force=True)
    return StreamsBackupResult(snapshot)
