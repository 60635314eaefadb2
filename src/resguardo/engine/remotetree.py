"""Backup of file trees that live on another machine, listed and read by a source (SSH, for instance).

The source lists the whole tree's metadata first (:class:`RemoteListing`). Each file is compared with
the parent snapshot's node by the rules of the local backup (same type, size, mtime, ctime and inode,
and its content still in the repository): unchanged files take the parent's content and are never
read. Only new and changed files are handed back to the source, which reads several at once and gives
each one's bytes to :func:`store`-like callbacks that chunk, hash, compress, encrypt and pack them on
the reading thread. Trees are then saved bottom-up and the snapshot written, recording the client's host
and the remote paths, so that ``snapshots --host`` and ``restore`` work as for local backups.
"""

from __future__ import annotations

import posixpath
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO, Protocol

from resguardo import __version__
from resguardo.core.errors import ConfigurationError, IntegrityError, SourceError
from resguardo.engine.archiver import BackupResult
from resguardo.engine.backupparts import select_parent
from resguardo.engine.chunker import Chunker
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.filters import PathFilter
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, Node, decode_tree, encode_tree

WHOLE_READ_BYTES = 1024 * 1024
"""Files listed up to this size are read whole (the source may stop at the listed size)."""
STREAM_READ_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class RemoteEntry:
    """The metadata of one remote path, as listed (``mode`` holds the permission bits only)."""

    path: bytes
    type: str
    mode: int = 0
    uid: int = 0
    gid: int = 0
    user: str = ""
    group: str = ""
    size: int = 0
    mtime_ns: int = 0
    ctime_ns: int = 0
    inode: int = 0
    device: int = 0
    links: int = 1
    target: bytes = b""


