"""Repository locks: shared for backup, restore, check and copy; ``prune`` for prune; exclusive for repairs.

Three kinds: *shared* locks never conflict with each other nor with a *prune* lock (prune runs beside
backups, see :mod:`resguardo.engine.prune`); a *prune* lock conflicts with another prune lock; an
*exclusive* lock conflicts with every other lock.

A lock is an encrypted JSON object ``locks/<random id>``: hostname, process ID, user, its kind, when it
was first taken and when it was last refreshed. A holder refreshes its lock every
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

from resguardo.core.errors import IntegrityError, LockLost, ObjectNotFound, RepositoryLocked, StorageError
from resguardo.engine.repository import LOCKS_PREFIX, Repository
from resguardo.engine.walk import user_name

REFRESH_INTERVAL = 300.0
STALE_AFTER = 1800.0
SHARED = "shared"
PRUNE = "prune"
EXCLUSIVE = "exclusive"
LOCK_KINDS = (SHARED, PRUNE, EXCLUSIVE)


def kinds_conflict(first: str, second: str) -> bool:
    """Return True when locks of kinds ``first`` and ``second`` cannot be held at once."""
    if EXCLUSIVE in (first, second):
        return True
    return first == PRUNE and second == PRUNE


@dataclass(frozen=True, slots=True)
class LockInfo:
    """One lock found in the repository."""

    id: str
    hostname: str
    pid: int
    username: str
    kind: str
    time: datetime
    created: datetime
    session: str = ""
    """The holder's ID, the same for every object it writes as it refreshes (its first lock ID)."""

    @property
    def exclusive(self) -> bool:
        """True for an exclusive lock."""
        return self.kind == EXCLUSIVE

    def describe(self) -> str:
        """Return a one-line description for messages."""
        since = self.created.isoformat()
        return f"{self.kind} lock by PID {self.pid} on {self.hostname} ({self.username}) since {since}"


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
            locks.append(_lock_from_document(lock_id, document))
        except (IntegrityError, ObjectNotFound, ValueError, KeyError, TypeError):
            continue
    return locks


def _lock_from_document(lock_id: str, document: dict[str, object]) -> LockInfo:
    """Return the lock a decoded document describes (documents without ``kind`` predate prune locks)."""
    kind = str(document.get("kind") or (EXCLUSIVE if document["exclusive"] else SHARED))
    if kind not in LOCK_KINDS:
        kind = EXCLUSIVE  # a kind this version does not know is treated as the strictest
    time = datetime.fromisoformat(str(document["time"]))
    created = document.get("created")
    return LockInfo(
        id=lock_id,
        hostname=str(document["hostname"]),
        pid=int(str(document["pid"])),
        username=str(document["username"]),
        kind=kind,
        time=time,
        created=datetime.fromisoformat(str(created)) if created else time,
        session=str(document.get("session") or lock_id),
    )


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

    def __init__(self, repository: Repository, kind: str = SHARED) -> None:
        if kind not in LOCK_KINDS:
            raise ValueError(f"unknown lock kind {kind!r}")
        self.repository = repository
        self.kind = kind
        self.id = secrets.token_hex(16)
        self.session = self.id
        """Stays the same while :attr:`id` changes at each refresh (a prune waits for sessions)."""
        self.created = repository.clock.now()
        self.leftovers: list[str] = []
        """IDs of earlier lock objects of this holder that the storage refused to delete."""
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_refresh = repository.clock.monotonic()
        self._lost = False

    @property
    def exclusive(self) -> bool:
        """True for an exclusive lock."""
        return self.kind == EXCLUSIVE

    def _write(self) -> None:
        document = {
            "hostname": socket.gethostname(),
            "pid": os.getpid(),
            "username": user_name(os.getuid()),
            "kind": self.kind,
            "session": self.session,
            "exclusive": self.exclusive,
            "created": self.created.isoformat(),
            "time": self.repository.clock.now().isoformat(),
        }
        started = self.repository.clock.monotonic()
        self.repository.storage.save(
            LOCKS_PREFIX + self.id, self.repository.keys.encrypt(json.dumps(document).encode())
        )
        self._last_refresh = started

    def ensure_held(self) -> None:
        """Confirm that the lock still protects this process; call before committing a snapshot.

        A lock that could not be refreshed for longer than :data:`STALE_AFTER` (less a safety margin),
        or whose object was removed (``resguardo unlock --all``), may have been taken over: a prune
        may then have deleted data this process relies on, so the work must not be committed.

        Raises:
            RepositoryLocked: the lock was lost.
        """
        age = self.repository.clock.monotonic() - self._last_refresh
        if self._lost or age > STALE_AFTER - REFRESH_INTERVAL:
            raise LockLost(
                f"this process lost its lock on the repository (not refreshed for {age:.0f} s)",
                "run the command again; nothing it wrote is referenced yet, and the next prune removes it",
            )
        if not self.repository.storage.exists(LOCKS_PREFIX + self.id):
            self._lost = True
            raise LockLost(
                "this process's lock was removed from the repository by someone else",
                "run the command again; use 'resguardo unlock' without --all to remove only stale locks",
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
            if other.id == self.id or not kinds_conflict(self.kind, other.kind):
                continue
            if is_stale(other, now):
                if on_stale is not None:
                    on_stale(other)
                continue
            self._remove(self.id)
            raise RepositoryLocked(f"the repository is locked: {other.describe()}")
        self._thread = threading.Thread(target=self._refresh_loop, name="lock-refresh", daemon=True)
        self._thread.start()
        self.repository.begin_session(self.ensure_held)

    def _refresh_loop(self) -> None:
        while not self._stop.wait(REFRESH_INTERVAL):
            with contextlib.suppress(Exception):  # a failed refresh is retried at the next interval
                self.refresh()

    def refresh(self) -> None:
        """Write the lock again, with the current time, as a new object; then remove the old one.

        A new object rather than the old one overwritten, so that storage which never replaces an
        object (an append-only account) can hold the lock too; an old object the storage refuses to
        delete is remembered in :attr:`leftovers`. The session stays the same.

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
        self.repository.end_session()
        self._remove(self.id)
        return list(self.leftovers)


@contextmanager
def locked(
    repository: Repository,
    *,
    exclusive: bool = False,
    kind: str | None = None,
    on_stale: Callable[[LockInfo], None] | None = None,
    on_leftovers: Callable[[list[str]], None] | None = None,
) -> Iterator[RepositoryLock]:
    """Hold a lock on the repository for the duration of a ``with`` block.

    Taking the lock also starts a *session* (:meth:`Repository.begin_session`): the repository then
    leaves out of its index the packs a pending prune will delete, and checks the lock is still held
    before it commits a snapshot.

    Args:
        repository: the open repository.
        exclusive: take an exclusive lock (same as ``kind="exclusive"``).
        kind: ``shared`` (default), ``prune`` or ``exclusive``.
        on_stale: told about each stale lock that is ignored.
        on_leftovers: told, at the end, the IDs of this holder's lock objects that the storage
            refused to delete (an append-only account); not called when there are none.

    Raises:
        RepositoryLocked: a live lock conflicts.
    """
    lock = RepositoryLock(repository, kind or (EXCLUSIVE if exclusive else SHARED))
    lock.acquire(on_stale)
    try:
        yield lock
    finally:
        leftovers = lock.release()
        if leftovers and on_leftovers is not None:
            on_leftovers(leftovers)
