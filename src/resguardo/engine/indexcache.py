"""The local index cache: the whole index as one file of sorted blob columns, memory-mapped when opened.

Decoding every index file of a large repository takes time and, for a moment, memory. After loading,
the index is written to ``<cache folder>/<repository id>/index.cache``, together with the names of
the index files it covers (names are content hashes, so a name stands for one exact content). The
next open maps the file instead of decoding those index files, and decodes only index files written
since. The operating system pages the columns in and out as lookups touch them, so a repository whose
index outgrows memory still opens and works.

Layout (little-endian)::

    b"RGIC0001" | header length (u64) | msgpack header | zero padding to 64 | columns | BLAKE3 (32 bytes)

The header is ``{"names": [...], "packs": [<32 bytes>, ...], "sizes": [...], "count": n,
"duplicates": m}``; then come the columns of the blob table (``n`` rows) and of the table of later
locations (``m`` rows), in the order of :data:`blobtable.COLUMNS`, each padded to 64 bytes. The last
32 bytes hash everything before them. It is a cache only: a file that is missing, damaged, of
another version or covering an index file that no longer exists is ignored (and rewritten), and a
file that cannot be written is no error. It holds blob IDs (keyed hashes, not content) and pack
IDs, no plaintext; it is created with mode 0600.
"""

from __future__ import annotations

import contextlib
import io
import mmap
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import blake3
import msgpack
import numpy as np

from resguardo.engine.blobtable import COLUMNS, Array, BlobTable, bytes_of, merge
from resguardo.engine.index import Index

MAGIC = b"RGIC0001"
ALIGNMENT = 64
DIGEST_SIZE = 32
SEGMENT_ROWS = 1 << 20
READ_SIZE = 16 << 20
_LENGTH = struct.Struct("<Q")


@dataclass(frozen=True, slots=True)
class CachedIndex:
    """An index read from the cache, and the names of the index files it covers."""

    names: frozenset[str]
    index: Index


def index_cache_path(cache_directory: str, repository_id: str) -> str:
    """Return where the index cache of one repository lives."""
    return str(Path(cache_directory) / repository_id / "index.cache")


def _padding(position: int) -> bytes:
    return b"\0" * (-position % ALIGNMENT)


class _HashingWriter:
    """A file being written, with the running BLAKE3 of what went in and its position."""

    def __init__(self, stream: BinaryIO) -> None:
        self.stream = stream
        self.hasher = blake3.blake3()
        self.position = 0

    def write(self, data: bytes | memoryview) -> None:
        self.stream.write(data)
        self.hasher.update(data)
        self.position += len(data)

    def pad(self) -> None:
        self.write(_padding(self.position))


def write_index_cache(path: str, names: Sequence[str], index: Index) -> bool:
    """Write ``index`` (which covers the index files ``names``) to the cache file, atomically.

    Returns:
        True when the file was written; False when it could not be (the cache is optional).
    """
    pack_ids, sizes, tables, later = index.tables()
    live = np.array([size >= 0 for size in sizes], dtype=np.uint8)
    # The base table may be memory-mapped and large: the others are merged in memory, and into it in segments.
    base = tables[0] if tables else BlobTable.empty()
    newer = merge(tables[1:], live) if len(tables) > 1 else BlobTable.empty()
    positions = base.keys.searchsorted(newer.keys, side="right")
    duplicates = merge(later, live)
    count = _live_rows(base, live) + len(newer)
    header = encode_header(names, pack_ids, sizes, count, len(duplicates))
    sections = [_merged_segments(base, newer, positions, live, name) for name, _dtype in COLUMNS]
    sections += [iter([duplicates.columns[name]]) for name, _dtype in COLUMNS]
    return write_cache_file(path, header, sections)


def encode_header(
    names: Sequence[str], pack_ids: list[bytes], sizes: list[int], count: int, duplicates: int
) -> bytes:
    """Return the header of a cache file covering the index files ``names``.

    Args:
        names: the index files the cache covers.
        pack_ids: the pack table; ``sizes`` their sizes (-1 for a removed pack).
        count: the rows of the blob table; ``duplicates`` those of the table of later locations.
    """
    header: bytes = msgpack.packb(
        {"names": sorted(names), "packs": pack_ids, "sizes": sizes, "count": count, "duplicates": duplicates}
    )
    return header


