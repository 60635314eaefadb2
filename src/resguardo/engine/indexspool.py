"""A spool of unsorted blob columns: in memory while small, then in unlinked temporary files.

The index loader (:mod:`indexload`) appends each decoded index file's columns here, then reads them
back a column at a time. Files are written and read with ordinary writes and reads, never mapped:
their pages stay in the page cache, which the kernel manages and does not count in the process's
resident memory. The files are unlinked from the start, so nothing is left behind, even by a
process that is killed.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import numpy as np

from resguardo.engine.blobtable import COLUMN_NAMES, COLUMNS, Array, bytes_of

SPILL_ROWS = 1 << 20  # blobs (50 MB of columns): a larger spool goes to files
SEGMENT_ROWS = 1 << 18  # rows read at a time when the spool picks rows
DTYPES = {name: np.dtype(dtype) for name, dtype in COLUMNS}


class ColumnSpool:
    """Unsorted blob columns, appended a part at a time; in memory until large, then in files.

    Args:
        directories: folders to try, in order, for the files (None: the system's temporary folder);
            none: always in memory.
        spill_rows: how many rows it holds in memory before it moves them to files (default
            :data:`SPILL_ROWS`).
    """

    def __init__(self, directories: Sequence[str | None], spill_rows: int | None = None) -> None:
        self._directories = list(directories)
        self.spill_rows = SPILL_ROWS if spill_rows is None else spill_rows
        self._parts: dict[str, list[Array]] = {name: [] for name in COLUMN_NAMES}
        self._files: dict[str, BinaryIO] = {}
        self._directory: str | None = None
        self._spilled = False
        self._rows = 0

    def __len__(self) -> int:
        return self._rows

    @property
    def spilled(self) -> bool:
        """Whether the columns are in files."""
        return self._spilled

    def append(self, columns: dict[str, Array]) -> None:
        """Append rows: one array per column name, all of the same length."""
        if self._files:
            for name in COLUMN_NAMES:
                self._files[name].write(bytes_of(columns[name]))
        else:
            for name in COLUMN_NAMES:
                self._parts[name].append(columns[name])
            if self._rows + len(columns["keys"]) >= self.spill_rows:
                self._spill()
        self._rows += len(columns["keys"])

    def _spill(self) -> None:
        for directory in self._directories:
            files: dict[str, BinaryIO] = {}
            try:
                if directory is not None:
                    Path(directory).mkdir(parents=True, exist_ok=True)
                for name in COLUMN_NAMES:
                    files[name] = scratch_file(directory)
            except OSError:
                for stream in files.values():
                    stream.close()
                continue
            for name, parts in self._parts.items():
                for part in parts:
                    files[name].write(bytes_of(part))
                parts.clear()
            self._files, self._directory, self._spilled = files, directory, True
            return

    def scratch(self) -> BinaryIO:
        """Return a new unlinked temporary file beside the spool's files (only once spilled).

        Raises:
            OSError: the file cannot be created.
        """
        if not self._spilled:
            raise OSError("the spool has no folder")
        return scratch_file(self._directory)

    def column(self, name: str, *, release: bool = False) -> Array:
        """Return a whole column; with ``release``, the spool forgets it (in memory) to free it sooner.

        Raises:
            OSError: a file cannot be read.
        """
        if self._files:
            return read_rows(self._files[name], DTYPES[name], 0, self._rows)
        parts = self._parts[name]
        whole = np.concatenate(parts) if parts else np.empty(0, dtype=DTYPES[name])
        parts[:] = [] if release else [whole]
        return whole

    def words(self, name: str, word: int) -> Array:
        """Return the ``word``-th 8 bytes of every value of a column (as uint64), reading it in segments.

        Raises:
            OSError: a file cannot be read.
        """
        width = DTYPES[name].itemsize // 8
        if not self._files:
            return self.column(name).view(np.uint64).reshape(-1, width)[:, word].copy()
        values = np.empty(self._rows, dtype=np.uint64)
        for start in range(0, self._rows, SEGMENT_ROWS):
            segment = self._segment(name, start)
            values[start : start + len(segment)] = segment.view(np.uint64).reshape(-1, width)[:, word]
        return values

    def rows(self, name: str, positions: Array) -> Array:
        """Return the values of a column at the given row numbers (in their order).

        Raises:
            OSError: a file cannot be read.
        """
        if not self._files:
            return self.column(name)[positions]
        order = np.argsort(positions, kind="stable")
        wanted = positions[order]
        values = np.empty(len(positions), dtype=DTYPES[name])
        for start in range(0, self._rows, SEGMENT_ROWS):
            low, high = wanted.searchsorted([start, start + SEGMENT_ROWS])
            if low < high:
                segment = self._segment(name, start)
                values[order[low:high]] = segment[wanted[low:high] - start]
        return values

    def _segment(self, name: str, start: int) -> Array:
        return read_rows(self._files[name], DTYPES[name], start, min(SEGMENT_ROWS, self._rows - start))

    def close(self) -> None:
        """Drop the columns and delete the files."""
        for stream in self._files.values():
            with contextlib.suppress(OSError):
                stream.close()
        self._files, self._directory, self._spilled = {}, None, False
        self._parts = {name: [] for name in COLUMN_NAMES}
        self._rows = 0


def scratch_file(directory: str | None) -> BinaryIO:
    """Return a new unlinked temporary file, open for reading and writing.

    Args:
        directory: where (None: the system's temporary folder).


    Raises:
        OSError: the file cannot be created.
    """
    return tempfile.TemporaryFile(dir=directory)


def read_rows(stream: BinaryIO, dtype: np.dtype[np.generic], start: int, count: int) -> Array:
    """Return ``count`` values of ``dtype`` from row ``start`` of a file of such values.

    Raises:
        OSError: the file cannot be read, or ends early.
    """
    stream.flush()
    values = np.empty(count, dtype=dtype)
    view = bytes_of(values)
    done = 0
    while done < len(view):
        read = os.preadv(stream.fileno(), [view[done:]], start * dtype.itemsize + done)
        if read <= 0:
            raise OSError(f"a temporary index file ended {len(view) - done} bytes early")
        done += read
    return values


def release_free_memory() -> None:
    """Hand the C heap's free pages back to the system, where the C library can (glibc's malloc_trim).

    Decoding index files frees buffers of a few megabytes between smaller allocations; glibc keeps
    such holes in its heap, which count as resident memory (about 60 MB after decoding 40 files).
    """
    with contextlib.suppress(OSError, AttributeError, TypeError):  # not glibc: nothing to do
        ctypes.CDLL(None).malloc_trim(0)
