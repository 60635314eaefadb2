"""The Storage protocol every backend implements.

Object names are relative, slash-separated paths such as ``config``, ``keys/<id>``,
``data/ab/<id>``. A backend must make ``save`` atomic: a reader sees either no object or the whole
object, never a part of it, and once ``save`` returns the object survives a crash of the machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class StoredObject:
    """An object found by ``Storage.list``: its full name and size in bytes."""

    name: str
    size: int


class Storage(Protocol):
    """A flat namespace of immutable objects addressed by name."""

    @property
    def location(self) -> str:
        """A human-readable location (path or URL, never with credentials)."""
        ...

    @property
    def is_local(self) -> bool:
        """True when reads are as cheap as reading a local file (no local cache needed)."""
        ...

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Store ``data`` under ``name`` atomically and durably, replacing any object of that name.

        Raises:
            StorageError: the object could not be written (disk full, permission, I/O).
        """
        ...

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Return ``length`` bytes of the object from ``offset`` (all of it when ``length`` is None).

        Raises:
            ObjectNotFound: no object has that name.
            StorageError: the read failed.
        """
        ...

    def size(self, name: str) -> int:
        """Return the size in bytes of the object.

        Raises:
            ObjectNotFound: no object has that name.
        """
        ...

    def exists(self, name: str) -> bool:
        """Return True when an object has that name."""
        ...

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Yield every object whose name starts with ``prefix`` (a directory such as ``data/``)."""
        ...

    def remove(self, name: str) -> None:
        """Delete the object; deleting a missing object is not an error.

        Raises:
            StorageError: the object exists but could not be deleted.
        """
        ...

    def close(self) -> None:
        """Release connections and open files."""
        ...