@dataclass(slots=True)
class RemoteListing:
    """What a source found under the paths to back up.

    Attributes:
        entries: every path found, the given ones included, in any order.
        ancestors: the folders above the given paths (their metadata for the snapshot's top trees).
        unreadable: (path, message) of the folders that could not be listed (their content is missing).
        missing: (path, message) of given paths that do not exist or cannot be reached at all.
        warnings: (path, message) of other things to tell (a path that vanished while listed).
    """

    entries: list[RemoteEntry] = field(default_factory=list)
    ancestors: list[RemoteEntry] = field(default_factory=list)
    unreadable: list[tuple[bytes, str]] = field(default_factory=list)
    missing: list[tuple[bytes, str]] = field(default_factory=list)
    warnings: list[tuple[bytes, str]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class StoredContent:
    """One file's content once stored: its blob IDs in order and how many bytes it had."""

    content: list[bytes]
    size: int


StoreContent = Callable[[RemoteEntry, BinaryIO], StoredContent]
"""Chunks and stores the bytes of one file, read from the stream given (called on the source's threads)."""


class RemoteTreeSource(Protocol):
    """A machine whose files are listed and read from here (see :mod:`resguardo.sources.sshtree`)."""

    def list_tree(self, paths: Sequence[bytes], one_file_system: bool) -> RemoteListing:
        """Return the metadata of everything under ``paths`` (absolute, none inside another).

        Raises:
            SourceError: the listing failed as a whole (connection lost, listing cut short).
        """
        ...

    def read_files(
        self, entries: Sequence[RemoteEntry], store: StoreContent
    ) -> Iterator[tuple[RemoteEntry, StoredContent | str]]:
        """Read the files, several at once, passing each one's bytes to ``store``; yield each file with
        what ``store`` returned, or with a message saying why it could not be read, as they finish.

        Raises:
            SourceError: the connection was lost; whatever ``store`` raised (StorageError) is passed on.
        """
        ...

    def transfer_counts(self) -> Mapping[str, int]:
        """Return the bytes moved so far (recorded in the snapshot's summary)."""
        ...


@dataclass(frozen=True, slots=True)
class RemoteBackupOptions:
    """How to back up a remote tree.

    Attributes:
        hostname: the client's host name recorded in the snapshot.
        username: the user the files were read as, recorded in the snapshot.
        excludes: patterns of remote paths to leave out (see :mod:`resguardo.engine.filters`).
        one_file_system: do not cross into other file systems below the given paths.
        tags: labels stored with the snapshot.
        parent: ID of the snapshot to compare with; None picks the latest of the same host and paths.
        use_parent: False reads every file again.
    """

    hostname: str
    username: str = ""
    excludes: Sequence[str] = ()
    one_file_system: bool = False
    tags: Sequence[str] = ()
    parent: str | None = None
    use_parent: bool = True


@dataclass(slots=True)
class _PlannedFile:
    node: Node
    path: bytes
    key: bytes | tuple[int, int]
    changed: bool


@dataclass(slots=True)
class _PlannedDirectory:
    node: Node
    path: bytes
    children: list[Node | _PlannedFile | _PlannedDirectory]


_Planned = Node | _PlannedFile | _PlannedDirectory


def normalize_remote_paths(paths: Sequence[str]) -> list[bytes]:
    """Return the remote paths normalized, sorted, without duplicates nor paths inside others.

    Raises:
        ConfigurationError: no path, or a path that is not absolute (the remote working folder is unknown).
    """
    if not paths:
        raise ConfigurationError("nothing to back up", "give one or more absolute paths of the client")
    normalized: set[bytes] = set()
    for path in paths:
        if not path.startswith("/") or "\0" in path:
            raise ConfigurationError(
                f"remote path {path!r} is not absolute", "give remote paths from the root, like /etc"
            )
        normalized.add(posixpath.normpath(path.encode("utf-8", "surrogateescape")).replace(b"//", b"/"))
    kept: list[bytes] = []
    for candidate in sorted(normalized):
        if not any(candidate == above or candidate.startswith(above.rstrip(b"/") + b"/") for above in kept):
            kept.append(candidate)
    return kept


def _display(path: bytes) -> str:
    return path.decode("utf-8", "surrogateescape")


def node_of(entry: RemoteEntry) -> Node:
    """Return the snapshot node of a listed entry (content and subtree left empty)."""
    name = posixpath.basename(entry.path) or b"/"
    is_file = entry.type == FILE
    return Node(
        name=name,
        type=entry.type,
        mode=entry.mode,
        uid=entry.uid,
        gid=entry.gid,
        user=entry.user,
        group=entry.group,
        mtime_ns=entry.mtime_ns,
        ctime_ns=entry.ctime_ns,
        size=entry.size if is_file else 0,
        inode=entry.inode,
        device=entry.device if is_file and entry.links > 1 else 0,
        links=entry.links if is_file else 1,
        target=entry.target,
    )


class _RemoteArchiver:
    """One backup of a remote tree; not reusable."""

    def __init__(self, repository: Repository, options: RemoteBackupOptions, reporter: Reporter) -> None:
        self.repository = repository
        self.options = options
        self.reporter = reporter
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.chunker = Chunker(repository.keys.chunker_key, repository.config.chunker)
        self.excludes = PathFilter(options.excludes)
        self.lock = threading.Lock()
        self.counters = dict.fromkeys(
            (
                "files_new",
                "files_changed",
                "files_unchanged",
                "directories",
                "data_blobs",
                "tree_blobs",
                "data_added",
                "total_files_processed",
                "total_bytes_processed",
            ),
            0,
        )
        self.to_read: dict[bytes | tuple[int, int], RemoteEntry] = {}
        self.unreadable: list[tuple[str, str]] = []
        self.children: dict[bytes, list[RemoteEntry]] = {}

    def warn(self, path: bytes, message: str) -> None:
        self.reporter(ItemWarning("backup", _display(path), message))

    def count(self, **amounts: int) -> None:
        with self.lock:
            for name, amount in amounts.items():
                self.counters[name] += amount

    def report_progress(self, current: bytes = b"", force: bool = False) -> None:
        if force or self.throttle.due():
            counters = self.counters
            self.reporter(
                Progress(
                    "backup",
                    counters["total_files_processed"],
                    counters["total_bytes_processed"],
                    current=_display(current),
                )
            )

    # -- planning: what is unchanged, what must be read -------------------------------------

    def load_previous_tree(self, subtree: bytes | None) -> dict[bytes, Node]:
        """Return the nodes of a parent-snapshot tree by name (empty when there is none)."""
        if subtree is None:
            return {}
        try:
            return {node.name: node for node in decode_tree(self.repository.load_blob(subtree))}
        except IntegrityError:
            return {}

    def plan(self, entry: RemoteEntry, previous: Node | None) -> _Planned:
        """Return the node of ``entry``: finished, a file to read, or a directory to save later."""
        node = node_of(entry)
        if entry.type == DIRECTORY:
            self.count(directories=1)
            previous_subtree = (
                previous.subtree if previous is not None and previous.type == DIRECTORY else None
            )
            previous_nodes = self.load_previous_tree(previous_subtree)
            children: list[_Planned] = []
            for child in sorted(self.children.get(entry.path, ()), key=lambda item: item.path):
                if self.excludes and self.excludes.matches(_display(child.path)):
                    continue
                children.append(self.plan(child, previous_nodes.get(posixpath.basename(child.path))))
            return _PlannedDirectory(node, entry.path, children)
        if entry.type != FILE:
            self.count(total_files_processed=1)
            return node
        if self.unchanged(entry, previous) and previous is not None:
            node.content = previous.content
            node.sparse = previous.sparse
            node.xattrs = previous.xattrs
            self.count(files_unchanged=1, total_files_processed=1, total_bytes_processed=entry.size)
            return node
        if entry.size == 0:  # nothing to read
            self.count(
                total_files_processed=1,
                files_changed=int(previous is not None),
                files_new=int(previous is None),
            )
            return node
        key: bytes | tuple[int, int] = (entry.device, entry.inode) if entry.links > 1 else entry.path
        self.to_read.setdefault(key, entry)
        return _PlannedFile(node, entry.path, key, previous is not None)

    def unchanged(self, entry: RemoteEntry, previous: Node | None) -> bool:
        """Return True when the parent's node of a file still describes it (the local backup's rule)."""
        return (
            previous is not None
            and previous.type == FILE
            and previous.size == entry.size
            and previous.mtime_ns == entry.mtime_ns
            and previous.ctime_ns == entry.ctime_ns
            and previous.inode == entry.inode
            and all(self.repository.has_usable_blob(blob) for blob in previous.content)
        )

    # -- reading (on the source's threads) ---------------------------------------------------

    def store(self, entry: RemoteEntry, reader: BinaryIO) -> StoredContent:
        """Chunk and store one file's bytes; return its blob IDs and size.

        Raises:
            OSError: reading failed (the source reports the file as unreadable).
            StorageError: the repository could not be written.
        """
        content: list[bytes] = []
        size = 0
        if entry.size <= WHOLE_READ_BYTES:
            # Read whole and cut in memory: the streaming chunker's buffer would cost more than the file.
            chunks: Iterable[bytes] = self.chunker.split_bytes(reader.read(WHOLE_READ_BYTES + 1))
        else:
            chunks = self.chunker.split(reader, read_size=STREAM_READ_BYTES)
        for chunk in chunks:
            blob_id, added = self.repository.save_blob(BlobType.DATA, chunk)
            content.append(blob_id)
            size += len(chunk)
            self.count(total_bytes_processed=len(chunk), data_blobs=int(added > 0), data_added=added)
        return StoredContent(content, size)

    def read_all(self, source: RemoteTreeSource) -> dict[bytes | tuple[int, int], StoredContent | str]:
        """Have the source read every planned file; return what each gave, by file key."""
        keys = {id(entry): key for key, entry in self.to_read.items()}
        results: dict[bytes | tuple[int, int], StoredContent | str] = {}
        for entry, outcome in source.read_files(list(self.to_read.values()), self.store):
            results[keys[id(entry)]] = outcome
            if isinstance(outcome, StoredContent) and outcome.size != entry.size:
                self.warn(entry.path, "file changed while it was read; the stored copy may be inconsistent")
            self.report_progress(entry.path)
        return results

    # -- saving trees --------------------------------------------------------------------------

    def finish(
        self, planned: _Planned, read: Mapping[bytes | tuple[int, int], StoredContent | str]
    ) -> Node | None:
        """Return the finished node (saving directory trees bottom-up), or None for an unreadable file."""
        if isinstance(planned, Node):
            return planned
        if isinstance(planned, _PlannedFile):
            outcome = read.get(planned.key, "file was not read")
            if isinstance(outcome, str):
                self.unreadable.append((_display(planned.path), outcome))
                self.warn(planned.path, outcome)
                return None
            planned.node.content = outcome.content
            planned.node.size = outcome.size
            self.count(
                total_files_processed=1,
                files_changed=int(planned.changed),
                files_new=int(not planned.changed),
            )
            return planned.node
        nodes = [node for child in planned.children if (node := self.finish(child, read)) is not None]
        planned.node.subtree = self.save_tree(nodes)
        return planned.node

    def save_tree(self, nodes: list[Node]) -> bytes:
        tree_id, added = self.repository.save_blob(BlobType.TREE, encode_tree(nodes))
        if added:
            self.count(tree_blobs=1, data_added=added)
        return tree_id

    def save_top(
        self, path: bytes, level: dict[bytes, object], ancestors: Mapping[bytes, RemoteEntry]
    ) -> bytes:
        """Save the trees of the folders above the backed-up paths; return the top one's ID."""
        whole = level.get(b"")
        if isinstance(whole, Node) and whole.subtree is not None:
            return whole.subtree
        nodes: list[Node] = []
        for name in sorted(level):
            child = level[name]
            if isinstance(child, dict):
                child_path = posixpath.join(path, name)
                listed = ancestors.get(child_path)
                node = node_of(listed) if listed is not None else Node(name=name, type=DIRECTORY, mode=0o755)
                node.subtree = self.save_top(child_path, child, ancestors)
                nodes.append(node)
            elif isinstance(child, Node):
                nodes.append(child)
        return self.save_tree(nodes)


def _check_listing(listing: RemoteListing, paths: list[bytes]) -> dict[bytes, RemoteEntry]:
    """Return the listed entries of the given paths.

    Raises:
        SourceError: a given path is missing from the listing.
    """
    if listing.missing:
        path, message = listing.missing[0]
        raise SourceError(
            f"cannot back up {_display(path)} on the client: {message}",
            "check the path (it must exist and be readable by the SSH user), or leave it out",
        )
    given = set(paths)
    roots = {entry.path: entry for entry in listing.entries if entry.path in given}
    for path in paths:
        if path not in roots:
            raise SourceError(
                f"cannot back up {_display(path)} on the client: it was not listed",
                "check the path (it must exist and be readable by the SSH user)",
            )
    return roots


def backup_remote_tree(
    repository: Repository,
    source: RemoteTreeSource,
    paths: Sequence[str],
    options: RemoteBackupOptions,
    reporter: Reporter = ignore_events,
) -> BackupResult:
    """Back up paths of another machine through ``source``, reading only new and changed files.

    Args:
        repository: an open repository (the caller holds a shared lock).
        source: lists and reads the client's files (connected already).
        paths: absolute paths on the client.
        options: the client's host name, excludes, tags, parent selection.
        reporter: receives progress events and one warning per path left out.

    Returns:
        the saved snapshot and the files that could not be read (a partial backup).

    Raises:
        ConfigurationError: no path, a relative path, or a malformed exclude pattern.
        SourceError: a given path does not exist on the client, or the connection failed.
        StorageError: the repository could not be written.
    """
    absolute = normalize_remote_paths(paths)
    shown_paths = [_display(path) for path in absolute]
    started = repository.clock.monotonic()
    repository.adopt_unindexed_packs()
    parent = select_parent(
        repository,
        use_parent=options.use_parent,
        parent=options.parent,
        paths=shown_paths,
        hostname=options.hostname,
    )
    archiver = _RemoteArchiver(repository, options, reporter)
    listing = source.list_tree(absolute, options.one_file_system)
    roots = _check_listing(listing, absolute)
    for entry in listing.entries:
        if entry.path not in roots:
            archiver.children.setdefault(posixpath.dirname(entry.path), []).append(entry)
    for path, message in listing.warnings:
        archiver.warn(path, message)
    for path, message in listing.unreadable:
        archiver.unreadable.append((_display(path), message))
        archiver.warn(path, message)
    top: dict[bytes, object] = {}
    planned: list[tuple[list[bytes], _Planned]] = []
    root_node = Node(name=b"/", type=DIRECTORY, subtree=parent.tree) if parent is not None else None
    for path in absolute:
        components = [part for part in path.split(b"/") if part]
        previous = root_node
        for component in components:
            if previous is None:
                break
            previous = archiver.load_previous_tree(previous.subtree).get(component)
        planned.append((components, archiver.plan(roots[path], previous)))
    read = archiver.read_all(source) if archiver.to_read else {}
    for components, item in planned:
        node = archiver.finish(item, read)
        level = top
        for component in components[:-1]:
            child = level.setdefault(component, {})
            assert isinstance(child, dict)
            level = child
        if node is not None:
            level[components[-1] if components else b""] = node
    ancestors = {entry.path: entry for entry in listing.ancestors}
    tree = archiver.save_top(b"/", top, ancestors)
    repository.flush()
    summary: dict[str, int | float] = {
        **archiver.counters,
        **source.transfer_counts(),
        "duration_seconds": round(repository.clock.monotonic() - started, 3),
    }
    snapshot = Snapshot(
        time=repository.clock.now(),
        tree=tree,
        paths=shown_paths,
        hostname=options.hostname,
        username=options.username,
        tags=list(options.tags),
        parent=parent.id if parent is not None else None,
        excludes=list(options.excludes),
        program_version=f"resguardo {__version__}",
        summary=summary,
        unreadable=[path for path, _message in archiver.unreadable],
    )
    snapshot.id = repository.save_snapshot_document(snapshot.to_document())
    archiver.report_progress(force=True)
    return BackupResult(snapshot, archiver.unreadable)
