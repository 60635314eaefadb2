"""Rewriting snapshots that refer to data the repository no longer holds: ``resguardo repair snapshots``.

For every chosen snapshot the trees are rewritten (:class:`~.trees.TreeRewriter`): lost directories
become empty ones and damaged files keep their readable content, both renamed with ``.damaged``. A
snapshot whose trees all stay the same is left alone. Otherwise a new snapshot is saved with the
same time, host, user and paths, the tag ``repaired``, and a ``repair`` record naming the original
snapshot and every path lost; then the original is removed (unless asked to keep it). The new trees
are written (pack, then index) before any new snapshot, and each new snapshot before its original
is removed, so a crash leaves at worst both; a later run finds the repaired copy and finishes.
Only a shared lock is held: nothing that others may be reading is removed but the snapshot files.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from resguardo.core.errors import ResguardoError, SnapshotNotFound
from resguardo.engine.events import Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.locks import locked
from resguardo.engine.repair.index_repair import stale_lock_warning
from resguardo.engine.repair.trees import Loss, TreeRewriter
from resguardo.engine.repository import DATA_PREFIX, SNAPSHOTS_PREFIX, Repository, pack_id_from_name
from resguardo.engine.snapshot import REPAIRED_TAG, LostPath, RepairRecord, Snapshot, list_snapshots
from resguardo.engine.tree import DIRECTORY

OPERATION = "repair-snapshots"


@dataclass(slots=True)
class RepairedSnapshot:
    """One snapshot that was (or, in a dry run, would be) rewritten.

    Attributes:
        original: the snapshot as it was.
        repaired_id: the new snapshot's ID; empty in a dry run.
        lost: the paths whose content was lost, and where what remains of them is.
        original_removed: whether the original snapshot was removed.
    """

    original: Snapshot
    repaired_id: str
    lost: list[LostPath]
    original_removed: bool = False

    def to_json(self) -> dict[str, Any]:
        """Return the entry as a JSON-ready map."""
        return {
            "original": self.original.id,
            "repaired": self.repaired_id or None,
            "time": self.original.time.isoformat(),
            "hostname": self.original.hostname,
            "paths": self.original.paths,
            "original_removed": self.original_removed,
            "lost": [item.to_json() for item in self.lost],
        }


@dataclass(slots=True)
class SnapshotRepairReport:
    """What ``repair_snapshots`` found and did.

    Attributes:
        snapshots_checked: snapshots whose trees were walked.
        repaired: the snapshots rewritten (or that would be, in a dry run).
        unchanged: how many snapshots needed no repair.
        finished: originals whose repaired copy an earlier run had already saved ({original: repaired});
            they are removed now unless originals are kept.
        trees_written: new tree blobs stored.
        dry_run: whether nothing was written.
    """

    snapshots_checked: int = 0
    repaired: list[RepairedSnapshot] = field(default_factory=list)
    unchanged: int = 0
    finished: dict[str, str] = field(default_factory=dict)
    trees_written: int = 0
    dry_run: bool = False

    @property
    def paths_lost(self) -> int:
        """How many paths lost content, over every repaired snapshot."""
        return sum(len(item.lost) for item in self.repaired)

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready map (for ``--json`` output)."""
        return {
            "dry_run": self.dry_run,
            "snapshots_checked": self.snapshots_checked,
            "snapshots_repaired": len(self.repaired),
            "snapshots_unchanged": self.unchanged,
            "paths_lost": self.paths_lost,
            "trees_written": self.trees_written,
            "finished": self.finished,
            "repaired": [item.to_json() for item in self.repaired],
        }


def repair_snapshots(
    repository: Repository,
    *,
    snapshot_ids: Iterable[str] | None = None,
    dry_run: bool = False,
    forget_originals: bool = True,
    reporter: Reporter = ignore_events,
) -> SnapshotRepairReport:
    """Rewrite the snapshots that refer to missing or damaged trees or file content.

    Run ``repair index`` first: this trusts the index to say which blobs exist (only trees are read).

    Args:
        repository: an open repository with its index loaded.
        snapshot_ids: full IDs of the snapshots to consider (default: every readable snapshot).
        dry_run: find what would be repaired, and write and remove nothing.
        forget_originals: remove each original once its repaired copy is saved.
        reporter: receives Progress("repair-snapshots", snapshots done, 0, snapshots in all) events.

    Returns:
        the snapshots repaired and what each lost.

    Raises:
        ResguardoError: the index lists packs that are not in storage (run ``repair index`` first).
        SnapshotNotFound: a given ID names no readable snapshot.
        RepositoryLocked: another process holds an exclusive lock.
        StorageError: a tree, snapshot or removal failed.
    """
    with locked(repository, on_stale=stale_lock_warning(reporter, OPERATION)):
        stored = _stored_packs(repository)
        missing = [pack_id for pack_id in repository.index.packs() if pack_id not in stored]
        if missing:
            raise ResguardoError(
                f"the index lists {len(missing)} pack(s) that are not in storage",
                "run 'resguardo repair index' first, so that blobs stored in other packs are found",
            )
        every = list_snapshots(repository)
        chosen = _chosen(every, snapshot_ids)
        repair = _SnapshotRepair(repository, stored, dry_run, forget_originals, reporter)
        return repair.run(every, chosen)


