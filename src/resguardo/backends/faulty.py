"""A Storage that wraps another and injects faults, for testing how the engine copes with them.

Three kinds of fault, freely combined:

* **failing operations**: ``fail_on(operation, name)`` picks the calls that raise ``error`` instead
  of reaching the wrapped storage. ``operation`` is one of :data:`OPERATIONS`; ``name`` is the object
  name (the prefix for ``list``). The predicate is asked before the call, so a failed ``save``
  leaves nothing behind, as an atomic backend would.
* **corrupting loads**: ``corrupt_loads(name)`` picks the objects whose bytes come back from
  ``load`` with one byte flipped (``corrupt_position``, counted from the start of what is returned,
  modulo its length); the stored object itself is left intact.
* **a crash**: with ``crash_after_saves=N``, the first N saves succeed and every later one raises
  :class:`InjectedCrash`, as if the process had died with its writes in flight. Reads keep working,
  so a test can look at what a killed operation left behind.

With the defaults nothing is injected, and the wrapper passes the same contract tests as any backend.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Iterator

from resguardo.backends.base import Storage, StoredObject
from resguardo.core.errors import StorageError

OPERATIONS = frozenset({"save", "load", "size", "exists", "list", "remove"})
"""The operation names ``fail_on`` is asked about."""


class InjectedCrash(StorageError):
    """A save refused because the simulated process crashed (``crash_after_saves`` was reached)."""


def never(_operation: str, _name: str) -> bool:
    """A ``fail_on`` predicate that picks nothing."""
    return False


def never_corrupt(_name: str) -> bool:
    """A ``corrupt_loads`` predicate that picks nothing."""
    return False


class FaultyStorage:
    """Wraps a Storage and makes chosen calls fail, chosen loads come back damaged, or saves stop.

    Args:
        inner: the storage that holds the objects.
        fail_on: called as ``fail_on(operation, name)`` before every operation; True makes it raise.
        error: the exception raised for a picked operation (a fresh copy each time).
        corrupt_loads: called with the name of every loaded object; True flips one byte of the result.
        corrupt_position: which byte of the returned bytes to flip (modulo their length).
        crash_after_saves: number of saves that succeed before every further save raises
            :class:`InjectedCrash`; None never crashes.

    Raises:
        ValueError: ``crash_after_saves`` is negative.
    """

    def __init__(
        self,
        inner: Storage,
        *,
        fail_on: Callable[[str, str], bool] = never,
        error: StorageError | None = None,
        corrupt_loads: Callable[[str], bool] = never_corrupt,
        corrupt_position: int = 0,
        crash_after_saves: int | None = None,
    ) -> None:
        if crash_after_saves is not None and crash_after_saves < 0:
            raise ValueError("crash_after_saves must be zero or more")
        self.inner = inner
        self.fail_on = fail_on
        self.error = error if error is not None else StorageError("injected storage fault")
        self.corrupt_loads = corrupt_loads
        self.corrupt_position = corrupt_position
        self.crash_after_saves = crash_after_saves
        self.saves = 0
        """Saves that reached the wrapped storage."""
        self.failures = 0
        """Operations that raised an injected fault (crashes included)."""
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        """Return the wrapped storage's location marked as faulty."""
        return f"faulty:{self.inner.location}"

    @property
    def is_local(self) -> bool:
        """Return whatever the wrapped storage says."""
        return self.inner.is_local

    @property
    def shareable_between_processes(self) -> bool:
        """Faults are injected in this process only, so the wrapper must not be shared with others."""
        return False

    @property
    def crashed(self) -> bool:
        """True once ``crash_after_saves`` saves have been made."""
        return self.crash_after_saves is not None and self.saves >= self.crash_after_saves

    def _check(self, operation: str, name: str) -> None:
        if self.fail_on(operation, name):
            with self._lock:
                self.failures += 1
            raise copy.copy(self.error)

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Save through the wrapped storage unless a fault is injected.

        Raises:
            InjectedCrash: ``crash_after_saves`` saves were already made.
            StorageError: ``fail_on("save", name)`` is true (the configured error), or the save failed.
        """
        self._check("save", name)
        with self._lock:
            if self.crashed:
                self.failures += 1
                raise InjectedCrash(f"simulated crash: {name} was not saved")
            # Count the save before it happens, so that concurrent savers cannot overshoot the limit.
            self.saves += 1
        try:
            self.inner.save(name, data)
        except BaseException:
            with self._lock:
                self.saves -= 1
            raise

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Load through the wrapped storage, possibly with one byte flipped.

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: ``fail_on("load", name)`` is true, or the read failed.
        """
        self._check("load", name)
        data = self.inner.load(name, offset, length)
        if data and self.corrupt_loads(name):
            damaged = bytearray(data)
            damaged[self.corrupt_position % len(damaged)] ^= 0xFF
            return bytes(damaged)
        return data

    def size(self, name: str) -> int:
        """Return the object's size from the wrapped storage.

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: ``fail_on("size", name)`` is true.
        """
        self._check("size", name)
        return self.inner.size(name)

    def exists(self, name: str) -> bool:
        """Return whether the object exists in the wrapped storage.

        Raises:
            StorageError: ``fail_on("exists", name)`` is true.
        """
        self._check("exists", name)
        return self.inner.exists(name)

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Yield the wrapped storage's objects under ``prefix``.

        Raises:
            StorageError: ``fail_on("list", prefix)`` is true (raised at the first ``next``).
        """
        self._check("list", prefix)
        yield from self.inner.list(prefix)

    def remove(self, name: str) -> None:
        """Remove the object from the wrapped storage.

        Raises:
            StorageError: ``fail_on("remove", name)`` is true, or the removal failed.
        """
        self._check("remove", name)
        self.inner.remove(name)

    def close(self) -> None:
        """Close the wrapped storage."""
        self.inner.close()
