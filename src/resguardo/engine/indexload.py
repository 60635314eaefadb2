"""Loading the whole index from its files, in memory bounded by a few bytes a blob.

When no cache covers the index files (the first open on a machine, or the cache is outdated), every
index file is decoded. Doing that into Python objects, then sorting the columns in memory, peaked at
144 bytes a blob. :class:`IndexLoader` instead

1. decodes each file straight into columns (:mod:`indexdecode`) and appends them to a
   :class:`ColumnSpool`: in memory while small, in unlinked temporary files once it holds
   :data:`SPILL_ROWS` blobs (written through the page cache, which does not count against the process);
2. sorts: it reads back the 8-byte key column only, sorts it (a stable argsort, so the first location
   of an ID stays first), and keeps the permutation as 4-byte row numbers;
3. writes the cache file (:mod:`indexcache`) column by column: each column is read back whole and
   gathered through the permutation in segments straight into the file; at most the permutation,
   one column (24 bytes a blob for the ID tails) and one segment are in memory;
4. maps the file, so that the operating system pages the index in and out.

Without a cache folder, a small index is sorted in memory; a large one is written the same way to a
file in the system's temporary folder, mapped, and unlinked at once (the mapping keeps it until the
process ends), so that an index larger than memory works without a cache folder too.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from resguardo.engine.blobtable import COLUMN_NAMES, COLUMNS, Array, later_rows, sort_unique
from resguardo.engine.index import Index
from resguardo.engine.indexcache import encode_header, read_index_cache, write_cache_file
from resguardo.engine.indexdecode import IndexFileColumns

SPILL_ROWS = 1 << 20  # blobs (50 MB of columns): a larger index goes through files
SEGMENT_ROWS = 1 << 18  # rows gathered or read at a time
_DTYPES = {name: np.dtype(dtype) for name, dtype in COLUMNS}


class ColumnSpool:
    """Unsorted blob columns, appended a part at a time; in memory until large, then in files.

    Args:
        directories: folders to try, in order, for the files; none: always in memory.
        spill_rows: how many rows it holds in memory before it moves them to files.
    """

    def __init__(self, directories: Sequence[str], spill_rows: int = SPILL_ROWS) -> None:
        self._directories = list(directories)
        self._spill_rows = spill_rows
        self._parts: dict[str, list[Array]] = {name: [] for name in COLUMN_NAMES}
        self._files: dict[str, BinaryIO] = {}
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    @property
    def spilled(self) -> bool:
        """Whether the columns are in files."""
        return bool(self._files)

    def append(self, columns: dict[str, Array]) -> None:
        """Append rows: one array per column name, all of the same length."""
        if self._files:
            for name in COLUMN_NAMES:
                self._files[name].write(np.ascontiguousarray(columns[name]).data)
        else:
            for name in COLUMN_NAMES:
                self._parts[name].append(columns[name])
            if self._rows + len(columns["keys"]) >= self._spill_rows:
                self._spill()
        self._rows += len(columns["keys"])

    def _spill(self) -> None:
        for directory in self._directories:
            try:
                Path(directory).mkdir(parents=True, exist_ok=True)
                files = {name: tempfile.TemporaryFile(dir=directory) for name in COLUMN_NAMES}
            except OSError:
                continue
            for name, parts in self._parts.items():
                for part in parts:
                    files[name].write(np.ascontiguousarray(part).data)
                parts.clear()
            self._files = files
            return

    def column(self, name: str, *, release: bool = False) -> Array:
        """Return a whole column; with ``release``, the spool forgets it (in memory) to free it sooner."""
        if self._files:
            return self._read(name, 0, self._rows)
        parts = self._parts[name]
        whole = np.concatenate(parts) if parts else np.empty(0, dtype=_DTYPES[name])
        parts[:] = [] if release else [whole]
        return whole

    def rows(self, name: str, positions: Array) -> Array:
        """Return the values of a column at the given row numbers (in their order)."""
        if not self._files:
            return self.column(name)[positions]
        order = np.argsort(positions, kind="stable")
        wanted = positions[order]
        values = np.empty(len(positions), dtype=_DTYPES[name])
        for start in range(0, self._rows, SEGMENT_ROWS):
            low, high = wanted.searchsorted([start, start + SEGMENT_ROWS])
            if low < high:
                segment = self._read(name, start, min(SEGMENT_ROWS, self._rows - start))
                values[order[low:high]] = segment[wanted[low:high] - start]
        return values

    def _read(self, name: str, start: int, count: int) -> Array:
        stream = self._files[name]
        stream.flush()
        values = np.empty(count, dtype=_DTYPES[name])
        view = memoryview(values.view(np.uint8).reshape(-1))
        itemsize = _DTYPES[name].itemsize
        done = 0
        while done < len(view):
            read = os.preadv(stream.fileno(), [view[done:]], start * itemsize + done)
            if read <= 0:
                raise OSError(f"index spool file ended {len(view) - done} bytes early")
            done += read
        return values

    def close(self) -> None:
        """Drop the columns and delete the files."""
        for stream in self._files.values():
            with contextlib.suppress(OSError):
                stream.close()
        self._files = {}
        self._parts = {name: [] for name in COLUMN_NAMES}
        self._rows = 0


class IndexLoader:
    """Builds an index from decoded index files (:func:`indexdecode.decode_index_columns`).

    Packs are numbered in the order the files list them; a pack listed twice keeps its first number
    and takes the last size given. Of blobs listed twice, the first location wins, the others are
    later locations (:meth:`Index.remove_packs` falls back on them), as :meth:`Index.add_packs` does.

    Args:
        spill_directories: folders for the spool's files, in order of preference.
        spill_rows: from how many blobs on the spool uses files, and the index is not sorted in memory.
    """

    def __init__(self, spill_directories: Sequence[str], spill_rows: int = SPILL_ROWS) -> None:
        self._spool = ColumnSpool(spill_directories, spill_rows)
        self._spill_rows = spill_rows
        self._pack_ids: list[bytes] = []
        self._pack_sizes: list[int] = []
        self._numbers: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._spool)

    def add(self, decoded: IndexFileColumns) -> None:
        """Add the packs and blobs of one index file."""
        numbers = np.empty(len(decoded.pack_ids), dtype=np.uint32)
        for position, (pack_id, size) in enumerate(zip(decoded.pack_ids, decoded.pack_sizes, strict=True)):
            number = self._numbers.setdefault(pack_id, len(self._pack_ids))
            if number == len(self._pack_ids):
                if number > 0xFFFFFFFF:
                    raise ValueError("the index cannot hold more than 2**32 packs")
                self._pack_ids.append(pack_id)
                self._pack_sizes.append(size)
            self._pack_sizes[number] = size
            numbers[position] = number
        self._spool.append({**decoded.columns, "packs": numbers[decoded.columns["packs"]]})

    def finish(self, cache_path: str | None, names: Sequence[str]) -> Index:
        """Return the index of everything added; the loader is empty afterwards.

        Args:
            cache_path: where to write the index cache (then mapped from it), or None.
            names: the index files added, which the cache file covers.
        """
        try:
            if cache_path is not None:
                index = self._write_and_map(cache_path, names)
                if index is not None:
                    return index
            if len(self._spool) >= self._spill_rows:
                with tempfile.TemporaryDirectory(prefix="resguardo-index-") as folder:
                    index = self._write_and_map(str(Path(folder) / "index"), names)
                if index is not None:  # mapped: the file lives on, unlinked, until the process ends
                    return index
            return self._in_memory()
        finally:
            self._spool.close()

    def _in_memory(self) -> Index:
        table, later = sort_unique({name: self._spool.column(name, release=True) for name in COLUMN_NAMES})
        return Index.from_tables(self._pack_ids, self._pack_sizes, table, later)

    def _write_and_map(self, path: str, names: Sequence[str]) -> Index | None:
        """Write the sorted cache file at ``path`` and map it; None when it cannot be written or read."""
        try:
            order, keys, later = self._sort()
        except OSError:
            return None
        header = encode_header(names, self._pack_ids, self._pack_sizes, len(order), len(later))
        count = len(order)
        if not write_cache_file(path, header, self._sections(order, [keys], later)):
            return None
        cached = read_index_cache(path)
        if cached is None or cached.names != frozenset(names) or len(cached.index) != count:
            return None
        return cached.index

    def _sort(self) -> tuple[Array, Array, Array]:
        """Return (order of the first locations, their sorted keys, order of the later locations).

        ``order[i]`` is the spool row that goes to row ``i`` of the sorted table.
        """
        keys = self._spool.column("keys")
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        del keys
        if len(order) <= 0xFFFFFFFF:
            order = order.astype(np.uint32)  # half the memory for the rest of the load
        later = later_rows(sorted_keys, lambda rows: self._spool.rows("tails", order[rows]))
        if not len(later):
            return order, sorted_keys, order[:0]
        return np.delete(order, later), np.delete(sorted_keys, later), order[later]

    def _sections(self, order: Array, keys: list[Array], later: Array) -> Iterator[Iterator[Array]]:
        """Yield the columns of the cache file: the table's, then those of the later locations.

        ``keys`` holds the sorted keys; it is emptied once they are written, to free them.
        """
        later_columns = {"keys": keys[0][:0]}
        if len(later):
            later_columns["keys"] = self._spool.rows("keys", later)
        yield _released(keys)
        for name in COLUMN_NAMES[1:]:
            column = self._spool.column(name)  # kept in memory when small: the write may fail, then sort in memory
            later_columns[name] = column[later]
            yield _gathered(column, order)
            del column
        for name in COLUMN_NAMES:
            yield iter([later_columns.pop(name)])


def _released(holder: list[Array]) -> Iterator[Array]:
    yield holder.pop()


def _gathered(column: Array, order: Array) -> Iterator[Array]:
    """Yield ``column[order]`` a segment at a time (only a segment's row numbers are widened to 64 bits)."""
    for start in range(0, len(order), SEGMENT_ROWS):
        yield column[order[start : start + SEGMENT_ROWS]]
