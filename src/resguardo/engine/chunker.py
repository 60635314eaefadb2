"""Content-defined chunking: split a stream into chunks whose boundaries depend only on the content.

The algorithm is FastCDC: a 64-bit gear rolling hash (``hash = (hash << 1) + table[byte]``) is tested
against a mask of its high bits, ``(hash & mask) == 0``, so that each decision depends on the last 64
bytes; a chunk ends just after the byte whose hash matched. The first ``min_size`` bytes of every chunk
are skipped without hashing (the hash starts at 0 after them). Until ``average_size`` bytes a stricter
mask (log2(average) + 2 bits) is used, after it a looser one (log2(average) - 2 bits), which draws chunk
sizes close to the average (normalized chunking, level 2); a chunk ends at ``max_size`` bytes at the
latest. With the defaults (512 KiB, 1 MiB, 8 MiB) chunks average about 1.2 MiB.

The gear table is keyed per repository (:func:`gear_table`), so boundaries, and hence chunk sizes,
reveal nothing that could be compared across repositories.

The byte loop runs in the native module ``resguardo.engine._chunker``, without the GIL, so several
threads can chunk at once. Its contract is that of :meth:`Chunker.cut_points` (and of ``cut_points`` in
``_chunker.c``): it reports only boundaries already decided by the bytes it was given, which is what
makes the result independent of how the input was read.
"""

from __future__ import annotations

import importlib
import io
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

import blake3

ALGORITHM: Final = "fastcdc-gear64-v1"
"""Name stored with the parameters; a repository chunked differently must say so."""

GEAR_TABLE_CONTEXT: Final = b"resguardo chunker gear table v1"
GEAR_TABLE_BYTES: Final = 256 * 8
KEY_BYTES: Final = 32
NORMALIZATION_LEVEL: Final = 2
SMALLEST_MIN_SIZE: Final = 64
LARGEST_MAX_SIZE: Final = 1024 * 1024 * 1024
DEFAULT_READ_SIZE: Final = 8 * 1024 * 1024

_CutPoints = Callable[[bytes, bytes | bytearray | memoryview, int, int, int, int, int, bool], list[int]]

# Imported by name and typed here, so that no stub file is needed for the extension.
_cut_points: _CutPoints = importlib.import_module("resguardo.engine._chunker").cut_points


