"""Repository locks: shared for backup, restore and check; exclusive for operations that delete.

A lock is an encrypted JSON object ``locks/<random id>``: hostname, process ID, user, whether it is
exclusive, and when it was last refreshed. A holder refreshes its lock every
:data:`REFRESH_INTERVAL` seconds. A lock is *stale* when its process is dead on this same host, or
when it was not refreshed for :data:`STALE_AFTER` seconds; stale locks are ignored (with a warning)
and ``resguardo unlock`` removes them. Acquiring writes the lock first, then looks for conflicting
locks and withdraws if it finds one, so two processes can never both believe they hold conflicting locks.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from resguardo.core.errors import IntegrityError, ObjectNotFound, RepositoryLocked, StorageError
from resguardo.engine.repository import LOCKS_PREFIX, Repository
from resguardo.engine.walk import user_name

REFRESH_INTERVAL = 300.0
STALE_AFTER = 1800.0


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One lock found in the repository."""

    id: str
    hostname: str
    pid: int
    username: str
    exclusive: bool
    time: datetime

    def describe(self) -> str:
        """Return a one-line description for messages."""
        kind = "exclusive" if self.exclusive else "shared"
        since = self.time.isoformat()
        return f"{kind} lock by PID {self.pid} on {self.hostname} ({self.username}) since {since}"


def _process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def is_stale(lock: LockInfo, now: datetime) -> bool:
    """Return True when the lock's process is gone from this host or it was not refreshed in time."""
    if now - lock.time > timedelta(seconds=STALE_AFTER):
        return True
    return lock.hostname == socket.gethostname() and not _process_is_alive(lock.pid)


def list_locks(repository: Repository) -> list[LockInfo]:
    """Return every readable lock in the repository (unreadable ones are skipped)."""
    locks = []
    for stored in repository.storage.list(LOCKS_PREFIX):
        lock_id = stored.name.removeprefix(LOCKS_PREFIX)
        try:
            document = json.loads(repository.keys.decrypt(repository.storage.load(stored.name)))
            locks.append(
                LockInfo(
                    id=lock_id,
                    hostname=str(document["hostname"]),
                    pid=int(document["pid"]),
                    username=str(document["username"]),
                    exclusive=bool(document["exclusive"]),
                    time=datetime.fromisoformat(document["time"]),
                )
            )
        except (IntegrityError, ObjectNotFound, ValueError, KeyError, TypeError):
            continue
    return locks


def remove_stale_locks(repository: Repository, *, remove_all: bool = False) -> list[LockInfo]:
    """Remove stale locks (or every lock with ``remove_all``) and return those removed."""
    now = repository.clock.now()
    removed = []
    for lock in list_locks(repository):
        if remove_all or is_stale(lock, now):
            repository.storage.remove(LOCKS_PREFIX + lock.id)
            removed.append(lock)
    return removed


class RepositoryLock:
    """A lock held by this process; refreshed by a background thread until released."""

    def __init__(self, repository: Repository, exclusive: bool) -> None:
        self.repository = repository
        self.exclusive = exclusive
        self.id = secrets.token_hex(16)
        self.leftovers: list[str] = []
        """IDs of earlier lock objects of this holder that the storage refused to delete."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _write(self) -> None:
        document = {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "username": user_name(os.getuid()),
            "exclusive": self.exclusive,
            "time": self.repository.clock.now().isoformat(),
        }
        self.repository.storage.save(
            LOCKS_PREFIX + self.id, self.repository.keys.encrypt(json.dumps(document).encode())
        )

    def acquire(self, on_stale: Callable[[LockInfo], None] | None = None) -> None:
        """Write the lock, then withdraw it if a conflicting live lock exists.

        Args:
            on_stale: told about each stale lock that is ignored.

        Raises:
            RepositoryLocked: a live lock conflicts with this one.
        """
        self._write()
        now = self.repository.clock.now()
        for other in list_locks(self.repository):
            if other.id == self.id or not (self.exclusive or other.exclusive):
                continue
            if is_stale(other, now):
                if on_stale is not None:
                    on_stale(other)
                continue
            self._remove(self.id)
            raise RepositoryLocked(f"the repository is locked: {other.describe()}")
        self._thread = threading.Thread(target=self._refresh_loop, name="lock-refresh", daemon=True)
        self._thread.start()

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_INTERVAL):
            with contextlib.suppress(Exception):  # a failed refresh is retried at the next interval
                self.refresh()

    def refresh(self) -> None:
        """Write the lock again, with the current time, as a new object; then remove the old one.

        A new object rather than the old one overwritten, so that storage which never replaces an
        object (an append-only account) can hold the lock too; an old object the storage refuses to
        delete is remembered in :attr:`leftovers`.

        Raises:
            StorageError: the new lock could not be written (the old one stays in force).
        """
        old_id, self.id = self.id, secrets.token_hex(16)
        try:
            self._write()
        except BaseException:
            self.id = old_id
            raise
        self._remove(old_id)

    def _remove(self, lock_id: str) -> None:
        try:
            self.repository.storage.remove(LOCKS_PREFIX + lock_id)
        except StorageError:
            self.leftovers.append(lock_id)

    def release(self) -> list[str]:
        """Stop refreshing and remove the lock.

        Returns:
            the IDs of this holder's lock objects that the storage refused to delete (an append-only
            account): they go stale like the locks of a killed process, and ``unlock`` removes them.
        """
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._remove(self.id)
        return list(self.leftovers)


@contextmanager
def locked(
    repository: Repository,
    *,
    exclusive: bool = False,
    on_stale: Callable[[LockInfo], None] | None = None,
    on_leftovers: Callable[[list[str]], None] | None = None,
) -> Iterator[RepositoryLock]:
    """Hold a lock on the repository for the duration of a ``with`` block.

    Args:
        repository: the repository to lock.
        exclusive: take an exclusive lock rather than a shared one.
        on_stale: told about each stale lock that is ignored.
        on_leftovers: told, at the end, the IDs of this holder's lock objects that the storage
            refused to delete (an append-only account); not called when there are none.

    Raises:
        RepositoryLocked: a live lock conflicts.
    """
    lock = RepositoryLock(repository, exclusive)
    lock.acquire(on_stale)
    try:
        yield lock
    finally:
        leftovers = lock.release()
        if leftovers and on_leftovers is not None:
            on_leftovers(leftovers)
