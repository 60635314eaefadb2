"""Copy snapshots from one repository into another, sending only the content the destination lacks.

The two repositories have different keys, so the same content has different blob IDs in each, and
their chunkers cut files at different places. A copy keeps the source's chunks: each content blob is
read from the source, hashed with the destination's key and stored unless the destination has it.
Trees are rewritten bottom-up with the destination's IDs (so their IDs change too), and the snapshot
is saved with the same time, host, paths and tags, plus ``copied_from`` (the source repository's id
and the snapshot's ID there). Copies therefore deduplicate against each other, but not against the
destination's own backups of the same files, which are cut at other places.

What is never read twice:

* a snapshot whose copy the destination holds already (found through ``copied_from``) is skipped;
* the snapshot copied last of the same host and paths is the *parent*: walking its source and
  destination trees side by side says which destination tree and blobs correspond to which source
  ones, so an unchanged directory costs one tree read and an unchanged file nothing;
* the translation map (:mod:`resguardo.engine.copymap`) in the local cache remembers every blob sent,
  as soon as its pack is durable, so a run that was interrupted resumes without reading again what
  it had sent (packs it left without an index are adopted, as a backup does).

Write order is that of a backup: packs, an index, then the snapshot, after every blob it refers to.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from resguardo.backends.base import Storage, StoredObject
from resguardo.core.errors import IntegrityError, ObjectNotFound, ResguardoError, SnapshotNotFound, UsageError
from resguardo.engine.copymap import TranslationMap, translation_file_path
from resguardo.engine.events import Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.pack import BlobType
from resguardo.engine.repository import Repository
from resguardo.engine.restorer.reading import _BlobReader, _TreeReader
from resguardo.engine.snapshot import CopyOrigin, Snapshot, list_snapshots, load_snapshot
from resguardo.engine.tree import DIRECTORY, FILE, Node, encode_tree

MAX_JOBS_IN_FLIGHT = 64
MAX_DIRECTORIES_PENDING = 256
DAMAGED_SOURCE_HINT = (
    "run 'resguardo check --read-data' on the source repository to see what is damaged; "
    "the snapshots copied before this one are kept"
)


@dataclass(slots=True)
class CopyPlan:
    """Which of the chosen snapshots a copy would copy, and which the destination holds already.

    Attributes:
        to_copy: source snapshots without a copy in the destination, oldest first.
        already_copied: (source snapshot, ID of its copy in the destination).
    """

    to_copy: list[Snapshot]
    already_copied: list[tuple[Snapshot, str]]


@dataclass(slots=True)
class CopyResult:
    """What a copy did.

    Attributes:
        copied: (source snapshot, its new copy in the destination), in the order they were copied.
        skipped: (source snapshot, ID of the copy the destination held already).
        files: files and other entries but directories, in the directories that had to be rewritten
            (unchanged directories are not visited).
        bytes_read: bytes loaded from the source's storage (content and trees).
        blobs_read: content blobs read from the source and hashed with the destination's key.
        bytes_added: bytes of blobs added to the destination (as stored: compressed and encrypted).
        blobs_added: content blobs the destination did not have.
        trees_added: tree blobs the destination did not have.
        blobs_reused: content references resolved without reading: known from the parent copy, the
            translation map, or another file copied before.
    """

    copied: list[tuple[Snapshot, Snapshot]] = field(default_factory=list)
    skipped: list[tuple[Snapshot, str]] = field(default_factory=list)
    files: int = 0
    bytes_read: int = 0
    blobs_read: int = 0
    bytes_added: int = 0
    blobs_added: int = 0
    trees_added: int = 0
    blobs_reused: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the result as a JSON-ready map (the ``summary`` line of ``copy --json``)."""
        return {
            "copied": [
                {"source_id": source.id, "copy_id": copy.id, "time": source.time.isoformat()}
                for source, copy in self.copied
            ],
            "skipped": [{"source_id": source.id, "copy_id": copy_id} for source, copy_id in self.skipped],
            "snapshots_copied": len(self.copied),
            "snapshots_skipped": len(self.skipped),
            "files": self.files,
            "bytes_read": self.bytes_read,
            "blobs_read": self.blobs_read,
            "bytes_added": self.bytes_added,
            "blobs_added": self.blobs_added,
            "trees_added": self.trees_added,
            "blobs_reused": self.blobs_reused,
        }


