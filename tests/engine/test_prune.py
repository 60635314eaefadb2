"""Prune: what it deletes, what it repacks, and the two interleavings of a backup with a prune that the
protocol exists for (a session that began before the plan, and one that began after it but commits
after the sweep). The interleavings are made deterministic by running the prune from the backup's
own pre-commit hook, the last moment before its snapshot is written."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path

import pytest

from resguardo.backends import LocalStorage
from resguardo.engine.archiver import BackupOptions, backup
from resguardo.engine.checker import check
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.dircache import CachedDirectory, DirectoryCache
from resguardo.engine.locks import PRUNE, locked
from resguardo.engine.prune import PruneOptions, PruneRefused, PruneReport, prune
from resguardo.engine.pruneplan import PRUNE_PREFIX
from resguardo.engine.repository import SNAPSHOTS_PREFIX, Repository, pack_name
from resguardo.engine.snapshot import list_snapshots

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
PASSPHRASE = b"prune tests"
OPTIONS = BackupOptions(processes=False)  # threads: the hooks below run in this process


def content(seed: int, size: int = 300_000) -> bytes:
    return random.Random(seed).randbytes(size)


@pytest.fixture
def location(tmp_path: Path) -> Path:
    path = tmp_path / "repository"
    Repository.create(LocalStorage(path, durable=False), PASSPHRASE, kdf=FAST_KDF, pack_size=1024 * 1024)
    return path


def open_repository(location: Path) -> Repository:
    """Open the repository as another process would: its own storage object and index."""
    return Repository.open(LocalStorage(location, durable=False), PASSPHRASE)


def make_tree(root: Path, files: dict[str, bytes]) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for existing in root.iterdir():
        existing.unlink()
    for name, data in files.items():
        (root / name).write_bytes(data)
    return root


def back_up(location: Path, tree: Path) -> str:
    repository = open_repository(location)
    with locked(repository):
        return backup(repository, [str(tree)], OPTIONS).snapshot.id


def forget(location: Path, snapshot_id: str) -> None:
    LocalStorage(location).remove(SNAPSHOTS_PREFIX + snapshot_id)


def run_prune(location: Path, **options: float | bool) -> PruneReport:
    repository = open_repository(location)
    with locked(repository, kind=PRUNE) as lock:
        return prune(repository, lock.session, PruneOptions(**options))  # type: ignore[arg-type]


def assert_intact(location: Path) -> None:
    report = check(open_repository(location), read_data=True, processes=False)
    assert report.ok, [problem.message for problem in report.errors]


def run_before_commit(repository: Repository, action: Callable[[], None]) -> None:
    """Make ``action`` run when the session's snapshot is about to be committed."""
    guard = repository._session_guard
    assert guard is not None

    def before_commit() -> None:
        action()
        guard()

    repository._session_guard = before_commit


# -- what prune removes ------------------------------------------------------------------------


