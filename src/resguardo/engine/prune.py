"""Prune: delete the data no snapshot needs, and repack mostly-empty packs, beside running backups.

Prune runs in two phases, so that backups, restores and checks of other processes and hosts keep
running (the argument why this is safe is in docs/format.md, "Prune"):

1. **Plan.** Under a *prune* lock (which conflicts only with another prune or an exclusive lock),
   find the blobs every snapshot reaches, copy the used blobs of mostly-empty packs into new packs,
   and publish a plan ``prune/<id>`` naming the *condemned* packs (empty or repacked). Then list
   the locks held at that moment: the plan waits for those sessions, which may have started before
   the plan was visible and so may refer to condemned blobs.
2. **Sweep.** Once every session the plan waits for has ended (or gone stale), read the snapshots
   again; a condemned pack that holds a blob a snapshot needs and that exists nowhere else is
   *rescued*. Replace the prune epoch, rewrite the index files that list deleted packs, delete the
   packs and finally the plan.

A session that starts while a plan exists leaves the condemned packs out of its index (see
:meth:`~resguardo.engine.repository.Repository.begin_session`), so it never refers to them.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from resguardo.core.errors import IntegrityError, ObjectNotFound, ResguardoError, StorageError
from resguardo.engine.crypto import plain_id
from resguardo.engine.index import PackRecord, decode_index_file, encode_index_file
from resguardo.engine.locks import is_stale, list_locks
from resguardo.engine.pruneplan import PRUNE_EPOCH_NAME, PRUNE_PREFIX, PrunePlan, list_plans
from resguardo.engine.repository import INDEX_PREFIX, SNAPSHOTS_PREFIX, Repository, pack_name
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import DIRECTORY, decode_tree

ABANDONED_AFTER = 24 * 3600.0
"""Seconds after which a temporary file of an unfinished write is taken for abandoned by a crash."""


class PruneRefused(ResguardoError):
    """Prune cannot know what is in use (a snapshot or tree is damaged), so it deletes nothing."""

    default_hint = "run 'resguardo check', then 'resguardo repair snapshots', and prune again"


@dataclass(slots=True)
class PruneOptions:
    """How much to do.

    Attributes:
        max_unused: the share of the repository's bytes that may stay unused: packs with the largest
            unused share are repacked until what remains unused is at most this (0 repacks every pack
            holding an unused blob; 1 never repacks). Packs holding no used blob are always deleted.
        dry_run: only report what would be done; write and delete nothing.
        wait_seconds: how long to wait for older sessions before leaving the sweep to the next prune.
        poll_seconds: how often to look at the locks while waiting.
    """

    max_unused: float = 0.05
    dry_run: bool = False
    wait_seconds: float = 0.0
    poll_seconds: float = 2.0


@dataclass(slots=True)
class PruneReport:
    """What a prune did (or, with ``dry_run``, would do)."""

    dry_run: bool = False
    snapshots: int = 0
    packs: int = 0
    packs_unused: int = 0
    bytes_unused: int = 0
    packs_repacked: int = 0
    bytes_repacked: int = 0
    packs_deleted: int = 0
    bytes_deleted: int = 0
    packs_rescued: int = 0
    packs_retained: list[tuple[str, str]] = field(default_factory=list)
    index_files_rewritten: int = 0
    temporary_files_removed: int = 0
    plans_finished: list[str] = field(default_factory=list)
    plans_void: list[str] = field(default_factory=list)
    plan_waiting: str = ""
    waiting_for: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def finished(self) -> bool:
        """True when no plan is left waiting."""
        return not self.plan_waiting


# -- what the snapshots use ---------------------------------------------------------------------


def _current_snapshots(repository: Repository) -> list[Snapshot]:
    """Return every snapshot; one forgotten while listing is skipped.

    Raises:
        PruneRefused: a snapshot file is damaged.
    """
    snapshots = []
    for stored in repository.storage.list(SNAPSHOTS_PREFIX):
        snapshot_id = stored.name.removeprefix(SNAPSHOTS_PREFIX)
        try:
            data = repository.storage.load(stored.name)
        except ObjectNotFound:
            continue
        try:
            if plain_id(data).hex() != snapshot_id:
                raise IntegrityError("its content does not match its name")
            snapshots.append(Snapshot.from_document(snapshot_id, repository.keys.decrypt(data)))
        except IntegrityError as error:
            raise PruneRefused(
                f"snapshot {snapshot_id[:16]} is damaged ({error}); nothing was deleted"
            ) from None
    return snapshots


def used_blobs(repository: Repository, snapshots: Iterable[Snapshot]) -> set[bytes]:
    """Return the IDs of every tree and data blob the snapshots reach.

    Raises:
        PruneRefused: a tree cannot be read (missing or damaged).
    """
    used: set[bytes] = set()
    pending = []
    for snapshot in snapshots:
        if snapshot.tree not in used:
            used.add(snapshot.tree)
            pending.append(snapshot.tree)
    while pending:
        tree_id = pending.pop()
        try:
            nodes = decode_tree(repository.load_blob(tree_id))
        except (IntegrityError, StorageError) as error:
            raise PruneRefused(
                f"tree {tree_id.hex()[:16]} cannot be read ({error}); nothing was deleted"
            ) from None
        for node in nodes:
            if node.type == DIRECTORY and node.subtree is not None:
                if node.subtree not in used:
                    used.add(node.subtree)
                    pending.append(node.subtree)
            else:
                used.update(node.content)
    return used


# -- index files -------------------------------------------------------------------------------


def _read_index_files(repository: Repository) -> dict[str, list[PackRecord]]:
    """Return every readable index file's packs by file name.

    Raises:
        PruneRefused: an index file is damaged (its packs could be taken for unused).
    """
    files = {}
    for stored in repository.storage.list(INDEX_PREFIX):
        try:
            files[stored.name] = decode_index_file(
                repository.keys, stored.name, repository.storage.load(stored.name)
            )
        except ObjectNotFound:
            continue
        except IntegrityError as error:
            raise PruneRefused(
                f"{error}; nothing was deleted", "run 'resguardo repair index', then prune again"
            ) from None
    return files


def _pack_usage(repository: Repository, used: set[bytes]) -> tuple[dict[bytes, int], dict[bytes, int]]:
    """Return, for every indexed pack, the bytes of used blobs whose indexed copy it holds, and the
    bytes of its blobs (the pack less its header: where its last indexed blob ends)."""
    usage = dict.fromkeys(repository.index.packs(), 0)
    content = dict.fromkeys(usage, 0)
    for blob_id, location in repository.index.blobs():
        pack_id = location.pack_id
        if blob_id in used:
            usage[pack_id] += location.length
        end = location.offset + location.length
        content[pack_id] = max(content[pack_id], end)
    return usage, content


# -- phase 1: the plan -------------------------------------------------------------------------


def _repack(repository: Repository, pack_ids: list[bytes], used: set[bytes], report: PruneReport) -> None:
    """Copy the used blobs of ``pack_ids`` into new packs (the index must not list these packs).

    Raises:
        PruneRefused: a used blob in one of the packs is damaged.
    """
    for pack_id in pack_ids:
        content = repository.storage.load(pack_name(pack_id))
        report.bytes_repacked += len(content)
        for entry in repository.load_pack_entries(pack_id, content):
            if entry.id not in used:
                continue
            envelope = content[entry.offset : entry.offset + entry.length]
            try:
                repository.keys.decrypt(envelope)
            except IntegrityError:
                raise PruneRefused(
                    f"blob {entry.id.hex()[:16]} in pack {pack_id.hex()[:16]} is damaged; nothing was deleted"
                ) from None
            repository.copy_envelope(entry.type, entry.id, envelope, entry.raw_length, entry.compression)
        report.packs_repacked += 1
    repository.flush()


def _packs_to_repack(usage: dict[bytes, int], sizes: dict[bytes, int], max_unused: float) -> list[bytes]:
    """Return the partly used packs to repack so that at most ``max_unused`` of all bytes stay unused.

    Packs are taken in order of their unused share, largest first; packs with no used blob are not
    listed (they are deleted anyway, and their bytes no longer count).
    """
    partly = [pack for pack, used_bytes in usage.items() if 0 < used_bytes < sizes[pack]]
    kept_bytes = sum(sizes[pack] for pack, used_bytes in usage.items() if used_bytes > 0)
    remaining_unused = sum(sizes[pack] - usage[pack] for pack in partly)
    chosen = []
    for pack in sorted(partly, key=lambda pack: usage[pack] / sizes[pack]):
        if remaining_unused <= max_unused * kept_bytes:
            break
        chosen.append(pack)
        remaining_unused -= sizes[pack] - usage[pack]
        kept_bytes -= sizes[pack] - usage[pack]
    return chosen


def _make_plan(
    repository: Repository, own_session: str, options: PruneOptions, report: PruneReport
) -> PrunePlan | None:
    """Find what is unused, repack, and publish a plan; return it (None when nothing is to delete)."""
    repository.load_index(exclude_packs=())
    index_files = _read_index_files(repository)
    snapshots = _current_snapshots(repository)
    report.snapshots = len(snapshots)
    used = used_blobs(repository, snapshots)
    usage, content = _pack_usage(repository, used)
    sizes = repository.index.packs()
    report.packs = len(sizes)
    unused = [pack for pack, used_bytes in usage.items() if used_bytes == 0]
    sparse = _packs_to_repack(usage, content, options.max_unused)
    report.packs_unused = len(unused)
    report.bytes_unused = sum(content[pack] - usage[pack] for pack in usage)
    condemned = set(unused) | set(sparse)
    if not condemned:
        return None
    if options.dry_run:
        report.packs_repacked = len(sparse)
        report.bytes_repacked = sum(sizes[pack] for pack in sparse)
        report.packs_deleted = len(condemned)
        report.bytes_deleted = sum(sizes[pack] for pack in condemned)
        return None
    repository.load_index(exclude_packs=condemned)
    _repack(repository, sparse, used, report)
    plan = PrunePlan(
        id=secrets.token_hex(16),
        created=repository.clock.now().isoformat(),
        condemned=sorted(condemned),
        index_files=sorted(
            name for name, records in index_files.items() if any(r.id in condemned for r in records)
        ),
        snapshots=sorted(snapshot.id for snapshot in snapshots),
    )
    storage = repository.storage
    storage.save(PRUNE_PREFIX + plan.id, plan.to_bytes(repository.keys))
    # Only now list the locks: a session whose lock is not in this list wrote it after the plan was
    # published, so it reads the plan when it begins and leaves the condemned packs alone.
    sessions = {lock.session for lock in list_locks(repository)}
    plan.waiting_for = sorted(sessions - {own_session})
    storage.save(PRUNE_PREFIX + plan.id, plan.to_bytes(repository.keys))
    return plan


# -- phase 2: the sweep ------------------------------------------------------------------------


def _still_waiting(repository: Repository, plan: PrunePlan) -> list[str]:
    """Return descriptions of the live sessions the plan still waits for."""
    waited = set(plan.waiting_for or ())
    now = repository.clock.now()
    live = [lock for lock in list_locks(repository) if lock.session in waited and not is_stale(lock, now)]
    return [lock.describe() for lock in live]


def _rescued_packs(repository: Repository, plan: PrunePlan) -> set[bytes]:
    """Return the condemned packs that hold a blob some snapshot needs and no other pack holds."""
    condemned = set(plan.condemned)
    repository.load_index(exclude_packs=condemned)  # a blob found in a condemned pack is nowhere else
    rescued = set()
    for blob_id in used_blobs(repository, _current_snapshots(repository)):
        location = repository.index.lookup(blob_id)
        if location is not None and location.pack_id in condemned:
            rescued.add(location.pack_id)
    return rescued


def _rewrite_index_files(repository: Repository, names: list[str], deleted: set[bytes]) -> int:
    """Replace the index files ``names`` by files without the ``deleted`` packs; return how many."""
    replacements = []
    for name in names:
        try:
            records = decode_index_file(repository.keys, name, repository.storage.load(name))
        except ObjectNotFound:
            continue
        kept = [record for record in records if record.id not in deleted]
        replacements.append((name, kept))
    for _name, kept in replacements:
        if kept:
            data = encode_index_file(repository.keys, kept)
            repository.storage.save(INDEX_PREFIX + plain_id(data).hex(), data)
    for name, _kept in replacements:
        repository.storage.remove(name)
    return len(replacements)


def _sweep(repository: Repository, plan: PrunePlan, report: PruneReport) -> None:
    """Delete what the plan condemned and no snapshot turned out to need, then the plan itself."""
    rescued = _rescued_packs(repository, plan)
    report.packs_rescued += len(rescued)
    retained = {}
    for pack_id in set(plan.condemned) - rescued:
        until = _retention_of(repository, pack_name(pack_id))
        if until:
            retained[pack_id] = until
    # An index file that cannot be removed yet keeps listing its packs: those must stay too.
    index_files = []
    for name in plan.index_files:
        until = _retention_of(repository, name)
        if not until:
            index_files.append(name)
            continue
        for pack_id in _packs_listed(repository, name):
            if pack_id in plan.condemned and pack_id not in rescued:
                retained.setdefault(pack_id, until)
    report.packs_retained.extend((pack_name(pack), until) for pack, until in sorted(retained.items()))
    deleted = set(plan.condemned) - rescued - set(retained)
    sizes = repository.index.packs()
    # Caches written before this point may name trees that refer to what is deleted now.
    repository.storage.save(PRUNE_EPOCH_NAME, secrets.token_bytes(16))
    report.index_files_rewritten += _rewrite_index_files(repository, index_files, deleted)
    for pack_id in sorted(deleted):
        repository.storage.remove(pack_name(pack_id))
        report.packs_deleted += 1
        report.bytes_deleted += sizes.get(pack_id, 0)
    repository.storage.remove(PRUNE_PREFIX + plan.id)
    report.plans_finished.append(plan.id)


def _packs_listed(repository: Repository, name: str) -> list[bytes]:
    """Return the IDs of the packs an index file lists (none when it is gone)."""
    try:
        records = decode_index_file(repository.keys, name, repository.storage.load(name))
    except ObjectNotFound:
        return []
    return [record.id for record in records]


def _retention_of(repository: Repository, name: str) -> str:
    """Return until when storage-side retention (S3 Object Lock) protects an object (ISO 8601), or ''."""
    retained_until: Callable[[str], datetime | None] | None = getattr(
        repository.storage, "retained_until", None
    )
    if retained_until is None:
        return ""
    until = retained_until(name)
    if until is None or until <= repository.clock.now():
        return ""
    return until.isoformat()


def _wait_for_sessions(
    repository: Repository, plan: PrunePlan, options: PruneOptions, sleep: Callable[[float], None]
) -> list[str]:
    """Wait up to ``options.wait_seconds`` for the plan's sessions; return those still running."""
    deadline = repository.clock.monotonic() + options.wait_seconds
    waiting = _still_waiting(repository, plan)
    while waiting and repository.clock.monotonic() < deadline:
        sleep(options.poll_seconds)
        waiting = _still_waiting(repository, plan)
    return waiting