def write_cache_file(path: str, header: bytes, sections: Iterable[Iterable[Array]]) -> bool:
    """Write a cache file of ``header`` and the columns ``sections`` (each yields one column in segments).

    The columns are written as they come, so a section may compute its segments lazily. The file
    appears at ``path`` complete or not at all (written under a temporary name, then renamed).

    Returns:
        True when the file was written; False when it could not be (the cache is optional).
    """
    temporary = f"{path}.tmp-{os.getpid()}"
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as stream:
            writer = _HashingWriter(stream)
            writer.write(MAGIC + _LENGTH.pack(len(header)) + header)
            writer.pad()
            for section in sections:
                _write_section(writer, section)
            stream.write(writer.hasher.digest())
        os.replace(temporary, path)
        return True
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        return False


def _write_section(writer: _HashingWriter, section: Iterable[Array]) -> None:
    """Write one column and its padding (a function, so that no segment outlives it)."""
    for segment in section:
        writer.write(bytes_of(segment))
    writer.pad()


def _live_rows(table: BlobTable, live: Array) -> int:
    count = 0
    packs = table.columns["packs"]
    for start in range(0, len(table), SEGMENT_ROWS):
        count += int(np.count_nonzero(live[packs[start : start + SEGMENT_ROWS]]))
    return count


def _merged_segments(
    base: BlobTable, newer: BlobTable, positions: Array, live: Array, name: str
) -> Iterator[Array]:
    """Yield one column of base and newer merged in key order, live rows only, a segment at a time.

    ``positions[j]`` is how many base rows sort before newer row ``j``; it goes just before that base row.
    """
    base_column, newer_column = base.columns[name], newer.columns[name]
    base_packs, newer_packs = base.columns["packs"], newer.columns["packs"]
    last = len(base)
    for start in range(0, max(last, 1), SEGMENT_ROWS):
        stop = min(start + SEGMENT_ROWS, last)
        low = 0 if start == 0 else int(positions.searchsorted(start, side="right"))
        high = int(positions.searchsorted(stop, side="right"))
        offsets = positions[low:high] - start
        column = np.insert(base_column[start:stop], offsets, newer_column[low:high])
        packs = np.insert(base_packs[start:stop], offsets, newer_packs[low:high])
        yield column[live[packs].astype(bool)]


def read_index_cache(path: str) -> CachedIndex | None:
    """Return the cached index, memory-mapped; None when the file is missing, damaged or outdated."""
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            if size < len(MAGIC) + _LENGTH.size + DIGEST_SIZE or not _digest_matches(stream, size):
                return None
            mapped = mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ)
            if hasattr(mmap, "MADV_RANDOM"):  # lookups jump around: no read-ahead
                mapped.madvise(mmap.MADV_RANDOM)
        return _parse(mapped, size)
    except (OSError, ValueError, KeyError, TypeError, msgpack.ExtraData):
        return None


def _digest_matches(stream: io.BufferedReader, size: int) -> bool:
    """Hash the file with reads, not through the mapping, so that checking it adds nothing to RSS."""
    hasher = blake3.blake3(max_threads=blake3.blake3.AUTO)
    remaining = size - DIGEST_SIZE
    buffer = memoryview(bytearray(min(READ_SIZE, max(remaining, 1))))  # one buffer, read into again
    while remaining > 0:
        read = stream.readinto(buffer[: min(len(buffer), remaining)])
        if not read:
            return False
        hasher.update(buffer[:read])
        remaining -= read
    return hasher.digest() == stream.read(DIGEST_SIZE)


def _parse(mapped: mmap.mmap, size: int) -> CachedIndex | None:
    if mapped[: len(MAGIC)] != MAGIC:
        return None
    (header_length,) = _LENGTH.unpack_from(mapped, len(MAGIC))
    position = len(MAGIC) + _LENGTH.size
    header = msgpack.unpackb(mapped[position : position + header_length])
    position += header_length
    position += -position % ALIGNMENT
    pack_ids, sizes = list(header["packs"]), [int(size) for size in header["sizes"]]
    if len(pack_ids) != len(sizes) or not all(isinstance(pack_id, bytes) for pack_id in pack_ids):
        return None
    tables = []
    for count in (int(header["count"]), int(header["duplicates"])):
        columns = {}
        for name, dtype in COLUMNS:
            column_bytes = count * np.dtype(dtype).itemsize
            if position + column_bytes > size - DIGEST_SIZE:
                return None
            columns[name] = np.frombuffer(mapped, dtype=dtype, count=count, offset=position)
            position += column_bytes + (-column_bytes % ALIGNMENT)
        tables.append(BlobTable(columns))
    if position != size - DIGEST_SIZE:
        return None
    table, duplicates = tables
    index = Index.from_tables(pack_ids, sizes, table, duplicates)
    return CachedIndex(frozenset(str(name) for name in header["names"]), index)
