"""Checking a repository: is every object present, intact and consistent, and what does damage affect?

Two levels:

* **structure** (always): the config decrypts; every key slot parses and is named by the BLAKE3 of
  its content; every index file authenticates and is named by its content's hash; every indexed
  pack exists with the indexed size; every stored pack is indexed (an unindexed pack is only a
  warning: an interrupted backup leaves those; its header is read so that its blobs still count);
  every snapshot matches its name and parses; every tree reachable from a snapshot loads and
  decodes, and every blob it references is indexed.
* **data** (``read_data``, or a ``subset`` of the packs): each selected pack is read whole, once.
  Its name must be the BLAKE3 of its bytes, its header must authenticate and agree with the index,
  and every blob must decrypt, decompress and hash (keyed) to its ID.

Speed. BLAKE3, AES-GCM and zstd run in native code, but for the many small blobs of a typical
repository the interpreter lock is held for much of each blob's verification, and decoding trees
holds it throughout. So packs are verified on worker *processes* when the storage can be opened by
them (a local directory) and there is enough data to repay their start-up, while this process walks
the trees at the same time; otherwise on threads, before the walk (a walk beside verifying threads
would only queue for the lock). Trees are loaded on this thread from local storage and on threads
from remote storage, where waiting dominates.

What damage affects. The walk loads each unique tree once and keeps, per tree, only its
subdirectories and the damaged blobs its files use. The paths a damaged blob affects are then put
together bottom-up, once per unique tree, and prefixed with each snapshot's path to it: a blob
shared by a thousand snapshots costs one lookup, not a thousand walks. A damaged tree affects its
directory and everything under it. Blobs found damaged by the data check after the walk saw their
tree (possible when both run at once) are placed by reading the walked trees once more.

Nothing stops the check short: a damaged index file, snapshot or key slot is recorded and the check
goes on with what remains.
"""

from __future__ import annotations

import math
import multiprocessing
import os
import re
import secrets
import threading
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from resguardo.backends.base import Storage
from resguardo.core.errors import ConfigurationError, IntegrityError, ObjectNotFound, StorageError
from resguardo.engine.compression import decompress
from resguardo.engine.config import RepositoryConfig
from resguardo.engine.crypto import RepositoryKeys, plain_id
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.index import Index, PackRecord, decode_index_file
from resguardo.engine.keys import parse_slot_file, slot_id
from resguardo.engine.pack import BlobEntry, BlobType, parse_pack, read_pack_header
from resguardo.engine.repository import (
    CONFIG_NAME,
    DATA_PREFIX,
    INDEX_PREFIX,
    KEYS_PREFIX,
    SNAPSHOTS_PREFIX,
    Repository,
    pack_id_from_name,
    pack_name,
)
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, decode_tree

OPERATION = "check"
PROCESS_THRESHOLD = 64 * 1024 * 1024
_KIND_ORDER = {
    kind: rank for rank, kind in enumerate(("config", "key", "index", "pack", "blob", "tree", "snapshot"))
}
_NO_DAMAGE: tuple[tuple[bytes, bytes], ...] = ()


# -- the report ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckProblem:
    """One problem found.

    Attributes:
        kind: what sort of object: ``config``, ``key``, ``index``, ``pack``, ``blob``, ``tree``, ``snapshot``.
        name: the object's storage name (``data/ab/ab…``, ``snapshots/…``), or the hex ID of a blob or tree.
        message: what is wrong with it.
    """

    kind: str
    name: str
    message: str


class AffectedPath(NamedTuple):
    """A path of a snapshot that cannot be restored intact: (snapshot short ID, absolute path)."""

    snapshot: str
    path: str


@dataclass(slots=True)
class CheckCounts:
    """How much was checked.

    Attributes:
        key_slots, index_files, snapshots: files of each kind examined.
        packs: packs known (indexed or stored); packs_read: packs read whole by the data check.
        blobs: blobs decrypted and verified by the data check.
        trees: unique trees loaded and decoded.
        bytes_read: bytes read from storage, all objects included.
    """

    key_slots: int = 0
    index_files: int = 0
    packs: int = 0
    packs_read: int = 0
    blobs: int = 0
    snapshots: int = 0
    trees: int = 0
    bytes_read: int = 0