@dataclass(frozen=True)
class ChunkerParameters:
    """The chunk sizes of a repository, in bytes; fixed when the repository is created.

    Args:
        min_size: no chunk but the last of a stream is shorter (at least 64).
        average_size: the target size, a power of two, min_size < average_size.
        max_size: no chunk is longer; average_size < max_size <= 1 GiB.

    Raises:
        TypeError: a size is not an int.
        ValueError: the sizes break one of the rules above; the message says which.
    """

    min_size: int = 512 * 1024
    average_size: int = 1024 * 1024
    max_size: int = 8 * 1024 * 1024

    def __post_init__(self) -> None:
        for name in ("min_size", "average_size", "max_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise TypeError(f"chunker {name} must be an int, not {type(value).__name__}")
        if self.min_size < SMALLEST_MIN_SIZE:
            raise ValueError(f"chunker min_size must be at least {SMALLEST_MIN_SIZE}, got {self.min_size}")
        if self.average_size <= self.min_size:
            raise ValueError(
                f"chunker average_size ({self.average_size}) must be larger than min_size ({self.min_size})"
            )
        if self.max_size <= self.average_size:
            raise ValueError(
                f"chunker max_size ({self.max_size}) must be larger than average_size ({self.average_size})"
            )
        if self.average_size & (self.average_size - 1):
            raise ValueError(f"chunker average_size must be a power of two, got {self.average_size}")
        if self.max_size > LARGEST_MAX_SIZE:
            raise ValueError(
                f"chunker max_size must be at most {LARGEST_MAX_SIZE} (1 GiB), got {self.max_size}"
            )

    @property
    def masks(self) -> tuple[int, int]:
        """Return ``(mask_small, mask_large)``: the high-bit masks used below and above the average."""
        bits = self.average_size.bit_length() - 1
        small_bits = bits + NORMALIZATION_LEVEL
        large_bits = bits - NORMALIZATION_LEVEL
        mask_small = ((1 << small_bits) - 1) << (64 - small_bits)
        mask_large = ((1 << large_bits) - 1) << (64 - large_bits)
        return mask_small, mask_large

    def to_dict(self) -> dict[str, Any]:
        """Return the parameters as a JSON-ready dict, for the repository config."""
        return {
            "algorithm": ALGORITHM,
            "min_size": self.min_size,
            "average_size": self.average_size,
            "max_size": self.max_size,
        }

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> ChunkerParameters:
        """Rebuild parameters from :meth:`to_dict` output.

        Args:
            document: a mapping with ``min_size``, ``average_size``, ``max_size`` and optionally
                ``algorithm`` (which must then be this module's :data:`ALGORITHM`).

        Returns:
            The validated parameters.

        Raises:
            TypeError: ``document`` is not a mapping, or a size is not an int.
            ValueError: a key is missing or unknown, the algorithm is another one, or the sizes are invalid.
        """
        if not isinstance(document, Mapping):
            raise TypeError(f"chunker parameters must be a mapping, not {type(document).__name__}")
        known = {"algorithm", "min_size", "average_size", "max_size"}
        unknown = sorted(str(key) for key in document if key not in known)
        if unknown:
            raise ValueError(f"unknown chunker parameters: {', '.join(unknown)}")
        missing = [key for key in ("min_size", "average_size", "max_size") if key not in document]
        if missing:
            raise ValueError(f"missing chunker parameters: {', '.join(missing)}")
        algorithm = document.get("algorithm", ALGORITHM)
        if algorithm != ALGORITHM:
            raise ValueError(f"chunking algorithm {algorithm!r} is not supported (only {ALGORITHM!r})")
        return cls(
            min_size=document["min_size"],
            average_size=document["average_size"],
            max_size=document["max_size"],
        )


def gear_table(key: bytes) -> bytes:
    """Derive the repository's gear table from its chunker key.

    Args:
        key: the 32-byte secret chunker key (derived from the repository's master key).

    Returns:
        2048 bytes: 256 little-endian uint64, one per byte value.

    Raises:
        TypeError: ``key`` is not bytes.
        ValueError: ``key`` is not 32 bytes long.
    """
    if not isinstance(key, bytes):
        raise TypeError(f"chunker key must be bytes, not {type(key).__name__}")
    if len(key) != KEY_BYTES:
        raise ValueError(f"chunker key must be {KEY_BYTES} bytes, got {len(key)}")
    table: bytes = blake3.blake3(GEAR_TABLE_CONTEXT, key=key).digest(length=GEAR_TABLE_BYTES)
    return table


class Chunker:
    """Splits streams and buffers into content-defined chunks for one repository.

    Args:
        key: the repository's 32-byte chunker key.
        parameters: the repository's chunk sizes.

    Raises:
        TypeError: ``key`` is not bytes.
        ValueError: ``key`` is not 32 bytes long.

    An instance holds no state between calls; one may be shared by several threads.
    """

    def __init__(self, key: bytes, parameters: ChunkerParameters = ChunkerParameters()) -> None:
        self.parameters: Final = parameters
        self._table = gear_table(key)
        self._mask_small, self._mask_large = parameters.masks

    def cut_points(self, data: bytes | bytearray | memoryview, at_end: bool) -> list[int]:
        """Return the end offsets of the chunks of ``data`` (see the module docstring).

        Args:
            data: a contiguous buffer whose offset 0 is the start of a chunk.
            at_end: true when nothing follows ``data``; the rest is then the last chunk.

        Returns:
            Increasing end offsets, exclusive. Without ``at_end`` the bytes after the last one are an
            undecided chunk to carry over; with it the last one is ``len(data)`` (if data is not empty).
        """
        parameters = self.parameters
        return _cut_points(
            self._table,
            data,
            parameters.min_size,
            self._mask_small,
            self._mask_large,
            parameters.average_size,
            parameters.max_size,
            at_end,
        )

    def split(self, stream: BinaryIO, read_size: int = DEFAULT_READ_SIZE) -> Iterator[bytes]:
        """Yield the chunks of the stream in order, each a separate bytes object.

        The chunks are safe to hand to another thread. An empty stream yields nothing. Boundaries depend
        only on the content: not on ``read_size``, nor on how many bytes each read returns (pipes and
        sockets may return fewer than asked). Memory use is about ``max_size + read_size``.

        Args:
            stream: a blocking binary stream, read to its end. ``readinto`` is used when the stream is an
                ``io`` stream, ``read`` otherwise.
            read_size: the most bytes asked for in one read (at least 1).

        Yields:
            The chunks, whose concatenation is the stream's content.

        Raises:
            ValueError: ``read_size`` is less than 1, or the stream is non-blocking and had no data ready.
            OSError: reading the stream failed (propagated).
        """
        if read_size < 1:
            raise ValueError(f"read_size must be at least 1, got {read_size}")
        read_into = _reader(stream)
        capacity = self.parameters.max_size + read_size
        view = memoryview(bytearray(capacity))
        filled = 0
        at_end = False
        while not at_end:
            # Fill the buffer: at least max_size bytes are then present (unless the stream ended),
            # so every round yields a chunk and re-scans at most one undecided chunk from the last.
            while filled < capacity:
                count = read_into(view[filled : min(capacity, filled + read_size)])
                if count == 0:
                    at_end = True
                    break
                filled += count
            start = 0
            for end in self.cut_points(view[:filled], at_end):
                yield bytes(view[start:end])
                start = end
            view[: filled - start] = view[start:filled]  # memoryview copies overlapping ranges safely
            filled -= start

    def split_bytes(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Return the chunks of a whole buffer, in order; an empty buffer gives an empty list.

        Args:
            data: any contiguous buffer.

        Returns:
            The chunks, each a separate bytes object; their concatenation equals ``data``.
        """
        view = memoryview(data).cast("B")
        chunks: list[bytes] = []
        start = 0
        for end in self.cut_points(view, at_end=True):
            chunks.append(bytes(view[start:end]))
            start = end
        return chunks


def _reader(stream: BinaryIO) -> Callable[[memoryview], int]:
    """Return a function that reads from ``stream`` into a memoryview and returns the count (0 at the end)."""
    if isinstance(stream, io.RawIOBase | io.BufferedIOBase):
        readinto = stream.readinto

        def read_into(target: memoryview) -> int:
            count = readinto(target)
            if count is None:
                raise ValueError(
                    "the stream is non-blocking and had no data ready; chunking needs blocking reads"
                )
            return count

        return read_into

    def read_and_copy(target: memoryview) -> int:
        block = stream.read(len(target))
        count = len(block)
        if count > len(target):
            raise ValueError(f"the stream returned {count} bytes where at most {len(target)} were asked")
        target[:count] = block
        return count

    return read_and_copy
