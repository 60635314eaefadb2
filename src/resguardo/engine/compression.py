"""zstd compression of blobs, with incompressible data stored raw after a cheap test."""

from __future__ import annotations

import threading
from enum import IntEnum

import zstandard

from resguardo.core.errors import ConfigurationError, IntegrityError

SAMPLE_SIZE = 64 * 1024
SAMPLE_THRESHOLD = 256 * 1024
INCOMPRESSIBLE_RATIO = 0.97


class Compression(IntEnum):
    """How a blob's plaintext is stored inside its envelope."""

    NONE = 0
    ZSTD = 1


class Compressor:
    """Compresses blobs with zstd at a fixed level; safe to share between threads.

    Args:
        level: zstd level, 1 (fastest) to 19, or 0 to store everything uncompressed.

    Raises:
        ConfigurationError: the level is out of range.
    """

    def __init__(self, level: int = 3) -> None:
        if not 0 <= level <= 19:
            raise ConfigurationError(
                f"compression level {level} is out of range", "use 0 (off) or a zstd level from 1 to 19"
            )
        self.level = level
        self._local = threading.local()

    def _compressor(self) -> zstandard.ZstdCompressor:
        compressor = getattr(self._local, "compressor", None)
        if compressor is None:
            compressor = zstandard.ZstdCompressor(level=self.level, write_content_size=True)
            self._local.compressor = compressor
        return compressor

    def _looks_incompressible(self, data: bytes | memoryview) -> bool:
        """Compress a sample from the middle of a large blob and judge the rest by it."""
        if len(data) < SAMPLE_THRESHOLD:
            return False
        start = (len(data) - SAMPLE_SIZE) // 2
        sample = memoryview(data)[start : start + SAMPLE_SIZE]
        compressed = self._compressor().compress(sample)
        return len(compressed) >= INCOMPRESSIBLE_RATIO * SAMPLE_SIZE

    def compress(self, data: bytes | memoryview) -> tuple[bytes | memoryview, Compression]:
        """Return the bytes to store and how they are stored.

        Data that a sample shows to be incompressible, or that does not shrink, is stored raw.
        """
        if self.level == 0 or not data or self._looks_incompressible(data):
            return data, Compression.NONE
        compressed = self._compressor().compress(data)
        if len(compressed) >= len(data):
            return data, Compression.NONE
        return compressed, Compression.ZSTD


_DECOMPRESSORS = threading.local()


def decompress(stored: bytes, compression: int, raw_length: int) -> bytes:
    """Return the plaintext of a stored blob.

    Raises:
        IntegrityError: unknown compression, corrupt frame, or a length other than ``raw_length``.
    """
    if compression == Compression.NONE:
        plaintext = stored
    elif compression == Compression.ZSTD:
        decompressor = getattr(_DECOMPRESSORS, "decompressor", None)
        if decompressor is None:
            decompressor = zstandard.ZstdDecompressor()
            _DECOMPRESSORS.decompressor = decompressor
        try:
            plaintext = decompressor.decompress(stored, max_output_size=raw_length)
        except zstandard.ZstdError as error:
            raise IntegrityError(f"compressed blob is corrupt: {error}") from None
    else:
        raise IntegrityError(f"unknown compression {compression}")
    if len(plaintext) != raw_length:
        raise IntegrityError(f"blob decompressed to {len(plaintext)} bytes, expected {raw_length}")
    return plaintext
