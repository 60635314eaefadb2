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

import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from resguardo.engine.blobtable import COLUMN_NAMES, Array, bytes_of, later_rows, sort_unique
from resguardo.engine.index import Index
from resguardo.engine.indexcache import encode_header, read_index_cache, write_cache_file
from resguardo.engine.indexdecode import IndexFileColumns
from resguardo.engine.indexspool import (
    DTYPES,
    ColumnSpool,
    read_rows,
    release_free_memory,
)

SEGMENT_ROWS = 1 << 18  # rows gathered at a time


class IndexLoader:
    """Builds an index from decoded index files (:func:`indexdecode.decode_index_columns`).

    Packs are numbered in the order the files list them; a pack listed twice keeps its first number
    and takes the last size given. Of blobs listed twice, the first location wins, the others are
    later locations (:meth:`Index.remove_packs` falls back on them), as :meth:`Index.add_packs` does.

    Args:
        spill_directories: folders for the spool's files, in order of preference (None: the system's
            temporary folder).
        spill_rows: from how many blobs on the spool uses files, and the index is not sorted in memory
            (default :data:`indexspool.SPILL_ROWS`).
    """

    def __init__(self, spill_directories: Sequence[str | None], spill_rows: int | None = None) -> None:
        self._spool = ColumnSpool(spill_directories, spill_rows)
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
        release_free_memory()  # what decoding freed
        try:
            if cache_path is not None:
                index = self._write_and_map(cache_path, names)
                if index is not None:
                    return index
            if len(self._spool) >= self._spool.spill_rows:
                index = self._write_and_map_temporary(names)
                if index is not None:
                    return index
            return self._in_memory()
        finally:
            self._spool.close()

    def _write_and_map_temporary(self, names: Sequence[str]) -> Index | None:
        """Write the sorted index to the system's temporary folder, map it and delete it.

        The mapping keeps the file's content until the process ends. None when it cannot be written.
        """
        try:
            with tempfile.TemporaryDirectory(prefix="resguardo-index-") as folder:
                return self._write_and_map(str(Path(folder) / "index"), names)
        except OSError:
            return None

    def _in_memory(self) -> Index:
        table, later = sort_unique({name: self._spool.column(name, release=True) for name in COLUMN_NAMES})
        return Index.from_tables(self._pack_ids, self._pack_sizes, table, later)

    def _write_and_map(self, path: str, names: Sequence[str]) -> Index | None:
        """Write the sorted cache file at ``path`` and map it; None when it cannot be written or read."""
        try:
            order, sorted_keys, later = self._sort()
        except OSError:
            return None
        count = len(order)
        header = encode_header(names, self._pack_ids, self._pack_sizes, count, len(later))
        sections = self._sections(order, [sorted_keys], later)
        del sorted_keys  # the sections free the keys once written
        if not write_cache_file(path, header, sections):
            return None
        cached = read_index_cache(path)
        if cached is None or cached.names != frozenset(names) or len(cached.index) != count:
            return None
        return cached.index

    def _sort(self) -> tuple[Array, Array, Array]:
        """Return (order of the first locations, their sorted keys, order of the later locations).

        ``order[i]`` is the spool row that goes to row ``i`` of the sorted table. At most the keys, a
        64-bit order and a 32-bit order (20 bytes a blob) are in memory at once.

        Raises:
            OSError: a spool file cannot be read.
        """
        keys = self._spool.column("keys")
        wide = np.argsort(keys, kind="stable")
        order = wide.astype(np.uint32) if len(wide) <= 0xFFFFFFFF else wide
        del wide
        sorted_keys = np.empty_like(keys)
        for start in range(0, len(order), SEGMENT_ROWS):
            sorted_keys[start : start + SEGMENT_ROWS] = keys[order[start : start + SEGMENT_ROWS]]
        del keys
        later = later_rows(sorted_keys, lambda rows: self._spool.rows("tails", order[rows]))
        if not len(later):
            return order, sorted_keys, order[:0]
        sorted_keys = np.delete(sorted_keys, later)
        later_order = order[later]
        return np.delete(order, later), sorted_keys, later_order

    def _sections(self, order: Array, keys: list[Array], later: Array) -> Iterator[Iterator[Array]]:
        """Yield the columns of the cache file: the table's, then those of the later locations.

        ``keys`` holds the sorted keys; it is emptied once they are written, to free them.

        Raises:
            OSError: a spool or scratch file cannot be read or written.
        """
        later_columns = {name: self._spool.rows(name, later) for name in COLUMN_NAMES}
        yield _released(keys)
        for name in COLUMN_NAMES[1:]:
            if self._spool.spilled and DTYPES[name].itemsize > 8:
                yield self._gathered_by_words(name, order)
                continue
            # Not released: a small spool keeps it in memory, for the in-memory sort should this write fail.
            column = self._spool.column(name)
            yield _gathered(column, order)
            del column
        for name in COLUMN_NAMES:
            yield iter([later_columns.pop(name)])

    def _gathered_by_words(self, name: str, order: Array) -> Iterator[Array]:
        """Yield ``column[order]`` in segments for a spooled column wider than 8 bytes (the ID tails).

        Each 8-byte word of the values is gathered on its own into a scratch file, and the segments
        are put together from those files: 8 bytes a blob in memory instead of the column's width.
        """
        width = DTYPES[name].itemsize // 8
        scratches: list[BinaryIO] = []
        try:
            for word in range(width):
                scratches.append(self._spool.scratch())
                values = self._spool.words(name, word)
                for segment in _gathered(values, order):
                    scratches[-1].write(bytes_of(segment))
                del values
            for start in range(0, len(order), SEGMENT_ROWS):
                count = min(SEGMENT_ROWS, len(order) - start)
                words = np.empty((count, width), dtype=np.uint64)
                for word, scratch in enumerate(scratches):
                    words[:, word] = read_rows(scratch, np.dtype(np.uint64), start, count)
                yield words.view(DTYPES[name]).reshape(-1)
        finally:
            for scratch in scratches:
                scratch.close()


def _released(holder: list[Array]) -> Iterator[Array]:
    yield holder.pop()


def _gathered(column: Array, order: Array) -> Iterator[Array]:
    """Yield ``column[order]`` a segment at a time (only a segment's row numbers are widened to 64 bits)."""
    for start in range(0, len(order), SEGMENT_ROWS):
        yield column[order[start : start + SEGMENT_ROWS]]