@dataclass(slots=True)
class CheckReport:
    """What a check found.

    Attributes:
        errors: damage and inconsistencies; the repository is not healthy while any remain.
        warnings: harmless findings, such as packs an interrupted backup left unindexed.
        counts: how much was checked.
        affected: for every damaged or missing blob or tree (hex ID), the snapshot paths that use it;
            an empty list means no snapshot uses it.
        read_data: whether pack contents were read.
        subset: the subset of packs read, as given.
        seconds: how long the check took.
    """

    errors: list[CheckProblem] = field(default_factory=list)
    warnings: list[CheckProblem] = field(default_factory=list)
    counts: CheckCounts = field(default_factory=CheckCounts)
    affected: dict[str, list[AffectedPath]] = field(default_factory=dict)
    read_data: bool = False
    subset: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when no error was found (warnings allowed)."""
        return not self.errors

    def affected_snapshots(self) -> set[str]:
        """Return the short IDs of the snapshots that have at least one damaged path."""
        return {item.snapshot for paths in self.affected.values() for item in paths}

    def affected_paths(self) -> set[AffectedPath]:
        """Return every (snapshot short ID, path) that cannot be restored intact."""
        return {item for paths in self.affected.values() for item in paths}

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready map (for ``--json`` output)."""
        return {
            "ok": self.ok,
            "read_data": self.read_data,
            "subset": self.subset,
            "seconds": self.seconds,
            "errors": [_problem_json(problem) for problem in self.errors],
            "warnings": [_problem_json(problem) for problem in self.warnings],
            "counts": {name: getattr(self.counts, name) for name in CheckCounts.__slots__},
            "affected": {
                object_id: [{"snapshot": item.snapshot, "path": item.path} for item in paths]
                for object_id, paths in self.affected.items()
            },
        }


def _problem_json(problem: CheckProblem) -> dict[str, str]:
    """Return a problem as a JSON-ready map."""
    return {"kind": problem.kind, "name": problem.name, "message": problem.message}


# -- subsets ------------------------------------------------------------------------------------

_PERCENT = re.compile(r"\s*(\d+(?:\.\d+)?)\s*%\s*")
_GROUP = re.compile(r"\s*(\d+)\s*/\s*(\d+)\s*")


@dataclass(frozen=True, slots=True)
class PackSubset:
    """Which packs a partial data check reads: a random ``percent``, or group ``group`` of ``groups``."""

    text: str
    percent: float | None = None
    group: int = 0
    groups: int = 0

    def select(self, pack_ids: Iterable[bytes]) -> list[bytes]:
        """Return the chosen packs among ``pack_ids``.

        Groups are chosen by pack ID alone, so 1/t, 2/t, ... t/t read every pack exactly once
        between them; a percentage is drawn at random each time, and rounded up.
        """
        candidates = sorted(pack_ids)
        if self.percent is not None:
            count = min(len(candidates), math.ceil(len(candidates) * self.percent / 100))
            return sorted(secrets.SystemRandom().sample(candidates, count))
        return [
            pack_id
            for pack_id in candidates
            if int.from_bytes(pack_id[:8], "big") % self.groups == self.group - 1
        ]


def parse_subset(text: str) -> PackSubset:
    """Parse a subset of packs: ``"N%"`` (0 < N <= 100) or ``"n/t"`` (1 <= n <= t).

    Raises:
        ConfigurationError: the text is neither form, or a number is out of range.
    """
    hint = "give a percentage such as 10% or a group such as 1/7 (then 2/7, ... 7/7 on later runs)"
    percent = _PERCENT.fullmatch(text)
    if percent is not None:
        value = float(percent.group(1))
        if not 0 < value <= 100:
            raise ConfigurationError(f"subset {text!r} must be more than 0% and at most 100%", hint)
        return PackSubset(text, percent=value)
    group = _GROUP.fullmatch(text)
    if group is not None:
        number, total = int(group.group(1)), int(group.group(2))
        if not 1 <= number <= total:
            raise ConfigurationError(f"subset {text!r} must be n/t with 1 <= n <= t", hint)
        return PackSubset(text, group=number, groups=total)
    raise ConfigurationError(f"{text!r} is not a subset of packs", hint)


# -- checking one pack (worker threads or processes) ---------------------------------------------


@dataclass(slots=True)
class _PackOutcome:
    pack_id: bytes
    bytes_read: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)
    damaged: dict[bytes, str] = field(default_factory=dict)


_TreeNode = tuple[bytes, str, list[bytes], bytes | None]
_EntryFields = tuple[int, bytes, int, int, int, int]


