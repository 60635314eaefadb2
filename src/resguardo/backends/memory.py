"""An in-memory Storage for unit tests; passes the same contract tests as the real backends."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from resguardo.backends.base import StoredObject
from resguardo.core.errors import ObjectNotFound


class MemoryStorage:
    """Objects kept in a dictionary, safe to use from several threads."""

    def __init__(self) -> None:
        self._objects: dict[str, bytes] = {}
        self._lock = threading.Lock()

    @property
    def location(self) -> str:
        """Return ``memory:`` followed by the object's identity."""
        return f"memory:{id(self):x}"

    @property
    def is_local(self) -> bool:
        """Memory is as cheap to read as a local file."""
        return True

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Store a copy of ``data`` under ``name``."""
        with self._lock:
            self._objects[name] = bytes(data)

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return the object's bytes from ``offset`` (``length`` of them, or all).

        Raises:
            ObjectNotFound: no object has that name.
        """
        with self._lock:
            try:
                data = self._objects[name]
            except KeyError:
                raise ObjectNotFound(f"object {name} not found in {self.location}") from None
        end = len(data) if length is None else offset + length
        return data[offset:end]

    def size(self, name: str) -> int:
        """Return the object's size in bytes.

        Raises:
            ObjectNotFound: no object has that name.
        """
        return len(self.load(name))

    def exists(self, name: str) -> bool:
        """Return True when an object has that name."""
        with self._lock:
            return name in self._objects

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Yield the objects whose names start with ``prefix``, in name order."""
        with self._lock:
            found = [StoredObject(name, len(data)) for name, data in self._objects.items()]
        yield from sorted((item for item in found if item.name.startswith(prefix)), key=lambda o: o.name)

    def remove(self, name: str) -> None:
        """Delete the object if present."""
        with self._lock:
            self._objects.pop(name, None)

    def close(self) -> None:
        """Nothing to release."""

    def corrupt(self, name: str, position: int) -> None:
        """Flip one bit of a stored object, for damage tests.

        Raises:
            ObjectNotFound: no object has that name.
        """
        data = bytearray(self.load(name))
        data[position % len(data)] ^= 0x01
        with self._lock:
            self._objects[name] = bytes(data)