def test_prune_deletes_the_data_only_forgotten_snapshots_used(location: Path, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", {"kept": content(1), "dropped": content(2)})
    first = back_up(location, tree)
    make_tree(tree, {"kept": content(1)})
    second = back_up(location, tree)
    forget(location, first)
    before = sum(stored.size for stored in LocalStorage(location).list("data/"))

    report = run_prune(location)

    after = sum(stored.size for stored in LocalStorage(location).list("data/"))
    assert report.finished and report.packs_deleted > 0
    assert before - after >= 300_000 * 0.9
    assert [snapshot.id for snapshot in list_snapshots(open_repository(location))] == [second]
    assert_intact(location)
    assert not list(LocalStorage(location).list(PRUNE_PREFIX))


def test_prune_repacks_mostly_empty_packs_and_keeps_their_used_blobs(location: Path, tmp_path: Path) -> None:
    small = {f"small-{number}": content(number, 20_000) for number in range(10)}
    tree = make_tree(tmp_path / "tree", small)
    first = back_up(location, tree)
    make_tree(tree, {"small-0": small["small-0"]})
    back_up(location, tree)
    forget(location, first)

    report = run_prune(location, max_unused=0.0)

    assert report.packs_repacked >= 1
    assert_intact(location)
    again = run_prune(location, max_unused=0.0)
    assert again.packs_deleted == 0 and again.packs_repacked == 0


def test_prune_repacks_the_emptiest_packs_until_little_enough_is_unused() -> None:
    from resguardo.engine.prune import _packs_to_repack

    sizes = {b"a": 100, b"b": 100, b"c": 100, b"d": 100, b"gone": 100}
    usage = {b"a": 10, b"b": 90, b"c": 50, b"d": 100, b"gone": 0}

    assert _packs_to_repack(usage, sizes, max_unused=0.0) == [b"a", b"c", b"b"]
    assert _packs_to_repack(usage, sizes, max_unused=0.2) == [b"a"]  # 60 unused of 310 kept
    assert _packs_to_repack(usage, sizes, max_unused=0.5) == []  # 150 of 400: already below


def test_a_dry_run_changes_nothing(location: Path, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", {"a": content(1)})
    forget(location, back_up(location, tree))
    names = sorted(stored.name for stored in LocalStorage(location).list(""))

    report = run_prune(location, dry_run=True)

    assert report.packs_deleted > 0 and report.bytes_deleted > 0
    assert sorted(stored.name for stored in LocalStorage(location).list("")) == names


def test_prune_refuses_when_a_snapshot_is_damaged(location: Path, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", {"a": content(1)})
    snapshot_id = back_up(location, tree)
    path = location / "snapshots" / snapshot_id
    damaged = bytearray(path.read_bytes())
    damaged[-1] ^= 1
    path.write_bytes(bytes(damaged))
    packs = sorted(stored.name for stored in LocalStorage(location).list("data/"))

    with pytest.raises(PruneRefused, match="damaged"):
        run_prune(location)
    assert sorted(stored.name for stored in LocalStorage(location).list("data/")) == packs


# -- prune beside a backup ---------------------------------------------------------------------


def test_a_session_that_began_before_the_plan_delays_the_sweep(location: Path, tmp_path: Path) -> None:
    """The backup already knew the condemned blobs and uses them; the sweep waits, then rescues them."""
    tree = make_tree(tmp_path / "tree", {"reused": content(7)})
    forget(location, back_up(location, tree))
    backup_repository = open_repository(location)
    reports: list[PruneReport] = []
    with locked(backup_repository):
        run_before_commit(backup_repository, lambda: reports.append(run_prune(location)))
        result = backup(backup_repository, [str(tree)], OPTIONS)
    (during,) = reports
    assert not during.finished and during.packs_deleted == 0
    assert result.snapshot.summary["data_blobs"] == 0  # it deduplicated against the condemned blobs

    after = run_prune(location)

    assert after.finished and after.packs_rescued > 0
    assert_intact(location)


@pytest.mark.parametrize("processes", [False, True], ids=["threads", "worker-processes"])
def test_a_session_that_began_after_the_plan_stores_condemned_data_again(
    location: Path, tmp_path: Path, processes: bool
) -> None:
    """A plan waits for an older session; a backup starting now must not rely on condemned packs,
    because the sweep may run (the older session having ended) before this backup commits."""
    tree = make_tree(tmp_path / "tree", {"reused": content(8, 3_000_000)})
    forget(location, back_up(location, tree))
    older = open_repository(location)
    older_lock = locked(older)
    older_lock.__enter__()
    assert not run_prune(location).finished  # the plan now waits for the older session

    backup_repository = open_repository(location)
    sweeps: list[PruneReport] = []

    def older_ends_and_prune_sweeps() -> None:
        older_lock.__exit__(None, None, None)
        sweeps.append(run_prune(location))

    with locked(backup_repository):
        run_before_commit(backup_repository, older_ends_and_prune_sweeps)
        result = backup(backup_repository, [str(tree)], BackupOptions(processes=processes))
    (sweep,) = sweeps
    assert sweep.plans_finished and sweep.packs_deleted > 0
    assert result.snapshot.summary["data_added"] > 0
    assert_intact(location)
    # The sweep's prune also planned again, and that plan waited for this backup's new packs.
    final = run_prune(location)
    assert final.finished and final.packs_rescued > 0
    assert_intact(location)


def test_a_snapshot_finished_beside_a_pending_plan_restores_before_the_sweep(
    location: Path, tmp_path: Path
) -> None:
    """Its data may sit only in condemned packs until the next prune rescues them: still readable."""
    tree = make_tree(tmp_path / "tree", {"reused": content(9)})
    forget(location, back_up(location, tree))
    backup_repository = open_repository(location)
    with locked(backup_repository):
        reports: list[PruneReport] = []
        run_before_commit(backup_repository, lambda: reports.append(run_prune(location)))
        snapshot = backup(backup_repository, [str(tree)], OPTIONS).snapshot
    assert not reports[0].finished
    assert list(LocalStorage(location).list(PRUNE_PREFIX)), "the plan still waits for the next prune"

    reader = open_repository(location)
    with locked(reader):
        from resguardo.engine.restorer import restore

        restore(reader, snapshot, str(tmp_path / "restored"), processes=False)
    (restored,) = (tmp_path / "restored").rglob("reused")
    assert restored.read_bytes() == content(9)


def test_a_void_plan_left_by_a_dead_prune_is_removed(location: Path, tmp_path: Path) -> None:
    from resguardo.engine.pruneplan import PrunePlan

    repository = open_repository(location)
    plan = PrunePlan(id="dead", created="2026-01-01T00:00:00+00:00", condemned=[b"\x01" * 32])
    repository.storage.save(PRUNE_PREFIX + plan.id, plan.to_bytes(repository.keys))

    report = run_prune(location)

    assert report.plans_void == ["dead"]
    assert not list(repository.storage.list(PRUNE_PREFIX))


def test_a_sweep_replaces_the_epoch_so_metadata_caches_are_not_trusted(
    location: Path, tmp_path: Path
) -> None:
    tree = make_tree(tmp_path / "tree", {"a": content(3)})
    forget(location, back_up(location, tree))
    before = open_repository(location)
    with locked(before):
        epoch_before = before.prune_epoch
    cache_path = str(tmp_path / "cache.msgpack")
    cache = DirectoryCache(cache_path, epoch_before)
    cache.put(b"/tree", CachedDirectory(b"f" * 32, b"c" * 32, b"t" * 32))
    cache.save()

    run_prune(location)

    after = open_repository(location)
    with locked(after):
        assert after.prune_epoch != epoch_before
        assert DirectoryCache(cache_path, after.prune_epoch).get(b"/tree") is None
    assert DirectoryCache(cache_path, epoch_before).get(b"/tree") is not None


def test_packs_a_pending_plan_condemns_are_left_out_of_a_new_session(location: Path, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", {"a": content(4)})
    forget(location, back_up(location, tree))
    holder = open_repository(location)
    with locked(holder):
        assert not run_prune(location).finished
        (stored,) = LocalStorage(location).list(PRUNE_PREFIX)
        newcomer = open_repository(location)
        blob_id, location_before = next(iter(newcomer.index.blobs()))
        condemned_pack = location_before.pack_id
        with locked(newcomer):
            assert newcomer.index_rewritten
            assert condemned_pack in newcomer.excluded_packs
            assert not newcomer.has_usable_blob(blob_id)  # a writer stores it again
            assert not newcomer.has_blob(blob_id)
            assert newcomer.load_blob(blob_id)  # a reader still finds it
        assert LocalStorage(location).exists(pack_name(condemned_pack))
        assert stored.name.startswith(PRUNE_PREFIX)


def test_prune_removes_temporary_files_abandoned_long_ago_and_keeps_recent_ones(location: Path) -> None:
    import os
    import time

    old = location / "data" / "ab" / ".tmp-abandoned.1234"
    recent = location / "data" / "ab" / ".tmp-being-written.5678"
    old.parent.mkdir(parents=True, exist_ok=True)
    old.write_bytes(b"torn")
    recent.write_bytes(b"in progress")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))

    report = run_prune(location)

    assert report.temporary_files_removed == 1
    assert not old.exists() and recent.exists()


def test_a_plan_keeps_waiting_for_a_session_that_refreshed_its_lock(location: Path, tmp_path: Path) -> None:
    tree = make_tree(tmp_path / "tree", {"a": content(5)})
    forget(location, back_up(location, tree))
    holder = open_repository(location)
    with locked(holder) as lock:
        assert not run_prune(location).finished
        first_object = lock.id
        lock.refresh()  # a new lock object, the same session
        assert lock.id != first_object
        still = run_prune(location)
        assert not still.finished and still.packs_deleted == 0
    assert run_prune(location).finished
