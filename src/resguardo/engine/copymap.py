"""The translation map of ``copy``: which destination blob holds the content of each source blob.

Two repositories have different blob-ID keys (and chunker keys), so the same chunk of content has a
different ID in each. Copying a blob means reading its plaintext from the source and hashing it with
the destination's key; the map remembers the result (source ID → destination ID), so that content
already sent is not read from the source again: by a later copy of another snapshot, or by the next
run after an interruption.

The map lives in the local cache, ``<cache>/<destination id>/copy-from-<source id>.bin``: a file of
80-byte records ``source id (32) | destination id (32) | tag (16)``, appended to as the destination's
packs become durable. The tag is the keyed BLAKE3 of ``source repository id | source id |
destination id`` under a key derived from the destination's master secret, so a record that was
damaged, torn by a crash, or written by anything without that key is ignored. Even an intact record is
used only when the destination's index holds its blob.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import blake3

from resguardo.engine.crypto import ID_SIZE, derive_subkey

TRANSLATION_CONTEXT = "resguardo 2026-11 copy translation key v1"
TAG_SIZE = 16
RECORD_SIZE = 2 * ID_SIZE + TAG_SIZE


def translation_file_path(cache_directory: str, destination_id: str, source_id: str) -> str:
    """Return where the translation map from one source repository into one destination lives."""
    return str(Path(cache_directory) / destination_id / f"copy-from-{source_id}.bin")


class TranslationMap:
    """Source blob ID → destination blob ID, loaded from and appended to a file in the local cache.

    :meth:`add` and :meth:`save_durable` may be called from several threads.

    Args:
        path: the map's file, or None to keep the map in memory only.
        master_secret: the destination repository's master secret (the tags' key is derived from it).
        source_id: the source repository's ``id`` (from its config).
    """

    def __init__(self, path: str | None, master_secret: bytes, source_id: str) -> None:
        self.path = path
        self._key = derive_subkey(master_secret, TRANSLATION_CONTEXT)
        self._source = source_id.encode("ascii")
        self.translations: dict[bytes, bytes] = {}
        self.unsaved: list[tuple[bytes, bytes]] = []
        self.loaded = 0
        self._lock = threading.Lock()
        if path is not None:
            self._load(path)

    def _tag(self, source_blob: bytes, destination_blob: bytes) -> bytes:
        hasher = blake3.blake3(self._source, key=self._key)
        hasher.update(source_blob)
        hasher.update(destination_blob)
        return hasher.digest(length=TAG_SIZE)

    def _load(self, path: str) -> None:
        try:
            data = Path(path).read_bytes()
        except OSError:
            return
        torn = len(data) % RECORD_SIZE
        if torn:  # a crash cut the last record short: drop it, so that later records stay aligned
            with contextlib.suppress(OSError):
                os.truncate(path, len(data) - torn)
        view = memoryview(data)
        for start in range(0, len(data) - RECORD_SIZE + 1, RECORD_SIZE):
            source_blob = bytes(view[start : start + ID_SIZE])
            destination_blob = bytes(view[start + ID_SIZE : start + 2 * ID_SIZE])
            if view[start + 2 * ID_SIZE : start + RECORD_SIZE] == self._tag(source_blob, destination_blob):
                self.translations[source_blob] = destination_blob
        self.loaded = len(self.translations)

    def __len__(self) -> int:
        return len(self.translations)

    def get(self, source_blob: bytes) -> bytes | None:
        """Return the destination ID of a source blob's content, or None when it is not known."""
        return self.translations.get(source_blob)

    def learn(self, source_blob: bytes, destination_blob: bytes) -> None:
        """Remember a translation found from a snapshot already copied (it needs no saving)."""
        self.translations.setdefault(source_blob, destination_blob)

    def add(self, source_blob: bytes, destination_blob: bytes) -> None:
        """Remember a translation made now; it is saved once its destination blob is durable."""
        with self._lock:
            if self.translations.get(source_blob) != destination_blob:
                self.translations[source_blob] = destination_blob
                self.unsaved.append((source_blob, destination_blob))

    def save_durable(self, is_durable: Callable[[bytes], bool]) -> int:
        """Append to the file the unsaved translations whose destination blob ``is_durable``.

        A failed write is ignored: the map is only a shortcut. Returns how many were written.
        """
        with self._lock:
            ready = [pair for pair in self.unsaved if is_durable(pair[1])]
            if not ready:
                return 0
            self.unsaved = [pair for pair in self.unsaved if not is_durable(pair[1])]
            return self._append(ready)

    def _append(self, ready: list[tuple[bytes, bytes]]) -> int:
        if self.path is None:
            return 0
        records = b"".join(
            source + destination + self._tag(source, destination) for source, destination in ready
        )
        with contextlib.suppress(OSError):
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            with open(self.path, "ab") as stream:
                stream.write(records)
            return len(ready)
        return 0