class _CountingStorage:
    """A storage that counts the bytes loaded through it (the source's, to report what was read)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage
        self.bytes_read = 0
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        return self.storage.location

    @property
    def is_local(self) -> bool:
        return self.storage.is_local

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.storage.load(name, offset, length)
        with self._lock:
            self.bytes_read += len(data)
        return data

    def save(self, name: str, data: bytes | memoryview) -> None:
        self.storage.save(name, data)

    def size(self, name: str) -> int:
        return self.storage.size(name)

    def exists(self, name: str) -> bool:
        return self.storage.exists(name)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        return self.storage.list(prefix)

    def remove(self, name: str) -> None:
        self.storage.remove(name)

    def close(self) -> None:
        """Leave the storage open: it belongs to the caller."""


def check_distinct(source: Repository, destination: Repository) -> None:
    """Refuse to copy a repository into itself (or into a byte-for-byte duplicate of it).

    Raises:
        UsageError: both have the same repository id.
    """
    if source.config.id == destination.config.id:
        raise UsageError(
            f"the source and the destination are the same repository (id {source.config.id})",
            "give another repository to copy to; a duplicate of a repository's files is kept in step "
            "by copying the files themselves",
        )


def copies_in(destination: Repository, source_id: str) -> dict[str, Snapshot]:
    """Return the destination's copies of the source's snapshots, by the source snapshot's ID."""
    return {
        snapshot.copied_from.snapshot: snapshot
        for snapshot in list_snapshots(destination)
        if snapshot.copied_from is not None and snapshot.copied_from.repository == source_id
    }


def plan_copy(source: Repository, destination: Repository, snapshots: Sequence[Snapshot]) -> CopyPlan:
    """Return which of ``snapshots`` (of ``source``) a copy into ``destination`` would copy.

    Raises:
        UsageError: the source and the destination are the same repository.
    """
    check_distinct(source, destination)
    copies = copies_in(destination, source.config.id)
    chosen = sorted({snapshot.id: snapshot for snapshot in snapshots}.values(), key=lambda s: (s.time, s.id))
    return CopyPlan(
        to_copy=[snapshot for snapshot in chosen if snapshot.id not in copies],
        already_copied=[(snapshot, copies[snapshot.id].id) for snapshot in chosen if snapshot.id in copies],
    )


@dataclass(slots=True)
class _Directory:
    """A source directory being copied: its nodes, rewritten as its children are done, and the node
    of its parent (``holder``) whose subtree becomes the destination tree when it is finished."""

    source_tree: bytes
    path: str
    nodes: list[Node]
    hints: tuple[dict[bytes, Node], dict[bytes, Node]] | None
    holder: Node
    position: int = 0

    def next_subdirectory(self) -> Node | None:
        """Return the next directory node not yet handled, or None when all are."""
        while self.position < len(self.nodes):
            node = self.nodes[self.position]
            self.position += 1
            if node.type == DIRECTORY:
                return node
        return None

    def hint_for(self, name: bytes) -> tuple[bytes, bytes] | None:
        """Return the parent's (source tree, destination tree) of the subdirectory ``name``, if any."""
        if self.hints is None:
            return None
        source, destination = self.hints[0].get(name), self.hints[1].get(name)
        if source is None or destination is None or source.subtree is None or destination.subtree is None:
            return None
        return source.subtree, destination.subtree


def _join(path: str, name: bytes) -> str:
    return path.rstrip("/") + "/" + os.fsdecode(name)


