"""Tests of repository locks: who may hold them together, and when an abandoned lock stops counting."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from resguardo.backends import MemoryStorage
from resguardo.clock import FakeClock
from resguardo.core.errors import LockLost, RepositoryLocked
from resguardo.engine.crypto import KdfParameters
from resguardo.engine.locks import (
    EXCLUSIVE,
    PRUNE,
    SHARED,
    STALE_AFTER,
    LockInfo,
    RepositoryLock,
    is_stale,
    list_locks,
    locked,
    remove_stale_locks,
)
from resguardo.engine.repository import LOCKS_PREFIX, Repository

FAST_KDF = KdfParameters(memory_kib=1024, iterations=1, lanes=1)
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(START)


@pytest.fixture
def repository(memory_storage: MemoryStorage, clock: FakeClock) -> Repository:
    return Repository.create(memory_storage, b"pass", kdf=FAST_KDF, clock=clock)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def plant_lock(
    repository: Repository,
    lock_id: str,
    *,
    exclusive: bool,
    pid: int | None = None,
    hostname: str | None = None,
    time: datetime | None = None,
) -> None:
    """Store a lock as another process would have written it."""
    document = {
        "hostname": hostname or socket.gethostname(),
        "pid": os.getpid() if pid is None else pid,
        "username": "someone",
        "exclusive": exclusive,
        "time": (time or repository.clock.now()).isoformat(),
    }
    repository.storage.save(LOCKS_PREFIX + lock_id, repository.keys.encrypt(json.dumps(document).encode()))


def lock_ids(repository: Repository) -> set[str]:
    return {lock.id for lock in list_locks(repository)}


def test_a_held_lock_is_listed_with_its_owner_and_removed_on_release(repository: Repository) -> None:
    with locked(repository, exclusive=True) as lock:
        (info,) = list_locks(repository)
        assert info.id == lock.id
        assert info.pid == os.getpid()
        assert info.hostname == socket.gethostname()
        assert info.exclusive
        assert info.time == START
        assert "exclusive lock by PID" in info.describe()
    assert list_locks(repository) == []


def test_the_lock_is_released_when_the_block_raises(repository: Repository) -> None:
    with pytest.raises(RuntimeError), locked(repository):
        raise RuntimeError("operation failed")
    assert list_locks(repository) == []


def test_two_shared_locks_coexist(repository: Repository) -> None:
    with locked(repository) as first, locked(repository) as second:
        assert lock_ids(repository) == {first.id, second.id}


@pytest.mark.parametrize(("held_exclusive", "wanted_exclusive"), [(True, False), (False, True), (True, True)])
def test_an_exclusive_lock_conflicts_with_any_other(
    repository: Repository, held_exclusive: bool, wanted_exclusive: bool
) -> None:
    with locked(repository, exclusive=held_exclusive) as held:
        with (
            pytest.raises(RepositoryLocked, match="the repository is locked") as raised,
            locked(repository, exclusive=wanted_exclusive),
        ):
            pass
        assert raised.value.exit_code == 11
        assert "unlock" in raised.value.hint
        assert lock_ids(repository) == {held.id}  # the refused lock withdrew itself


def test_a_lock_of_another_live_process_conflicts(repository: Repository) -> None:
    plant_lock(repository, "other", exclusive=True)
    with pytest.raises(RepositoryLocked, match="PID"):
        RepositoryLock(repository, SHARED).acquire()
    assert lock_ids(repository) == {"other"}


def test_a_lock_of_a_dead_process_on_this_host_is_ignored_and_removable(repository: Repository) -> None:
    pid = dead_pid()
    plant_lock(repository, "abandoned", exclusive=True, pid=pid)
    ignored: list[LockInfo] = []
    with locked(repository, exclusive=True, on_stale=ignored.append) as lock:
        assert [info.id for info in ignored] == ["abandoned"]
        assert ignored[0].pid == pid
        assert lock_ids(repository) == {lock.id, "abandoned"}
        removed = remove_stale_locks(repository)
        assert [info.id for info in removed] == ["abandoned"]
        assert lock_ids(repository) == {lock.id}  # a live lock is never stale


def test_a_dead_pid_on_another_host_is_not_judged_here(repository: Repository) -> None:
    plant_lock(repository, "remote", exclusive=True, pid=dead_pid(), hostname="another-host.example")
    with pytest.raises(RepositoryLocked, match=r"another-host\.example"):
        RepositoryLock(repository, SHARED).acquire()
    assert remove_stale_locks(repository) == []


def test_a_lock_not_refreshed_for_too_long_is_stale(repository: Repository, clock: FakeClock) -> None:
    plant_lock(repository, "old", exclusive=True, hostname="another-host.example")
    clock.advance(STALE_AFTER - 1)
    with pytest.raises(RepositoryLocked):
        RepositoryLock(repository, EXCLUSIVE).acquire()
    clock.advance(2)
    with locked(repository, exclusive=True):
        pass
    assert [info.id for info in remove_stale_locks(repository)] == ["old"]
    assert list_locks(repository) == []


def test_is_stale_follows_age_and_liveness() -> None:
    here = socket.gethostname()
    now = START + timedelta(seconds=STALE_AFTER)
    live = LockInfo("a", here, os.getpid(), "u", SHARED, START + timedelta(seconds=1), START)
    assert not is_stale(live, now)
    assert is_stale(LockInfo("b", here, os.getpid(), "u", SHARED, START - timedelta(seconds=1), START), now)
    assert is_stale(LockInfo("c", here, dead_pid(), "u", SHARED, now, now), now)


def test_remove_all_removes_live_locks_too(repository: Repository) -> None:
    plant_lock(repository, "live", exclusive=False)
    assert remove_stale_locks(repository) == []
    assert [info.id for info in remove_stale_locks(repository, remove_all=True)] == ["live"]
    assert list_locks(repository) == []


def test_unreadable_lock_files_are_skipped(repository: Repository) -> None:
    repository.storage.save(LOCKS_PREFIX + "garbage", b"not encrypted")
    repository.storage.save(LOCKS_PREFIX + "wrong-shape", repository.keys.encrypt(b'{"pid": 1}'))
    assert list_locks(repository) == []
    with locked(repository, exclusive=True):
        pass


def test_a_lock_is_stored_encrypted(repository: Repository) -> None:
    with locked(repository) as lock:
        stored = repository.storage.load(LOCKS_PREFIX + lock.id)
        assert socket.gethostname().encode() not in stored
        assert b"pid" not in stored


@pytest.mark.parametrize(
    ("held", "wanted", "conflict"),
    [
        (SHARED, PRUNE, False),
        (PRUNE, SHARED, False),
        (PRUNE, PRUNE, True),
        (PRUNE, EXCLUSIVE, True),
        (EXCLUSIVE, PRUNE, True),
    ],
)
def test_a_prune_lock_conflicts_only_with_prune_and_exclusive_locks(
    repository: Repository, held: str, wanted: str, conflict: bool
) -> None:
    with locked(repository, kind=held):
        if conflict:
            with pytest.raises(RepositoryLocked, match=held):
                RepositoryLock(repository, wanted).acquire()
        else:
            lock = RepositoryLock(repository, wanted)
            lock.acquire()
            lock.release()


def test_a_lock_records_its_kind_and_when_it_was_first_taken(
    repository: Repository, clock: FakeClock
) -> None:
    with locked(repository, kind=PRUNE) as lock:
        clock.advance(600)
        lock.refresh()
        (info,) = list_locks(repository)
    assert info.session == lock.session != info.id
    assert info.kind == PRUNE
    assert info.created == START
    assert info.time == START + timedelta(minutes=10)


def test_a_lock_removed_by_someone_else_is_lost_and_stops_the_commit(repository: Repository) -> None:
    with locked(repository) as lock:
        repository.storage.remove(LOCKS_PREFIX + lock.id)
        with pytest.raises(LockLost, match="removed"):
            repository.save_snapshot_document(b"a snapshot that must not be committed")
    assert repository.snapshot_ids() == []


def test_a_lock_not_refreshed_for_too_long_is_lost(repository: Repository, clock: FakeClock) -> None:
    with locked(repository) as lock:
        clock.advance(STALE_AFTER)
        with pytest.raises(LockLost, match="not refreshed"):
            lock.ensure_held()


def test_a_refresh_writes_a_new_lock_object_and_removes_the_old_one(
    repository: Repository, clock: FakeClock
) -> None:
    with locked(repository) as lock:
        first = lock.id
        clock.advance(STALE_AFTER - 1)
        lock.refresh()
        clock.advance(10)
        (info,) = list_locks(repository)
        assert info.id == lock.id != first
        assert not is_stale(info, clock.now())
    assert list_locks(repository) == []


def test_locks_the_storage_refuses_to_delete_are_reported_not_raised(
    memory_storage: MemoryStorage, clock: FakeClock
) -> None:
    from resguardo.backends.faulty import FaultyStorage
    from resguardo.core.errors import StorageError

    refusing = FaultyStorage(
        memory_storage,
        fail_on=lambda operation, _name: operation == "remove",
        error=StorageError("permission denied"),
    )
    repository = Repository.create(refusing, b"pass", kdf=FAST_KDF, clock=clock)
    reported: list[list[str]] = []
    with locked(repository, on_leftovers=reported.append) as lock:
        first = lock.id
        lock.refresh()
        second = lock.id
    assert reported == [[first, second]]
    assert {info.id for info in list_locks(repository)} == {first, second}


def test_a_failed_refresh_keeps_the_lock_in_force(memory_storage: MemoryStorage, clock: FakeClock) -> None:
    from resguardo.backends.faulty import FaultyStorage
    from resguardo.core.errors import StorageError

    storage = FaultyStorage(memory_storage)
    repository = Repository.create(storage, b"pass", kdf=FAST_KDF, clock=clock)
    with locked(repository) as lock:
        held = lock.id
        storage.fail_on = lambda operation, _name: operation == "save"
        with pytest.raises(StorageError):
            lock.refresh()
        storage.fail_on = lambda _operation, _name: False
        assert lock.id == held
        assert [info.id for info in list_locks(repository)] == [held]
    assert list_locks(repository) == []
