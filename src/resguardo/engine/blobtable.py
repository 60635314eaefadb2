"""Blob tables: the index's blob locations as sorted fixed-size records in numpy columns.

A table holds, per blob, 50 bytes in eight parallel columns: the first 8 bytes of the blob ID read
big-endian as an unsigned 64-bit ``key``, the other 24 bytes of the ID (``tail``), the pack's number in
the index's pack table, the offset, length and raw length in the pack (32 bits each: packs and chunks
are at most 1 GiB), the blob type and the compression (8 bits each). Rows are sorted by key, so a
lookup is a binary search on the key column followed by a comparison of the full ID: a prefix alone
never decides, since a false match would let a backup skip a chunk it never stored.

The columns may be ordinary arrays or views of a memory-mapped cache file (:mod:`indexcache`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

ID_SIZE = 32
KEY_SIZE = 8
TAIL_SIZE = ID_SIZE - KEY_SIZE
BYTES_PER_BLOB = 50

# (column name, dtype), in the order of the cache file.
COLUMNS: tuple[tuple[str, npt.DTypeLike], ...] = (
    ("keys", np.uint64),
    ("tails", np.dtype(f"V{TAIL_SIZE}")),
    ("packs", np.uint32),
    ("offsets", np.uint32),
    ("lengths", np.uint32),
    ("raw_lengths", np.uint32),
    ("types", np.uint8),
    ("compressions", np.uint8),
)
COLUMN_NAMES = tuple(name for name, _dtype in COLUMNS)

Record = tuple[int, int, int, int, int, int]  # (pack number, type, offset, length, raw length, compression)
Array = npt.NDArray[Any]


def bytes_of(column: Array) -> memoryview:
    """Return a byte view of a contiguous column (no copy)."""
    return np.ascontiguousarray(column).reshape(-1).view(np.uint8).data.cast("B")


def split_ids(ids: bytes) -> tuple[Array, Array]:
    """Return the key and tail columns of concatenated 32-byte IDs."""
    raw = np.frombuffer(ids, dtype=np.uint8).reshape(-1, ID_SIZE)
    keys = np.ascontiguousarray(raw[:, :KEY_SIZE]).view(">u8").reshape(-1).astype(np.uint64)
    tails = np.ascontiguousarray(raw[:, KEY_SIZE:]).view(f"V{TAIL_SIZE}").reshape(-1)
    return keys, tails


def join_ids(keys: Array, tails: Array) -> bytes:
    """Return the concatenated 32-byte IDs of key and tail columns (the inverse of :func:`split_ids`)."""
    out = np.empty((len(keys), ID_SIZE), dtype=np.uint8)
    out[:, :KEY_SIZE] = keys.astype(">u8").view(np.uint8).reshape(-1, KEY_SIZE)
    out[:, KEY_SIZE:] = tails.view(np.uint8).reshape(-1, TAIL_SIZE)
    return out.tobytes()


class BlobTable:
    """Blob records sorted by key; read-only once built.

    A table of locations holds at most one row per blob ID; a table of later locations (duplicates)
    may hold several, earliest first.

    Args:
        columns: one array per name of :data:`COLUMN_NAMES`, all of the same length, sorted by key.
    """

    __slots__ = ("_field_views", "_key_view", "_tail_view", "columns", "keys", "tails")

    def __init__(self, columns: dict[str, Array]) -> None:
        self.columns = columns
        self.keys = columns["keys"]
        self.tails = columns["tails"]
        self._key_view = bytes_of(self.keys).cast("Q") if len(self.keys) else memoryview(b"")
        self._tail_view = bytes_of(self.tails) if len(self.keys) else None
        self._field_views = tuple(
            bytes_of(columns[name]).cast("I" if columns[name].itemsize == 4 else "B")
            if len(self.keys)
            else memoryview(b"")
            for name in ("packs", "types", "offsets", "lengths", "raw_lengths", "compressions")
        )

    @classmethod
    def empty(cls) -> BlobTable:
        """Return a table without records."""
        return cls({name: np.empty(0, dtype=dtype) for name, dtype in COLUMNS})

    def __len__(self) -> int:
        return len(self.keys)

    def find(self, blob_id: bytes) -> int:
        """Return the row of ``blob_id``, or -1 when the table does not hold it."""
        count = len(self.keys)
        if not count:
            return -1
        key = int.from_bytes(blob_id[:KEY_SIZE], "big")
        # A numpy scalar, never a Python int: searchsorted would convert the whole column for one.
        row = int(self.keys.searchsorted(np.uint64(key)))
        keys, tails, tail = self._key_view, self._tail_view, blob_id[KEY_SIZE:]
        assert tails is not None
        while row < count and keys[row] == key:
            if tails[row * TAIL_SIZE : (row + 1) * TAIL_SIZE] == tail:
                return row
            row += 1
        return -1

    def find_many(self, keys: Array, tails: Array) -> Array:
        """Return, for each (key, tail) pair, its row in the table or -1 (vectorized :meth:`find`)."""
        rows = np.full(len(keys), -1, dtype=np.int64)
        if not len(self.keys) or not len(keys):
            return rows
        positions = self.keys.searchsorted(keys)
        inside = positions < len(self.keys)
        clipped = np.where(inside, positions, 0)
        same_key = inside & (self.keys[clipped] == keys)
        hits = same_key & (self.tails[clipped] == tails)
        rows[hits] = clipped[hits]
        # Another ID with the same first 8 bytes sits first: look further, one by one (rare).
        for position in np.flatnonzero(same_key & ~hits):
            rows[position] = self.find(
                join_ids(keys[position : position + 1], tails[position : position + 1])
            )
        return rows

    def record(self, row: int) -> Record:
        """Return the record at ``row`` as (pack number, type, offset, length, raw length, compression)."""
        packs, types, offsets, lengths, raw_lengths, compressions = self._field_views
        return (packs[row], types[row], offsets[row], lengths[row], raw_lengths[row], compressions[row])

    def blob_id(self, row: int) -> bytes:
        """Return the full ID at ``row``."""
        assert self._tail_view is not None
        return self._key_view[row].to_bytes(KEY_SIZE, "big") + bytes(
            self._tail_view[row * TAIL_SIZE : (row + 1) * TAIL_SIZE]
        )

    def take(self, rows: Array) -> BlobTable:
        """Return a new in-memory table of the given rows (a boolean mask or sorted row numbers)."""
        return BlobTable({name: self.columns[name][rows] for name in COLUMN_NAMES})

    def rows(self, chunk: int = 65536) -> Iterator[tuple[bytes, Record]]:
        """Yield (blob ID, record) for every row, in key order."""
        for start in range(0, len(self), chunk):
            stop = min(start + chunk, len(self))
            ids = join_ids(self.keys[start:stop], self.tails[start:stop])
            fields = zip(
                *(
                    self.columns[name][start:stop].tolist()
                    for name in ("packs", "types", "offsets", "lengths", "raw_lengths", "compressions")
                ),
                strict=True,
            )
            for position, record in enumerate(fields):
                yield ids[position * ID_SIZE : (position + 1) * ID_SIZE], record


def table_from_records(items: Iterable[tuple[bytes, Record]]) -> tuple[BlobTable, BlobTable]:
    """Return (table, duplicates) of (blob ID, record) pairs; for an ID given twice the first wins.

    The duplicates table holds the later records of IDs given more than once, in the order given.
    """
    pairs = list(items)
    columns = columns_from_records([blob_id for blob_id, _record in pairs], [record for _id, record in pairs])
    return sort_unique(columns)


def columns_from_records(ids: Sequence[bytes], records: Sequence[Record]) -> dict[str, Array]:
    """Return unsorted columns for parallel lists of blob IDs and records."""
    keys, tails = split_ids(b"".join(ids))
    fields = np.array(records, dtype=np.int64).reshape(-1, 6)
    if len(fields) and (fields.min() < 0 or fields.max() > 0xFFFFFFFF or fields[:, [1, 5]].max() > 0xFF):
        raise ValueError("a blob record has a field out of range")
    columns = {"keys": keys, "tails": tails}
    for position, name in enumerate(("packs", "types", "offsets", "lengths", "raw_lengths", "compressions")):
        columns[name] = fields[:, position].astype(dict(COLUMNS)[name])
    return columns


def concatenate(parts: Sequence[dict[str, Array]]) -> dict[str, Array]:
    """Return the columns of several column sets one after another."""
    if not parts:
        return {name: np.empty(0, dtype=dtype) for name, dtype in COLUMNS}
    return {name: np.concatenate([part[name] for part in parts]) for name in COLUMN_NAMES}


def sort_unique(columns: dict[str, Array]) -> tuple[BlobTable, BlobTable]:
    """Sort unsorted columns by key into (table, duplicates): the first row of each ID wins.

    The sort is stable, so of rows with the same ID the earliest stays in the table; the others go
    to the duplicates table (sorted by key, earliest first within an ID).
    """
    order = np.argsort(columns["keys"], kind="stable")
    for name in COLUMN_NAMES:
        columns[name] = columns[name][order]
    del order
    tails = columns["tails"]
    later = np.zeros(len(tails), dtype=bool)
    later[later_rows(columns["keys"], lambda rows: tails[rows])] = True
    if not later.any():
        return BlobTable(columns), BlobTable.empty()
    kept = ~later
    return (
        BlobTable({name: column[kept] for name, column in columns.items()}),
        BlobTable({name: column[later] for name, column in columns.items()}),
    )


def later_rows(keys: Array, tails_of: Callable[[Array], Array]) -> Array:
    """Return the rows that repeat the ID of an earlier row, of rows sorted by key (stably).

    Args:
        keys: the sorted key column.
        tails_of: returns the tails of the given rows (sorted row numbers); it is asked only about
            rows whose key another row shares, so the tail column need not be in memory.
    """
    shared = np.flatnonzero(keys[1:] == keys[:-1])
    if not len(shared):
        return np.empty(0, dtype=np.int64)
    rows = np.union1d(shared, shared + 1)
    later: list[int] = []
    seen: set[bytes] = set()
    previous_row, previous_key = -2, None
    for row, key, tail in zip(rows.tolist(), keys[rows].tolist(), tails_of(rows).tolist(), strict=True):
        if row != previous_row + 1 or key != previous_key:
            seen = set()  # a new run of rows sharing a key
        if tail in seen:
            later.append(row)
        seen.add(tail)
        previous_row, previous_key = row, key
    return np.array(later, dtype=np.int64)


def sorted_table(columns: dict[str, Array]) -> BlobTable:
    """Return a table of unsorted columns sorted by key (stable: rows of one ID keep their order).

    Unlike :func:`sort_unique` this keeps every row, so the table may hold an ID more than once.
    """
    order = np.argsort(columns["keys"], kind="stable")
    return BlobTable({name: column[order] for name, column in columns.items()})


def merge(tables: Sequence[BlobTable], live_packs: Array) -> BlobTable:
    """Return one table of the rows of ``tables`` whose pack is live (``live_packs[number]`` true).

    The tables must not hold the same ID in two live rows.
    """
    parts = []
    for table in tables:
        alive = live_packs[table.columns["packs"]].astype(bool)
        parts.append({name: table.columns[name][alive] for name in COLUMN_NAMES})
    return sorted_table(concatenate(parts))