_ID_MISMATCH = "content does not match its ID"


def _in_pack(pack_id: bytes, problem: object) -> str:
    """Return the message for a damaged blob or tree: the same whichever pass finds it first."""
    return f"in pack {pack_id.hex()[:16]}: {problem}"


def _entry_key(entry: BlobEntry) -> _EntryFields:
    return (entry.type, entry.id, entry.offset, entry.length, entry.raw_length, entry.compression)


def _read_pack(
    storage: Storage, keys: RepositoryKeys, pack_id: bytes, indexed: list[BlobEntry] | None
) -> _PackOutcome:
    """Read one pack whole and verify it; ``indexed`` is what the index (or its header) says it holds."""
    outcome = _PackOutcome(pack_id)
    try:
        content = storage.load(pack_name(pack_id))
    except ObjectNotFound:
        outcome.problems.append("pack disappeared while it was being checked")
        outcome.damaged = {entry.id: "its pack is missing" for entry in indexed or ()}
        return outcome
    except StorageError as error:
        outcome.problems.append(f"pack could not be read: {error}")
        return outcome
    outcome.bytes_read = len(content)
    if plain_id(content) != pack_id:
        outcome.problems.append("pack content does not match its name (damaged)")
    try:
        header: list[BlobEntry] | None = parse_pack(keys, content)
    except IntegrityError as error:
        header = None
        outcome.problems.append(f"pack header is damaged: {error}")
    entries = indexed if indexed is not None else header or []
    if header is not None and indexed is not None:
        extra = {_entry_key(entry) for entry in header} - {_entry_key(entry) for entry in indexed}
        if extra or len(header) != len(indexed):
            outcome.problems.append("pack header does not agree with the index")
            entries = indexed + [entry for entry in header if _entry_key(entry) in extra]
    view = memoryview(content)
    decrypt = keys.decrypt
    blob_id = keys.blob_id
    damaged = outcome.damaged
    for entry in entries:
        start = entry.offset
        try:
            plaintext = decompress(
                decrypt(view[start : start + entry.length]), entry.compression, entry.raw_length
            )
        except IntegrityError as error:
            damaged[entry.id] = _in_pack(pack_id, error)
            continue
        if blob_id(plaintext) != entry.id:
            damaged[entry.id] = _in_pack(pack_id, _ID_MISMATCH)
    outcome.blobs = len(entries)
    return outcome


_WORKER: dict[str, Any] = {}
"""The storage and keys of a worker process, set once by :func:`_start_worker`."""


def _start_worker(storage: Storage, master_secret: bytes) -> None:
    _WORKER["storage"] = storage
    _WORKER["keys"] = RepositoryKeys(master_secret)


def _read_pack_in_worker(pack_id: bytes, indexed: list[_EntryFields] | None) -> _PackOutcome:
    entries = None if indexed is None else [BlobEntry(*fields) for fields in indexed]
    return _read_pack(_WORKER["storage"], _WORKER["keys"], pack_id, entries)


def _use_processes(storage: Storage, workers: int, processes: bool | None, total_bytes: int) -> bool:
    """Return whether to verify packs in worker processes rather than threads.

    Threads share one interpreter lock with the tree walk, and much of a blob's verification holds
    it; processes cost a start-up of about a tenth of a second each, so they are chosen
    automatically only for storage they can open themselves and more than a few packs of data.
    """
    if workers < 2 or not getattr(storage, "shareable_between_processes", False):
        return False
    return processes if processes is not None else total_bytes >= PROCESS_THRESHOLD


# -- the check ------------------------------------------------------------------------------------


