"""Reading trees and content blobs from the repository's packs, with caches.

This module owns :class:`_TreeReader`, which reads a window of a pack around each tree so that
nearby trees are read once, and :class:`_BlobReader`, which plans content reads by pack: the wanted
blobs of one pack window form a run read with one storage load and kept until each of its blobs
has been used as often as counted (a memory cap drops the oldest runs).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from resguardo.backends.base import Storage
from resguardo.core.errors import IntegrityError, ObjectNotFound
from resguardo.engine.compression import decompress
from resguardo.engine.crypto import RepositoryKeys
from resguardo.engine.index import BlobLocation
from resguardo.engine.repository import Repository, pack_name
from resguardo.engine.restorer.tuning import (
    RUN_CACHE_BYTES,
    RUN_WINDOW_LOCAL,
    RUN_WINDOW_REMOTE,
    TREE_WINDOW,
    TREE_WINDOWS_KEPT,
)
from resguardo.engine.tree import Node, decode_tree


class _TreeReader:
    """Loads tree blobs, reading a window of their pack around each so nearby trees are read once."""

    def __init__(self, repository: Repository, decode: Callable[[bytes], list[Node]] = decode_tree) -> None:
        self.repository = repository
        self.decode = decode
        self.pack_sizes = repository.index.packs()
        self.windows: list[tuple[bytes, int, bytes]] = []

    def load(self, tree_id: bytes) -> list[Node]:
        """Return the nodes of a tree.

        Raises:
            IntegrityError: the tree is missing from the index, damaged or malformed.
            StorageError: its pack is missing (ObjectNotFound) or could not be read.
        """
        location = self.repository.lookup(tree_id)
        offset, end = location.offset, location.offset + location.length
        for pack_id, start, data in self.windows:
            if pack_id == location.pack_id and start <= offset and end <= start + len(data):
                break
        else:
            start = max(0, offset - TREE_WINDOW)
            stop = max(end, min(self.pack_sizes.get(location.pack_id, 0), end + TREE_WINDOW))
            data = self.repository.storage.load(pack_name(location.pack_id), start, stop - start)
            if len(data) < end - start:
                raise IntegrityError(f"pack {location.pack_id.hex()[:16]} is shorter than the index says")
            self.windows.append((location.pack_id, start, data))
            if len(self.windows) > TREE_WINDOWS_KEPT:
                del self.windows[0]
        keys = self.repository.keys
        envelope = memoryview(data)[offset - start : end - start]
        plaintext = decompress(keys.decrypt(envelope), location.compression, location.raw_length)
        if keys.blob_id(plaintext) != tree_id:
            raise IntegrityError(f"tree {tree_id.hex()[:16]} does not match its ID")
        return self.decode(plaintext)


@dataclass(slots=True, eq=False)
class _Run:
    """A range of one pack holding wanted blobs, read with one load once ``sealed``."""

    pack_id: bytes
    start: int
    end: int
    remaining: int = 0
    sealed: bool = False
    data: bytes | None = None
    error: Exception | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)


class _BlobReader:
    """Returns the plaintext of content blobs, reading their packs in runs; safe across threads.

    Every use of a blob is :meth:`register` ed before it is asked for, so that a run can be read
    once for all its blobs and forgotten after their last use.
    """

    def __init__(self, storage: Storage, keys: RepositoryKeys, verify: bool) -> None:
        self.storage = storage
        self.keys = keys
        self.verify = verify
        self.window = RUN_WINDOW_LOCAL if storage.is_local else RUN_WINDOW_REMOTE
        self.lock = threading.Lock()
        self.runs: dict[tuple[bytes, int], _Run] = {}
        self.places: dict[bytes, tuple[_Run, BlobLocation]] = {}
        self.loaded: OrderedDict[_Run, int] = OrderedDict()
        self.loaded_bytes = 0

    def register(self, content: Iterable[bytes], lookup: Callable[[bytes], BlobLocation | None]) -> None:
        """Count one more use of each blob of ``content``; ``lookup`` says where a new one is."""
        places = self.places
        with self.lock:
            for blob_id in content:
                place = places.get(blob_id)
                if place is not None:
                    place[0].remaining += 1
                    continue
                location = lookup(blob_id)
                if location is None:
                    continue
                offset, end = location.offset, location.offset + location.length
                key = (location.pack_id, offset // self.window)
                run = self.runs.get(key)
                if run is None or (run.sealed and not (run.start <= offset and end <= run.end)):
                    run = self.runs[key] = _Run(location.pack_id, offset, end)
                elif not run.sealed:
                    run.start = min(run.start, offset)
                    run.end = max(run.end, end)
                run.remaining += 1
                places[blob_id] = (run, location)

    def raw_length(self, blob_id: bytes) -> int | None:
        """Return the plaintext length of a registered blob, or None when it is not indexed."""
        place = self.places.get(blob_id)
        return None if place is None else place[1].raw_length

    def plaintext(self, blob_id: bytes) -> bytes:
        """Return a blob's plaintext, authenticated and (with ``verify``) checked against its ID.

        Raises:
            IntegrityError: the blob is not indexed, or is damaged.
            StorageError: its pack is missing (ObjectNotFound) or could not be read.
        """
        place = self.places.get(blob_id)
        if place is None:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is not in the index")
        run, location = place
        data = run.data
        if data is None:
            data = self._load(run)
        start = location.offset - run.start
        envelope = memoryview(data)[start : start + location.length]
        with self.lock:
            run.remaining -= 1
            if run.remaining <= 0 and run.data is not None:
                self._drop(run)
        try:
            plaintext = decompress(self.keys.decrypt(envelope), location.compression, location.raw_length)
            if self.verify and self.keys.blob_id(plaintext) != blob_id:
                raise IntegrityError("its content does not match its ID")
        except IntegrityError as error:
            raise IntegrityError(
                f"blob {blob_id.hex()[:16]} in pack {location.pack_id.hex()[:16]} is damaged: {error}"
            ) from None
        return plaintext

    def _load(self, run: _Run) -> bytes:
        with run.lock:
            if run.data is not None:
                return run.data
            if run.error is not None:
                raise run.error
            with self.lock:
                run.sealed = True
            try:
                data = self.storage.load(pack_name(run.pack_id), run.start, run.end - run.start)
                if len(data) != run.end - run.start:
                    raise IntegrityError(f"pack {run.pack_id.hex()[:16]} is shorter than the index says")
            except (IntegrityError, ObjectNotFound) as error:
                run.error = error
                raise
            with self.lock:
                run.data = data
                self.loaded[run] = len(data)
                self.loaded_bytes += len(data)
                while self.loaded_bytes > RUN_CACHE_BYTES and len(self.loaded) > 1:
                    self._drop(next(iter(self.loaded)))
            return data

    def _drop(self, run: _Run) -> None:
        """Forget a run's bytes (with ``self.lock`` held)."""
        run.data = None
        self.loaded_bytes -= self.loaded.pop(run, 0)