class _Copier:
    """One copy run: copies snapshots one after the other, remembering what it has translated."""

    def __init__(
        self,
        source: Repository,
        destination: Repository,
        *,
        translations: TranslationMap,
        reporter: Reporter,
        workers: int,
        totals: tuple[int | None, int | None],
    ) -> None:
        self.counting = _CountingStorage(source.storage)
        self.source = Repository(self.counting, source.keys, source.config, source.clock)
        self.source.index = source.index
        self.destination = destination
        self.translations = translations
        self.trees: dict[bytes, bytes] = {}
        self.source_trees = _TreeReader(self.source)
        self.destination_trees = _TreeReader(destination)
        self.reader = _BlobReader(self.counting, source.keys, verify=True)
        self.in_flight: dict[bytes, Future[tuple[bytes, int]]] = {}
        self.finishing: deque[_Directory] = deque()
        self.executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="copy")
        self.job_slots = threading.BoundedSemaphore(MAX_JOBS_IN_FLIGHT)
        self.result = CopyResult()
        self.bytes_done = 0
        self.hard_links: set[tuple[int, int]] = set()
        self.totals = totals
        self.reporter = reporter
        self.throttle = ProgressThrottle(reporter, clock=destination.clock)
        self.current = ""

    # -- content ----------------------------------------------------------------------------

    def _translate(self, source_blob: bytes) -> tuple[bytes, int]:
        """Read a content blob from the source and store it in the destination (a worker thread).

        Returns (destination ID, bytes added).
        """
        try:
            plaintext = self.reader.plaintext(source_blob)
            translated, added = self.destination.save_blob(BlobType.DATA, plaintext)
            self.translations.add(source_blob, translated)
            self.save_translations()  # at once, so that a kill loses at most the packs being filled
            return translated, added
        finally:
            self.job_slots.release()

    def _known(self, source_blob: bytes) -> bytes | None:
        """Return the destination ID of a source blob when the destination has it, else None."""
        translated = self.translations.get(source_blob)
        return translated if translated is not None and self.destination.has_blob(translated) else None

    def start_translations(self, nodes: list[Node]) -> None:
        """Start reading and storing the content of these nodes that the destination may lack."""
        needed: dict[bytes, None] = {}
        for node in nodes:
            if node.type != FILE:
                continue
            for blob in node.content:
                if blob in needed or blob in self.in_flight:
                    continue
                if self._known(blob) is not None:
                    continue
                needed[blob] = None
        if not needed:
            return
        self.reader.register(needed, self.source.index.lookup)
        for blob in needed:
            self.job_slots.acquire()
            try:
                self.in_flight[blob] = self.executor.submit(self._translate, blob)
            except BaseException:
                self.job_slots.release()
                raise

    def resolve(self, source_blob: bytes, path: str) -> bytes:
        """Return the destination ID of a content blob, waiting for its translation if needed.

        Raises:
            IntegrityError: the blob is missing from the source or damaged there.
        """
        future = self.in_flight.pop(source_blob, None)
        if future is None:
            translated = self.translations.get(source_blob)
            assert translated is not None, "a blob was neither known nor being translated"
            self.result.blobs_reused += 1
            return translated
        try:
            translated, added = future.result()
        except (IntegrityError, ObjectNotFound) as error:
            raise IntegrityError(
                f"cannot copy {path} from the source: {error}", DAMAGED_SOURCE_HINT
            ) from None
        self.result.blobs_read += 1
        if added:
            self.result.blobs_added += 1
            self.result.bytes_added += added
        return translated

    # -- trees ------------------------------------------------------------------------------

    def known_tree(self, source_tree: bytes) -> bytes | None:
        """Return the destination tree of a source tree already copied, if the destination has it."""
        translated = self.trees.get(source_tree)
        return translated if translated is not None and self.destination.has_blob(translated) else None

    def load_hints(
        self, hint: tuple[bytes, bytes] | None
    ) -> tuple[dict[bytes, Node], dict[bytes, Node]] | None:
        """Load the parent's source and destination trees of a directory, and learn from them.

        Every subdirectory and file content they share by name gives a translation for free.
        """
        if hint is None:
            return None
        try:
            source = {node.name: node for node in self.source_trees.load(hint[0])}
            destination = {node.name: node for node in self.destination_trees.load(hint[1])}
        except (IntegrityError, ObjectNotFound):
            return None
        for name, old in source.items():
            copied = destination.get(name)
            if copied is None or copied.type != old.type:
                continue
            if old.type == DIRECTORY and old.subtree is not None and copied.subtree is not None:
                self.trees.setdefault(old.subtree, copied.subtree)
            elif old.type == FILE and len(old.content) == len(copied.content):
                for source_blob, destination_blob in zip(old.content, copied.content, strict=True):
                    self.translations.learn(source_blob, destination_blob)
        return source, destination

    def open_directory(
        self, source_tree: bytes, hint: tuple[bytes, bytes] | None, path: str, holder: Node
    ) -> _Directory:
        """Load a source directory, learn from its parent's, and start storing its files' content."""
        try:
            nodes = self.source_trees.load(source_tree)
        except (IntegrityError, ObjectNotFound) as error:
            raise IntegrityError(
                f"cannot copy {path} from the source: {error}", DAMAGED_SOURCE_HINT
            ) from None
        hints = self.load_hints(hint)
        self.start_translations(nodes)
        self.current = path
        return _Directory(source_tree, path, nodes, hints, holder)

    def finish_directory(self, directory: _Directory) -> bytes:
        """Save a directory's tree with destination IDs (its subdirectories are done); return its ID."""
        for node in directory.nodes:
            if node.type == DIRECTORY:
                continue
            self.result.files += 1
            if node.type != FILE:
                continue
            if node.content:
                path = _join(directory.path, node.name)
                node.content = [self.resolve(blob, path) for blob in node.content]
            if node.links > 1:  # counted once, as the backup did
                if (node.device, node.inode) in self.hard_links:
                    continue
                self.hard_links.add((node.device, node.inode))
            self.bytes_done += node.size
        tree, added = self.destination.save_blob(BlobType.TREE, encode_tree(directory.nodes))
        if added:
            self.result.trees_added += 1
            self.result.bytes_added += added
        self.trees[directory.source_tree] = tree
        self.report_progress()
        return tree

    def copy_tree(self, root: bytes, hint: tuple[bytes, bytes] | None) -> bytes:
        """Copy a source tree and everything below it; return the destination tree's ID.

        Directories are opened depth-first (which starts storing their files' content at once) and
        finished in post-order from a queue, up to :data:`MAX_DIRECTORIES_PENDING` behind the walk,
        so that the worker threads do not run dry at the end of each directory.
        """
        if hint is not None:
            self.trees.setdefault(hint[0], hint[1])
        known = self.known_tree(root)
        if known is not None:
            return known
        holder = Node(name=b"/", type=DIRECTORY, subtree=root)
        stack = [self.open_directory(root, hint, "/", holder)]
        while stack:
            directory = stack[-1]
            child = directory.next_subdirectory()
            if child is None:
                self.finishing.append(stack.pop())
                self.finish_queued(MAX_DIRECTORIES_PENDING)
                continue
            assert child.subtree is not None  # decode_tree checks every directory has one
            known = self.known_tree(child.subtree)
            if known is not None:
                child.subtree = known
                continue
            path = _join(directory.path, child.name)
            stack.append(self.open_directory(child.subtree, directory.hint_for(child.name), path, child))
        self.finish_queued(0)
        assert holder.subtree is not None
        return holder.subtree

    def finish_queued(self, keep: int) -> None:
        """Finish the oldest walked directories until ``keep`` remain queued."""
        while len(self.finishing) > keep:
            directory = self.finishing.popleft()
            directory.holder.subtree = self.finish_directory(directory)

    # -- snapshots --------------------------------------------------------------------------

    def copy_snapshot(
        self, snapshot: Snapshot, parent: tuple[Snapshot, Snapshot] | None, copied_parent: str | None
    ) -> Snapshot:
        """Copy one snapshot, its trees and content; return the copy saved in the destination.

        Args:
            snapshot: the source snapshot.
            parent: a source snapshot and its copy to compare with, or None.
            copied_parent: the destination ID of the copy of ``snapshot.parent``, if there is one.
        """
        self.current = snapshot.short_id
        self.hard_links.clear()
        hint = (parent[0].tree, parent[1].tree) if parent is not None else None
        tree = self.copy_tree(snapshot.tree, hint)
        self.destination.flush()
        copy = Snapshot(
            time=snapshot.time,
            tree=tree,
            paths=list(snapshot.paths),
            hostname=snapshot.hostname,
            username=snapshot.username,
            tags=list(snapshot.tags),
            parent=copied_parent,
            excludes=list(snapshot.excludes),
            program_version=snapshot.program_version,
            summary=dict(snapshot.summary),
            unreadable=list(snapshot.unreadable),
            copied_from=CopyOrigin(self.source.config.id, snapshot.id),
            streams=[dict(stream) for stream in snapshot.streams],
        )
        copy.id = self.destination.save_snapshot_document(copy.to_document())
        self.save_translations()
        return copy

    def save_translations(self) -> None:
        """Append to the translation map the blobs whose destination packs are written by now.

        What waits is at most the content of the packs being filled, so checking it all is cheap.
        """
        if self.translations.unsaved:
            self.translations.save_durable(self.destination.index.__contains__)

    def report_progress(self, *, force: bool = False) -> None:
        if force or self.throttle.due():
            files_total, bytes_total = self.totals
            self.reporter(
                Progress(
                    "copy",
                    self.result.files,
                    self.bytes_done,
                    files_total=files_total,
                    bytes_total=bytes_total,
                    current=self.current,
                )
            )

    def close(self) -> None:
        """Stop the worker threads (cancelling what has not started) and count the bytes read."""
        self.executor.shutdown(wait=True, cancel_futures=True)
        self.result.bytes_read = self.counting.bytes_read