class _Checker:
    """One run of :func:`check`; not reusable."""

    def __init__(self, repository: Repository, reporter: Reporter, workers: int) -> None:
        self.repository = repository
        self.storage = repository.storage
        self.keys = repository.keys
        self.reporter = reporter
        self.workers = workers
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.report = CheckReport()
        self.counts = self.report.counts
        self.seen_problems: set[CheckProblem] = set()
        self.index = Index()
        self.pack_entries: dict[bytes, list[BlobEntry]] = {}
        self.indexed_sizes: dict[bytes, tuple[int, str]] = {}
        self.stored_sizes: dict[bytes, int] = {}
        self.damaged: dict[bytes, str] = {}
        self.bad_trees: set[bytes] = set()
        self.snapshots: list[Snapshot] = []
        self.loaded_trees: list[bytes] = []
        self.pending: set[Future[_PackOutcome]] = set()
        self.data_total = (0, 0)
        self.walk_started = False
        self.rescan_needed = False
        self.process_pool: ProcessPoolExecutor | None = None
        self.subdirectories: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self.damaged_files: dict[bytes, list[tuple[bytes, bytes]]] = {}
        self.count_lock = threading.Lock()

    # -- recording ------------------------------------------------------------------------------

    def error(self, kind: str, name: str, message: str) -> None:
        self._record(self.report.errors, CheckProblem(kind, name, message))

    def warning(self, kind: str, name: str, message: str) -> None:
        self._record(self.report.warnings, CheckProblem(kind, name, message))

    def _record(self, problems: list[CheckProblem], problem: CheckProblem) -> None:
        if problem not in self.seen_problems:
            self.seen_problems.add(problem)
            problems.append(problem)
            self.reporter(ItemWarning(OPERATION, problem.name, f"{problem.kind}: {problem.message}"))

    def progress(self, stage: str, done: int, total: int | None = None, *, force: bool = False) -> None:
        if force or self.throttle.due():
            self.reporter(Progress(OPERATION, done, self.counts.bytes_read, total, None, stage))

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.storage.load(name, offset, length)
        with self.count_lock:
            self.counts.bytes_read += len(data)
        return data

    # -- structure ------------------------------------------------------------------------------

    def check_config(self) -> None:
        try:
            RepositoryConfig.from_bytes(self.keys.decrypt(self.load(CONFIG_NAME)))
        except ObjectNotFound:
            self.error("config", CONFIG_NAME, "the config is missing")
        except (IntegrityError, StorageError) as error:
            self.error("config", CONFIG_NAME, f"the config is damaged or unreadable: {error}")

    def check_keys(self) -> None:
        usable = 0
        for stored in self.storage.list(KEYS_PREFIX):
            self.counts.key_slots += 1
            try:
                data = self.load(stored.name)
            except StorageError as error:
                self.error("key", stored.name, f"key slot could not be read: {error}")
                continue
            problems = []
            if slot_id(data) != stored.name.removeprefix(KEYS_PREFIX):
                problems.append("key slot content does not match its name (damaged)")
            try:
                parse_slot_file(stored.name, data)
            except IntegrityError as error:
                problems.append(str(error))
            if problems:
                self.error("key", stored.name, "; ".join(problems))
            else:
                usable += 1
        if not usable:
            self.error("key", KEYS_PREFIX, "no intact key slot: the repository can no longer be opened")

    def check_index(self) -> None:
        for stored in self.storage.list(INDEX_PREFIX):
            self.counts.index_files += 1
            try:
                data = self.load(stored.name)
            except StorageError as error:
                self.error("index", stored.name, f"index file could not be read: {error}")
                continue
            problems = []
            if plain_id(data).hex() != stored.name.removeprefix(INDEX_PREFIX):
                problems.append("index file content does not match its name (damaged)")
            try:
                records = decode_index_file(self.keys, stored.name, data)
            except IntegrityError as error:
                problems.append(f"index file is damaged: {error}")
                records = []
            if problems:
                # An index file that authenticates is genuine even under a wrong name: its packs count.
                self.error("index", stored.name, "; ".join(problems))
            for record in records:
                self.add_indexed_pack(record, stored.name)
            self.progress("index", self.counts.index_files)

    def add_indexed_pack(self, record: PackRecord, index_name: str) -> None:
        known = self.indexed_sizes.get(record.id)
        if known is not None:
            if known[0] != record.size:
                self.error(
                    "index",
                    index_name,
                    f"lists pack {record.id.hex()[:16]} with size {record.size}, {known[1]} with {known[0]}",
                )
            return
        self.indexed_sizes[record.id] = (record.size, index_name)
        self.pack_entries[record.id] = record.blobs
        self.index.add_pack(record)

    def check_pack_listing(self) -> None:
        for stored in self.storage.list(DATA_PREFIX):
            pack_id = pack_id_from_name(stored.name)
            if pack_id is None:
                self.warning("pack", stored.name, "unexpected file among the packs (not a pack name)")
            else:
                self.stored_sizes[pack_id] = stored.size
        for pack_id, (size, index_name) in self.indexed_sizes.items():
            name = pack_name(pack_id)
            stored_size = self.stored_sizes.get(pack_id)
            if stored_size is None:
                self.error("pack", name, f"pack is missing (listed in {index_name})")
                for entry in self.pack_entries[pack_id]:
                    self.damaged.setdefault(entry.id, f"its pack {pack_id.hex()[:16]} is missing")
            elif stored_size != size:
                self.error("pack", name, f"pack has {stored_size} bytes, {index_name} says {size}")
        for pack_id, stored_size in self.stored_sizes.items():
            if pack_id not in self.indexed_sizes:
                self.adopt_unindexed_pack(pack_id, stored_size)
        self.counts.packs = len(self.stored_sizes.keys() | self.indexed_sizes.keys())

    def adopt_unindexed_pack(self, pack_id: bytes, size: int) -> None:
        name = pack_name(pack_id)
        self.warning(
            "pack", name, "unreferenced pack: no index lists it (an interrupted backup leaves those)"
        )
        try:
            entries = read_pack_header(
                self.keys, lambda offset, length: self.load(name, offset, length), size
            )
        except (IntegrityError, StorageError) as error:
            self.error("pack", name, f"pack header is damaged: {error}")
            return
        self.pack_entries[pack_id] = entries
        self.index.add_pack(PackRecord(pack_id, size, entries))

    # -- data -----------------------------------------------------------------------------------

    def start_data(
        self, executor: Executor | None, pack_ids: Sequence[bytes], processes: bool | None
    ) -> None:
        """Queue every selected pack for reading; :meth:`drain` gathers the outcomes.

        Packs are read on ``executor`` (threads), or on worker processes when :func:`_use_processes` says so.
        """
        self.data_total = (len(pack_ids), sum(self.stored_sizes[pack_id] for pack_id in pack_ids))
        self.data_progress(force=True)
        if _use_processes(self.storage, self.workers, processes, self.data_total[1]):
            executor = self.process_pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_start_worker,
                initargs=(self.storage, self.keys.master_secret),
            )
            for pack_id in pack_ids:
                entries = self.pack_entries.get(pack_id)
                fields = None if entries is None else [_entry_key(entry) for entry in entries]
                self.pending.add(executor.submit(_read_pack_in_worker, pack_id, fields))
            return
        assert executor is not None
        for pack_id in pack_ids:
            self.pending.add(
                executor.submit(_read_pack, self.storage, self.keys, pack_id, self.pack_entries.get(pack_id))
            )

    def data_progress(self, current: str = "data", *, force: bool = False) -> None:
        if force or self.throttle.due():
            packs, size = self.data_total
            self.reporter(
                Progress(OPERATION, self.counts.packs_read, self.counts.bytes_read, packs, size, current)
            )

    def drain(self, *, block: bool) -> None:
        """Merge the packs read so far (all of them, waiting, with ``block``)."""
        done = as_completed(self.pending) if block else [future for future in self.pending if future.done()]
        for future in done:
            outcome = future.result()
            self.merge(outcome)
            self.data_progress(pack_name(outcome.pack_id))
        if block:
            self.pending.clear()
            self.data_progress(force=True)
        else:
            self.pending.difference_update(done)

    def cancel_pending(self) -> None:
        """Give up on the packs not read yet (when the check is failing), and stop worker processes."""
        for future in self.pending:
            future.cancel()
        if self.process_pool is not None:
            self.process_pool.shutdown(wait=True, cancel_futures=True)

    def merge(self, outcome: _PackOutcome) -> None:
        name = pack_name(outcome.pack_id)
        self.counts.packs_read += 1
        self.counts.blobs += outcome.blobs
        with self.count_lock:
            self.counts.bytes_read += outcome.bytes_read
        for message in outcome.problems:
            self.error("pack", name, message)
        for blob_id, message in outcome.damaged.items():
            if blob_id not in self.damaged:
                self.damaged[blob_id] = message
                self.rescan_needed = self.walk_started
                location = self.index.lookup(blob_id)
                kind = "tree" if location is not None and location.type == BlobType.TREE else "blob"
                self.error(kind, blob_id.hex(), message)

    # -- snapshots and trees --------------------------------------------------------------------

    def check_snapshots(self) -> None:
        for stored in self.storage.list(SNAPSHOTS_PREFIX):
            self.counts.snapshots += 1
            snapshot_id = stored.name.removeprefix(SNAPSHOTS_PREFIX)
            try:
                data = self.load(stored.name)
                if plain_id(data).hex() != snapshot_id:
                    raise IntegrityError("snapshot content does not match its name (damaged)")
                self.snapshots.append(Snapshot.from_document(snapshot_id, self.keys.decrypt(data)))
            except (IntegrityError, StorageError) as error:
                self.error("snapshot", stored.name, str(error))

    def read_tree(self, tree_id: bytes) -> list[_TreeNode] | str:
        """Return (name, type, content, subtree) of each node of a tree, or why it cannot be read."""
        location = self.index.lookup(tree_id)
        if location is None:
            return "tree is not in any index"
        if location.type != BlobType.TREE:
            return "the index lists this tree as a data blob"
        try:
            envelope = self.load(pack_name(location.pack_id), location.offset, location.length)
            plaintext = self.repository.open_blob(tree_id, location, envelope, verify=False)
            if self.keys.blob_id(plaintext) != tree_id:
                raise IntegrityError(_ID_MISMATCH)
            nodes = decode_tree(plaintext)
        except (IntegrityError, StorageError) as error:
            return _in_pack(location.pack_id, error)
        return [(node.name, node.type, node.content, node.subtree) for node in nodes]

    def load_tree(self, tree_id: bytes) -> list[_TreeNode] | str:
        """Like :meth:`read_tree`, but a tree the data check found damaged is not read again ("")."""
        return "" if tree_id in self.damaged else self.read_tree(tree_id)

    def walk_trees(self, loader: ThreadPoolExecutor | None) -> None:
        """Load every unique tree once, level by level, recording subdirectories and damaged files.

        Trees load on this thread from local storage (decoding them is interpreter-bound), on
        ``loader`` from remote storage (where waiting dominates). Packs read meanwhile are merged
        as they finish.
        """
        self.walk_started = True
        frontier = list(dict.fromkeys(snapshot.tree for snapshot in self.snapshots))
        visited = set(frontier)
        while frontier:
            loaded = loader.map(self.load_tree, frontier) if loader else map(self.load_tree, frontier)
            next_frontier: list[bytes] = []
            for tree_id, nodes in zip(frontier, loaded, strict=True):
                if isinstance(nodes, str):
                    self.bad_trees.add(tree_id)
                    if tree_id not in self.damaged:
                        self.damaged[tree_id] = nodes
                        self.error("tree", tree_id.hex(), nodes)
                    continue
                self.counts.trees += 1
                self.loaded_trees.append(tree_id)
                next_frontier.extend(self.scan_tree(tree_id, nodes, visited))
                if self.counts.trees % 256 == 0:
                    self.drain(block=False)
                    self.progress("trees", self.counts.trees)
            frontier = next_frontier

    def rescan_trees(self) -> None:
        """Find the files that use blobs the data check found damaged after their tree was walked."""
        visited = set(self.loaded_trees)
        for tree_id in self.loaded_trees:
            nodes = self.read_tree(tree_id)
            if not isinstance(nodes, str):
                self.scan_tree(tree_id, nodes, visited)

    def scan_tree(self, tree_id: bytes, nodes: list[_TreeNode], visited: set[bytes]) -> list[bytes]:
        """Record a loaded tree's subdirectories and damaged files; return the subtrees not seen before."""
        lookup = self.index.lookup
        damaged = self.damaged
        subdirectories = []
        damaged_files: dict[tuple[bytes, bytes], None] = {}
        unseen = []
        for name, node_type, content, subtree in nodes:
            if node_type == DIRECTORY and subtree is not None:
                subdirectories.append((name, subtree))
                if subtree not in visited:
                    visited.add(subtree)
                    unseen.append(subtree)
            for blob_id in content:
                if blob_id in damaged:
                    damaged_files[name, blob_id] = None
                    continue
                location = lookup(blob_id)
                if location is None:
                    message = f"blob is missing: no index lists it (used by tree {tree_id.hex()[:16]})"
                elif location.type != BlobType.DATA:
                    message = f"the index lists file content as a tree (used by tree {tree_id.hex()[:16]})"
                else:
                    continue
                damaged[blob_id] = message
                self.error("blob", blob_id.hex(), message)
                damaged_files[name, blob_id] = None
        if subdirectories:
            self.subdirectories[tree_id] = subdirectories
        if damaged_files:
            self.damaged_files[tree_id] = list(damaged_files)
        return unseen

    # -- what the damage affects ----------------------------------------------------------------

    def damage_below(self, root: bytes, memo: dict[bytes, tuple[tuple[bytes, bytes], ...]]) -> None:
        """Fill ``memo``: for ``root`` and its subtrees, (relative path, damaged blob or tree) pairs."""
        stack = [(root, False)]
        while stack:
            tree_id, children_done = stack.pop()
            if tree_id in memo:
                continue
            if tree_id in self.bad_trees:
                memo[tree_id] = ((b"", tree_id),)
                continue
            children = self.subdirectories.get(tree_id, [])
            if not children_done:
                stack.append((tree_id, True))
                stack.extend((subtree, False) for _name, subtree in children if subtree not in memo)
                continue
            found = list(self.damaged_files.get(tree_id, ()))
            for name, subtree in children:
                found.extend(
                    (name + b"/" + path if path else name, blob) for path, blob in memo.get(subtree, ())
                )
            memo[tree_id] = tuple(found) if found else _NO_DAMAGE

    def map_affected(self) -> None:
        affected: dict[str, list[AffectedPath]] = {blob_id.hex(): [] for blob_id in self.damaged}
        for tree_id in self.bad_trees:
            affected.setdefault(tree_id.hex(), [])
        if not affected:
            return
        memo: dict[bytes, tuple[tuple[bytes, bytes], ...]] = {}
        for snapshot in sorted(self.snapshots, key=lambda item: (item.time, item.id)):
            self.damage_below(snapshot.tree, memo)
            for path, blob_id in memo[snapshot.tree]:
                affected[blob_id.hex()].append(AffectedPath(snapshot.short_id, "/" + os.fsdecode(path)))
        self.report.affected = affected


