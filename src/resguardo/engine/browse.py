"""Read-only views of snapshots: listing, differences, statistics and the content of one file.

Nothing here prints or writes: every function returns data for a face (the CLI, the API) to show.
Paths are the absolute paths of the snapshot, as text (names that are not UTF-8 are decoded with
``surrogateescape``, as :func:`os.fsdecode` does, so they encode back to the same bytes).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from resguardo.core.errors import IntegrityError, ResguardoError, SnapshotNotFound, StorageError
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, FILE, SYMLINK, Node, decode_tree

ADDED = "added"
REMOVED = "removed"
MODIFIED = "modified"
METADATA = "metadata"
_CHANGE_MARKS = {ADDED: "+", REMOVED: "-", MODIFIED: "M", METADATA: "U"}


class PathNotFound(SnapshotNotFound):
    """A path asked for is not in the snapshot."""

    default_hint = "list the snapshot's contents with 'resguardo ls <snapshot>' to find the path"


class NotAFile(ResguardoError):
    """A path asked for as a file is a directory, a symlink or another kind of entry."""

    default_hint = "give the path of a regular file"


@dataclass(frozen=True, slots=True)
class Change:
    """One difference between two snapshots.

    Attributes:
        path: the absolute path in the snapshots.
        kind: ``added``, ``removed``, ``modified`` (content, symlink target or type changed) or
            ``metadata`` (only mode, owner, times or extended attributes changed).
        type: the node type (``file``, ``dir``, ...) in the second snapshot, or the first when removed.
    """

    path: str
    kind: str
    type: str

    def __str__(self) -> str:
        """Return the change as one line: ``+`` added, ``-`` removed, ``M`` modified, ``U`` metadata."""
        return f"{_CHANGE_MARKS.get(self.kind, '?')} {self.path}{'/' if self.type == DIRECTORY else ''}"

    def to_json(self) -> dict[str, str]:
        """Return the change as a JSON-ready map."""
        return {"path": self.path, "kind": self.kind, "type": self.type}


@dataclass(slots=True)
class Stats:
    """Statistics of one or more snapshots.

    For ``restore-size``: ``files`` (non-directory entries), ``directories``, ``bytes`` (the size
    of the files as a restore writes them; hard-linked content counted once).
    For ``raw-data``: the unique blobs the snapshots reference (``blobs``, of which ``tree_blobs``),
    their plaintext size ``raw_bytes`` and their size in the packs ``stored_bytes``, with
    ``compression_ratio`` = raw / stored and ``dedup_ratio`` = restore size / raw size; blobs that
    the index does not hold are counted in ``missing_blobs``. The restore-size counters are filled
    too, since the dedup ratio needs them.
    """

    mode: str
    snapshots: int
    files: int = 0
    directories: int = 0
    bytes: int = 0
    blobs: int = 0
    tree_blobs: int = 0
    raw_bytes: int = 0
    stored_bytes: int = 0
    missing_blobs: int = 0
    compression_ratio: float = 0.0
    dedup_ratio: float = 0.0

    def __str__(self) -> str:
        """Return the statistics as ``name: value`` lines (sizes in bytes)."""
        lines = [
            f"snapshots: {self.snapshots}",
            f"files: {self.files}",
            f"directories: {self.directories}",
            f"restore size: {self.bytes} bytes",
        ]
        if self.mode == "raw-data":
            lines += [
                f"unique blobs: {self.blobs} ({self.tree_blobs} trees)",
                f"raw data: {self.raw_bytes} bytes",
                f"stored: {self.stored_bytes} bytes",
                f"compression ratio: {self.compression_ratio:.2f}",
                f"deduplication ratio: {self.dedup_ratio:.2f}",
            ]
            if self.missing_blobs:
                lines.append(f"blobs missing from the index: {self.missing_blobs}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        """Return the statistics as a JSON-ready map."""
        return {
            "mode": self.mode,
            "snapshots": self.snapshots,
            "files": self.files,
            "directories": self.directories,
            "bytes": self.bytes,
            "blobs": self.blobs,
            "tree_blobs": self.tree_blobs,
            "raw_bytes": self.raw_bytes,
            "stored_bytes": self.stored_bytes,
            "missing_blobs": self.missing_blobs,
            "compression_ratio": self.compression_ratio,
            "dedup_ratio": self.dedup_ratio,
        }


@dataclass(slots=True)
class RepositoryStats:
    """What a repository holds, from its index.

    Attributes:
        packs: number of indexed packs; ``pack_bytes`` their total size.
        blobs: indexed blobs by type (``data``, ``tree``); ``raw_bytes`` and ``stored_bytes`` by type.
    """

    packs: int = 0
    pack_bytes: int = 0
    blobs: dict[str, int] = field(default_factory=dict)
    raw_bytes: dict[str, int] = field(default_factory=dict)
    stored_bytes: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """Return the statistics as a JSON-ready map."""
        return {
            "packs": self.packs,
            "pack_bytes": self.pack_bytes,
            "blobs": dict(self.blobs),
            "raw_bytes": dict(self.raw_bytes),
            "stored_bytes": dict(self.stored_bytes),
        }


STATS_MODES: tuple[str, ...] = ("restore-size", "raw-data")


def _load_tree(repository: Repository, tree_id: bytes, path: str) -> list[Node]:
    try:
        return decode_tree(repository.load_blob(tree_id))
    except (IntegrityError, StorageError) as error:
        raise IntegrityError(f"the tree of {path} cannot be read: {error}") from None


def _child_path(parent: str, name: bytes) -> str:
    return (parent if parent != "/" else "") + "/" + os.fsdecode(name)


def _components(path: str) -> list[bytes]:
    """Return the names along an absolute path (a relative one is taken from the root)."""
    return [part for part in posixpath.normpath(b"/" + os.fsencode(path)).split(b"/") if part]


def find_node(repository: Repository, snapshot: Snapshot, path: str) -> Node | None:
    """Return the node at ``path`` in the snapshot, or None for the root (``/``).

    Raises:
        PathNotFound: the path is not in the snapshot.
        IntegrityError: a tree on the way cannot be read.
    """
    node: Node | None = None
    tree_id = snapshot.tree
    shown = "/"
    for component in _components(path):
        if node is not None and node.type != DIRECTORY:
            raise PathNotFound(f"{path} is not in snapshot {snapshot.short_id}: {shown} is not a directory")
        nodes = _load_tree(repository, tree_id, shown)
        found = next((candidate for candidate in nodes if candidate.name == component), None)
        shown = _child_path(shown, component)
        if found is None:
            raise PathNotFound(f"{path} is not in snapshot {snapshot.short_id}")
        node = found
        if node.subtree is not None:
            tree_id = node.subtree
    return node


def _walk_tree(repository: Repository, tree_id: bytes, path: str) -> Iterator[tuple[str, Node]]:
    """Yield (path, node) of everything below a directory, depth-first, in name order."""
    stack: list[Iterator[tuple[str, Node]]] = []
    current = iter([(_child_path(path, node.name), node) for node in _load_tree(repository, tree_id, path)])
    while True:
        item = next(current, None)
        if item is None:
            if not stack:
                return
            current = stack.pop()
            continue
        child_path, node = item
        yield child_path, node
        if node.type == DIRECTORY and node.subtree is not None:
            nodes = _load_tree(repository, node.subtree, child_path)
            stack.append(current)
            current = iter([(_child_path(child_path, child.name), child) for child in nodes])


def walk_snapshot(
    repository: Repository, snapshot: Snapshot, path: str | None = None
) -> Iterator[tuple[str, Node]]:
    """Yield (absolute path, node) for every entry of a snapshot, depth-first in name order.

    Args:
        repository: an open repository.
        snapshot: the snapshot to walk.
        path: walk only this entry and what is below it (``None`` or ``/``: everything).

    Raises:
        PathNotFound: ``path`` is not in the snapshot (raised at the call, before iterating).
        IntegrityError: a tree cannot be read (raised while iterating, naming its directory).
    """
    if path is None or not _components(path):
        return _walk_tree(repository, snapshot.tree, "/")
    node = find_node(repository, snapshot, path)
    assert node is not None
    start = "/" + "/".join(os.fsdecode(part) for part in _components(path))

    def walk_below() -> Iterator[tuple[str, Node]]:
        yield start, node
        if node.type == DIRECTORY and node.subtree is not None:
            yield from _walk_tree(repository, node.subtree, start)

    return walk_below()


# -- diff ---------------------------------------------------------------------------------------


def _content_differs(first: Node, second: Node) -> bool:
    return (
        first.type != second.type
        or first.content != second.content
        or first.size != second.size
        or first.target != second.target
        or first.rdev != second.rdev
    )


def _metadata_differs(first: Node, second: Node) -> bool:
    return (
        first.mode != second.mode
        or first.uid != second.uid
        or first.gid != second.gid
        or first.user != second.user
        or first.group != second.group
        or first.mtime_ns != second.mtime_ns
        or first.xattrs != second.xattrs
    )


def diff_snapshots(repository: Repository, first: Snapshot, second: Snapshot) -> list[Change]:
    """Return what changed from ``first`` to ``second``, in path order (depth-first).

    Identical subtrees (same tree ID) are skipped without being read, so two large snapshots that
    differ little are compared quickly. Everything below an added or removed directory is listed.

    Raises:
        IntegrityError: a tree that must be compared cannot be read.
    """
    changes: list[Change] = []
    _diff_trees(repository, first.tree, second.tree, "/", changes)
    return changes


def _diff_trees(
    repository: Repository, first: bytes, second: bytes, path: str, changes: list[Change]
) -> None:
    if first == second:
        return
    old = {node.name: node for node in _load_tree(repository, first, path)}
    new = {node.name: node for node in _load_tree(repository, second, path)}
    for name in sorted(old.keys() | new.keys()):
        child_path = _child_path(path, name)
        before, after = old.get(name), new.get(name)
        if before is None:
            assert after is not None
            _list_all(repository, child_path, after, ADDED, changes)
        elif after is None:
            _list_all(repository, child_path, before, REMOVED, changes)
        elif before.type == DIRECTORY and after.type == DIRECTORY:
            if _metadata_differs(before, after):
                changes.append(Change(child_path, METADATA, DIRECTORY))
            assert before.subtree is not None and after.subtree is not None
            _diff_trees(repository, before.subtree, after.subtree, child_path, changes)
        elif DIRECTORY in (before.type, after.type):
            _list_all(repository, child_path, before, REMOVED, changes)
            _list_all(repository, child_path, after, ADDED, changes)
        elif _content_differs(before, after):
            changes.append(Change(child_path, MODIFIED, after.type))
        elif _metadata_differs(before, after):
            changes.append(Change(child_path, METADATA, after.type))


def _list_all(repository: Repository, path: str, node: Node, kind: str, changes: list[Change]) -> None:
    changes.append(Change(path, kind, node.type))
    if node.type == DIRECTORY and node.subtree is not None:
        changes.extend(
            Change(child, kind, child_node.type)
            for child, child_node in _walk_tree(repository, node.subtree, path)
        )


# -- statistics ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _SubtreeSize:
    files: int
    directories: int
    bytes: int
    hard_links: bool


class _SizeCounter:
    """Counts restore sizes; subtrees without hard links are counted once per tree ID and reused."""

    def __init__(self, repository: Repository) -> None:
        self.repository = repository
        self.cache: dict[bytes, _SubtreeSize] = {}

    def count(self, tree_id: bytes, path: str, linked: set[tuple[int, int]]) -> _SubtreeSize:
        cached = self.cache.get(tree_id)
        if cached is not None:
            return cached
        total = _SubtreeSize(0, 0, 0, False)
        for node in _load_tree(self.repository, tree_id, path):
            if node.type == DIRECTORY and node.subtree is not None:
                below = self.count(node.subtree, _child_path(path, node.name), linked)
                total.files += below.files
                total.directories += below.directories + 1
                total.bytes += below.bytes
                total.hard_links = total.hard_links or below.hard_links
                continue
            total.files += 1
            if node.type != FILE:
                continue
            if node.links > 1 and node.inode:
                total.hard_links = True
                key = (node.device, node.inode)
                if key in linked:
                    continue
                linked.add(key)
            total.bytes += node.size
        if not total.hard_links:
            self.cache[tree_id] = total
        return total


def _referenced_blobs(repository: Repository, snapshots: Iterable[Snapshot]) -> tuple[set[bytes], set[bytes]]:
    """Return (data blob IDs, tree blob IDs) referenced by the snapshots; each tree is read once."""
    data: set[bytes] = set()
    trees: set[bytes] = set()
    for snapshot in snapshots:
        stack = [(snapshot.tree, "/")]
        while stack:
            tree_id, path = stack.pop()
            if tree_id in trees:
                continue
            trees.add(tree_id)
            for node in _load_tree(repository, tree_id, path):
                data.update(node.content)
                if node.subtree is not None:
                    stack.append((node.subtree, _child_path(path, node.name)))
    return data, trees


def snapshot_stats(
    repository: Repository, snapshots: Iterable[Snapshot], mode: str = "restore-size"
) -> Stats:
    """Return statistics of the given snapshots taken together.

    Args:
        repository: an open repository.
        snapshots: the snapshots to count.
        mode: ``restore-size`` (what a restore of each would write, summed) or ``raw-data`` (the
            unique blobs they reference, their sizes, compression and deduplication ratios).

    Raises:
        ResguardoError: the mode is not one of :data:`STATS_MODES`.
        IntegrityError: a tree cannot be read.
    """
    if mode not in STATS_MODES:
        raise ResguardoError(f"unknown statistics mode {mode!r}", f"use one of: {', '.join(STATS_MODES)}")
    chosen = list(snapshots)
    stats = Stats(mode=mode, snapshots=len(chosen))
    counter = _SizeCounter(repository)
    for snapshot in chosen:
        size = counter.count(snapshot.tree, "/", set())
        stats.files += size.files
        stats.directories += size.directories
        stats.bytes += size.bytes
    if mode == "raw-data":
        data, trees = _referenced_blobs(repository, chosen)
        stats.blobs = len(data) + len(trees)
        stats.tree_blobs = len(trees)
        for blob_id in data | trees:
            location = repository.index.lookup(blob_id)
            if location is None:
                stats.missing_blobs += 1
                continue
            stats.raw_bytes += location.raw_length
            stats.stored_bytes += location.length
        stats.compression_ratio = stats.raw_bytes / stats.stored_bytes if stats.stored_bytes else 0.0
        stats.dedup_ratio = stats.bytes / stats.raw_bytes if stats.raw_bytes else 0.0
    return stats


def repository_stats(repository: Repository) -> RepositoryStats:
    """Return how many packs and blobs the repository's index holds, and their sizes."""
    stats = RepositoryStats()
    packs = repository.index.packs()
    stats.packs = len(packs)
    stats.pack_bytes = sum(packs.values())
    names = {int(BlobType.DATA): "data", int(BlobType.TREE): "tree"}
    for _blob_id, location in repository.index.blobs():
        kind = names.get(location.type, str(location.type))
        stats.blobs[kind] = stats.blobs.get(kind, 0) + 1
        stats.raw_bytes[kind] = stats.raw_bytes.get(kind, 0) + location.raw_length
        stats.stored_bytes[kind] = stats.stored_bytes.get(kind, 0) + location.length
    return stats


# -- the content of one file --------------------------------------------------------------------


def open_file(repository: Repository, snapshot: Snapshot, path: str) -> Iterator[bytes]:
    """Return an iterator over a file's content, one chunk at a time (for ``dump``).

    The path is looked up at the call, so a wrong path fails before anything is produced.

    Raises:
        PathNotFound: the path is not in the snapshot.
        NotAFile: the path is a directory, a symlink or another kind of entry.
        IntegrityError: a tree on the way, or (while iterating) a chunk, cannot be read.
        ObjectNotFound: (while iterating) a chunk's pack is missing.
    """
    node = find_node(repository, snapshot, path)
    if node is None or node.type == DIRECTORY:
        raise NotAFile(
            f"{path} is a directory in snapshot {snapshot.short_id}", "give the path of a file in it"
        )
    if node.type == SYMLINK:
        target = os.fsdecode(node.target)
        raise NotAFile(f"{path} is a symbolic link to {target}", "give the path it points to")
    if node.type != FILE:
        raise NotAFile(f"{path} is a {node.type}, not a regular file")
    content = list(node.content)

    def chunks() -> Iterator[bytes]:
        for blob_id in content:
            yield repository.load_blob(blob_id)

    return chunks()