def _summary_total(snapshots: Sequence[Snapshot], key: str) -> int | None:
    """Return the sum of a summary counter over the snapshots, or None when one lacks it."""
    values = [snapshot.summary.get(key) for snapshot in snapshots]
    if any(not isinstance(value, int) for value in values):
        return None
    return sum(int(value) for value in values if value is not None)


def _choose_parent(
    snapshot: Snapshot, copies: dict[str, Snapshot], load_source: Callable[[str], Snapshot | None]
) -> tuple[Snapshot, Snapshot] | None:
    """Return the (source snapshot, copy) to compare ``snapshot`` with: of the same host and paths, the
    latest copied at or before its time, else the earliest after it; None when there is none."""
    candidates = [
        copy
        for copy in copies.values()
        if copy.hostname == snapshot.hostname and sorted(copy.paths) == sorted(snapshot.paths)
    ]
    before = [copy for copy in candidates if copy.time <= snapshot.time]
    after = [copy for copy in candidates if copy.time > snapshot.time]
    ordered = sorted(before, key=lambda copy: copy.time, reverse=True) + sorted(after, key=lambda c: c.time)
    for copy in ordered:
        assert copy.copied_from is not None
        source = load_source(copy.copied_from.snapshot)
        if source is not None:
            return source, copy
    return None