def _finish_pending(
    repository: Repository, options: PruneOptions, report: PruneReport, sleep: Callable[[float], None]
) -> bool:
    """Sweep every pending plan whose sessions have ended; return False when one must still wait."""
    for plan in list(list_plans(repository.storage, repository.keys)):
        if plan.waiting_for is None:
            # The prune that wrote it died before it knew whom to wait for, and deleted nothing.
            if not options.dry_run:
                repository.storage.remove(PRUNE_PREFIX + plan.id)
            report.plans_void.append(plan.id)
            continue
        waiting = _wait_for_sessions(repository, plan, options, sleep)
        if waiting:
            report.plan_waiting = plan.id
            report.waiting_for = waiting
            return False
        if options.dry_run:
            continue
        _sweep(repository, plan, report)
    return True


def prune(
    repository: Repository,
    own_session: str,
    options: PruneOptions | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PruneReport:
    """Finish pending prune plans, then plan (and when possible sweep) a new one.

    Call it while holding a lock of kind ``prune`` (see :func:`resguardo.engine.locks.locked`).

    Args:
        repository: the open repository.
        own_session: the session of the caller's lock (``RepositoryLock.session``); no plan waits for it.
        options: thresholds, dry run, how long to wait for older sessions.
        sleep: waits between looks at the locks (injectable for tests).

    Returns:
        what was done; ``report.finished`` is False when a plan waits for sessions still running
        (the next prune, or this one with a longer wait, completes it).

    Raises:
        PruneRefused: a snapshot, tree, index file or used blob is damaged (nothing is deleted).
        StorageError: the storage failed (a later prune resumes safely).
    """
    options = options or PruneOptions()
    report = PruneReport(dry_run=options.dry_run)
    started = repository.clock.monotonic()
    if _finish_pending(repository, options, report, sleep):
        plan = _make_plan(repository, own_session, options, report)
        if plan is not None:
            waiting = _wait_for_sessions(repository, plan, options, sleep)
            if waiting:
                report.plan_waiting = plan.id
                report.waiting_for = waiting
            else:
                _sweep(repository, plan, report)
    if not options.dry_run:
        report.temporary_files_removed = _remove_abandoned_temporary_files(repository)
    report.seconds = round(repository.clock.monotonic() - started, 3)
    return report


def _remove_abandoned_temporary_files(repository: Repository) -> int:
    """Remove temporary files of writes cut short by a crash, where the storage has such files."""
    remove: Callable[[float], int] | None = getattr(
        repository.storage, "remove_abandoned_temporary_files", None
    )
    return 0 if remove is None else remove(ABANDONED_AFTER)