def check(
    repository: Repository,
    *,
    read_data: bool = False,
    subset: str | None = None,
    reporter: Reporter = ignore_events,
    workers: int = 2,
    processes: bool | None = None,
) -> CheckReport:
    """Check the repository's structure and, when asked, the data in its packs.

    Args:
        repository: an open repository (its own loaded index is not trusted: index files are read again).
        read_data: read every pack whole and verify every blob in it.
        subset: read only some packs: ``"N%"`` (a random N percent) or ``"n/t"`` (group n of t, chosen by
            pack ID, so that 1/t .. t/t cover every pack once); implies ``read_data``.
        reporter: receives Progress("check", ...) events and one ItemWarning per problem.
        workers: threads (or processes) that read and verify packs.
        processes: verify packs in worker processes (True), threads (False), or choose by the amount of
            data (None); processes need storage that they can open themselves, such as a local directory.

    Returns:
        the report: errors, warnings, counts, and the snapshot paths every damaged object affects.

    Raises:
        ConfigurationError: ``subset`` is malformed or ``workers`` is less than 1.
        StorageError: storage could not even be listed.
    """
    chosen = parse_subset(subset) if subset is not None else None
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1, not {workers}")
    started = repository.clock.monotonic()
    checker = _Checker(repository, reporter, workers)
    report = checker.report
    report.read_data = read_data or chosen is not None
    report.subset = subset
    checker.progress("structure", 0, force=True)
    checker.check_config()
    checker.check_keys()
    checker.check_index()
    checker.check_pack_listing()
    with (
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check") as executor,
        ThreadPoolExecutor(max_workers=workers, thread_name_prefix="check-trees") as tree_loader,
    ):
        try:
            if report.read_data:
                pack_ids = sorted(checker.stored_sizes)
                checker.start_data(
                    executor, chosen.select(pack_ids) if chosen is not None else pack_ids, processes
                )
                if checker.process_pool is None:
                    # Threads verifying packs and a tree walk would only queue for the interpreter lock.
                    checker.drain(block=True)
            checker.check_snapshots()
            checker.walk_trees(None if repository.storage.is_local else tree_loader)
            checker.drain(block=True)
        finally:
            checker.cancel_pending()
    if checker.rescan_needed:
        checker.rescan_trees()
    checker.map_affected()
    for problems in (report.errors, report.warnings):
        problems.sort(key=lambda problem: (_KIND_ORDER.get(problem.kind, len(_KIND_ORDER)), problem.name))
    report.seconds = round(repository.clock.monotonic() - started, 3)
    checker.progress("done", checker.counts.packs_read, force=True)
    return report


__all__ = [
    "AffectedPath",
    "CheckCounts",
    "CheckProblem",
    "CheckReport",
    "PackSubset",
    "check",
    "parse_subset",
]
