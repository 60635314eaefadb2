"""The local metadata cache: what each directory looked like at the last backup, and its tree.

For every directory a backup visits, the cache keeps a fingerprint of its entries' metadata (name,
type and mode, inode, size, mtime, ctime, owner, link count), a key combining that fingerprint with
the tree IDs of its subdirectories, and the ID of the tree that was stored. When the next backup
finds the same fingerprint, no file in the directory has changed, so nothing in it is read or
rebuilt; when the combined key matches too, the stored tree is reused as it is.

The cache is an optimization only: every tree it names is checked against the repository's index
before use, a damaged or missing cache file just makes the backup look at everything, and the file
is replaced atomically after each successful backup.
"""

from __future__ import annotations

import contextlib
import os
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import blake3
import msgpack

CACHE_FORMAT_VERSION = 1
_ENTRY = struct.Struct("<IQQqqIIQ")


@dataclass(frozen=True, slots=True)
class CachedDirectory:
    """What the cache remembers of one directory."""

    fingerprint: bytes
    combined: bytes
    tree_id: bytes


def fingerprint_entries(entries: Iterable[tuple[bytes, os.stat_result]]) -> bytes:
    """Return a 16-byte fingerprint of a directory's entries (name and lstat result, in order)."""
    hasher = blake3.blake3()
    for name, status in entries:
        hasher.update(name)
        hasher.update(
            _ENTRY.pack(
                status.st_mode,
                status.st_ino,
                status.st_size,
                status.st_mtime_ns,
                status.st_ctime_ns,
                status.st_uid,
                status.st_gid,
                status.st_nlink,
            )
        )
    return hasher.digest(length=16)


def combine(fingerprint: bytes, subtree_ids: Iterable[bytes]) -> bytes:
    """Return the key of a directory: its own fingerprint plus the trees of its subdirectories."""
    hasher = blake3.blake3(fingerprint)
    for subtree_id in subtree_ids:
        hasher.update(subtree_id)
    return hasher.digest(length=16)


class DirectoryCache:
    """The cache file of one repository and one backup source (host, paths, exclude settings).

    Args:
        path: the cache file, or None for no cache at all.
        epoch: the repository's prune epoch when this backup began; a file written under another
            epoch is ignored, because a prune since then may have deleted data its trees refer to.
    """

    def __init__(self, path: str | None, epoch: str = "") -> None:
        self.path = path
        self.epoch = epoch
        self.previous: dict[bytes, CachedDirectory] = {}
        self.current: dict[bytes, CachedDirectory] = {}
        if path is not None:
            self.previous = self._load(path, epoch)

    @staticmethod
    def _load(path: str, epoch: str) -> dict[bytes, CachedDirectory]:
        try:
            document = msgpack.unpackb(Path(path).read_bytes())
            if document.get("version") != CACHE_FORMAT_VERSION or document.get("epoch", "") != epoch:
                return {}
            return {
                directory: CachedDirectory(bytes(entry[0]), bytes(entry[1]), bytes(entry[2]))
                for directory, entry in document["directories"].items()
            }
        except (OSError, ValueError, KeyError, TypeError, IndexError, msgpack.ExtraData):
            return {}

    def get(self, directory: bytes) -> CachedDirectory | None:
        """Return what the last backup recorded for ``directory``, if anything."""
        return self.previous.get(directory)

    def put(self, directory: bytes, entry: CachedDirectory) -> None:
        """Record ``directory`` as this backup saw it."""
        if self.path is not None:
            self.current[directory] = entry

    def save(self) -> None:
        """Replace the cache file with what this backup saw (unless that is what it holds already);
        failures leave the old file in place."""
        if self.path is None or self.current == self.previous:
            return
        document = {
            "version": CACHE_FORMAT_VERSION,
            "epoch": self.epoch,
            "directories": {
                directory: [entry.fingerprint, entry.combined, entry.tree_id]
                for directory, entry in self.current.items()
            },
        }
        temporary = f"{self.path}.tmp-{os.getpid()}"
        try:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            Path(temporary).write_bytes(msgpack.packb(document))
            Path(temporary).replace(self.path)
        except OSError:
            with contextlib.suppress(OSError):
                Path(temporary).unlink()


def cache_file_path(cache_directory: str, repository_id: str, source_key: str) -> str:
    """Return where the cache file of one repository and one backup source lives."""
    name = blake3.blake3(source_key.encode("utf-8", "surrogateescape")).hexdigest(length=16)
    return str(Path(cache_directory) / repository_id / f"directories-{name}.msgpack")