def copy_snapshots(
    source: Repository,
    destination: Repository,
    snapshots: Sequence[Snapshot],
    *,
    cache_dir: str | None = None,
    workers: int | None = None,
    reporter: Reporter = ignore_events,
) -> CopyResult:
    """Copy snapshots of ``source`` into ``destination``; those already copied are skipped.

    Args:
        source: the open repository to copy from (only read).
        destination: the open repository to copy into.
        snapshots: the source's snapshots to copy (in any order; copied oldest first).
        cache_dir: the local cache folder, for the translation map (None: keep it in memory only).
        workers: threads reading and storing content (default: the number of cores, at least 2).
        reporter: receives progress events.

    Returns:
        what was copied and skipped, and the bytes read and added.

    Raises:
        UsageError: the source and the destination are the same repository.
        IntegrityError: a snapshot's tree or content is missing or damaged in the source (the
            snapshots copied before it are kept).
        StorageError: reading the source or writing the destination failed.
    """
    plan = plan_copy(source, destination, snapshots)
    copies = copies_in(destination, source.config.id)
    path = (
        translation_file_path(cache_dir, destination.config.id, source.config.id)
        if cache_dir is not None
        else None
    )
    translations = TranslationMap(path, destination.keys.master_secret, source.config.id)
    if plan.to_copy:
        destination.adopt_unindexed_packs()
    totals = (
        _summary_total(plan.to_copy, "total_files_processed"),
        _summary_total(plan.to_copy, "total_bytes_processed"),
    )
    copier = _Copier(
        source,
        destination,
        translations=translations,
        reporter=reporter,
        workers=workers or max(2, os.cpu_count() or 2),
        totals=totals,
    )
    copier.result.skipped = list(plan.already_copied)

    def load_source(snapshot_id: str) -> Snapshot | None:
        try:
            return load_snapshot(source, snapshot_id)
        except (SnapshotNotFound, IntegrityError):
            return None

    try:
        for snapshot in plan.to_copy:
            parent = _choose_parent(snapshot, copies, load_source)
            copied_parent = copies[snapshot.parent].id if snapshot.parent in copies else None
            copy = copier.copy_snapshot(snapshot, parent, copied_parent)
            copies[snapshot.id] = copy
            copier.result.copied.append((snapshot, copy))
    except BaseException:
        copier.close()
        with contextlib.suppress(ResguardoError):
            destination.flush()  # what was sent stays usable by the next run
        copier.save_translations()
        raise
    copier.close()
    copier.report_progress(force=True)
    return copier.result