def _stored_packs(repository: Repository) -> set[bytes]:
    stored = set()
    for item in repository.storage.list(DATA_PREFIX):
        pack_id = pack_id_from_name(item.name)
        if pack_id is not None:
            stored.add(pack_id)
    return stored


def _chosen(every: list[Snapshot], snapshot_ids: Iterable[str] | None) -> list[Snapshot]:
    if snapshot_ids is None:
        return every
    by_id = {snapshot.id: snapshot for snapshot in every}
    chosen = []
    for snapshot_id in dict.fromkeys(snapshot_ids):
        if snapshot_id not in by_id:
            raise SnapshotNotFound(f"snapshot {snapshot_id} not found (or its file is damaged)")
        chosen.append(by_id[snapshot_id])
    return chosen


def _absolute(path: bytes) -> str:
    return "/" + os.fsdecode(path) if path else "/"


class _SnapshotRepair:
    """One run of :func:`repair_snapshots`; not reusable."""

    def __init__(
        self, repository: Repository, stored: set[bytes], dry_run: bool, forget: bool, reporter: Reporter
    ) -> None:
        self.repository = repository
        self.dry_run = dry_run
        self.forget = forget and not dry_run
        self.reporter = reporter
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.rewriter = TreeRewriter(repository, stored, save=not dry_run)
        self.report = SnapshotRepairReport(dry_run=dry_run)

    def run(self, every: list[Snapshot], chosen: list[Snapshot]) -> SnapshotRepairReport:
        report = self.report
        repaired_copies = {
            snapshot.repair.original: snapshot.id for snapshot in every if snapshot.repair is not None
        }
        pending: list[tuple[RepairedSnapshot, Snapshot]] = []
        for done, snapshot in enumerate(chosen):
            self.progress(done, len(chosen), snapshot.short_id)
            copy = repaired_copies.get(snapshot.id)
            if copy is not None:
                report.finished[snapshot.id] = copy
                if self.forget:
                    self.remove(snapshot.id)
                continue
            report.snapshots_checked += 1
            outcome = self.repair(snapshot)
            if outcome is None:
                report.unchanged += 1
            else:
                pending.append(outcome)
        self.progress(len(chosen), len(chosen), "", force=True)
        if not self.dry_run and pending:
            self.repository.flush()
        for entry, new_snapshot in pending:
            if not self.dry_run:
                entry.repaired_id = self.repository.save_snapshot_document(new_snapshot.to_document())
                if self.forget:
                    self.remove(entry.original.id)
                    entry.original_removed = True
            report.repaired.append(entry)
        report.trees_written = self.rewriter.trees_written
        return report

    def progress(self, done: int, total: int, current: str, *, force: bool = False) -> None:
        if force or self.throttle.due():
            self.reporter(Progress(OPERATION, done, 0, total, None, current))

    def remove(self, snapshot_id: str) -> None:
        self.repository.storage.remove(SNAPSHOTS_PREFIX + snapshot_id)

    def repair(self, snapshot: Snapshot) -> tuple[RepairedSnapshot, Snapshot] | None:
        """Return the repaired copy of a snapshot (not saved yet), or None when it needs no repair."""
        rewritten = self.rewriter.rewrite(snapshot.tree)
        if rewritten.tree_id == snapshot.tree:
            return None
        losses = list(rewritten.lost)
        if rewritten.tree_id is None:
            losses = [Loss(b"", b"", DIRECTORY, 0, 0, rewritten.reason)]
        lost = [
            LostPath(
                _absolute(loss.path),
                _absolute(loss.marked_as),
                loss.type,
                loss.missing_blobs,
                loss.bytes_lost,
                loss.reason,
            )
            for loss in losses
        ]
        earlier = snapshot.repair.lost if snapshot.repair is not None else []
        record = RepairRecord(original=snapshot.id, time=self.repository.clock.now(), lost=[*earlier, *lost])
        new_snapshot = Snapshot(
            time=snapshot.time,
            tree=rewritten.tree_id or self.rewriter.empty_tree(),
            paths=list(snapshot.paths),
            hostname=snapshot.hostname,
            username=snapshot.username,
            tags=[*snapshot.tags, REPAIRED_TAG] if REPAIRED_TAG not in snapshot.tags else list(snapshot.tags),
            parent=snapshot.parent,
            excludes=list(snapshot.excludes),
            program_version=snapshot.program_version,
            summary=dict(snapshot.summary),
            unreadable=list(snapshot.unreadable),
            repair=record,
            streams=[dict(stream) for stream in snapshot.streams],
        )
        return RepairedSnapshot(snapshot, "", lost), new_snapshot


__all__ = ["RepairedSnapshot", "SnapshotRepairReport", "repair_snapshots"]
