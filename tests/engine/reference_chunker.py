"""A slow, plain-Python statement of the chunking algorithm, used only by tests to check the native code.

It is written for obviousness, not speed, and shares no code with ``resguardo.engine.chunker``: the gear
table and the masks are derived here again from their definitions.
"""

from __future__ import annotations

import blake3

GEAR_TABLE_CONTEXT = b"resguardo chunker gear table v1"
NORMALIZATION_LEVEL = 2
UINT64 = (1 << 64) - 1


def reference_gear_table(key: bytes) -> list[int]:
    """Return the 256 gear values for a 32-byte key, as Python ints."""
    raw = blake3.blake3(GEAR_TABLE_CONTEXT, key=key).digest(length=2048)
    return [int.from_bytes(raw[8 * index : 8 * index + 8], "little") for index in range(256)]


def reference_masks(average_size: int) -> tuple[int, int]:
    """Return (mask_small, mask_large): the top log2(average)+2 and log2(average)-2 bits of a uint64."""
    bits = average_size.bit_length() - 1
    assert average_size == 1 << bits
    small_bits = bits + NORMALIZATION_LEVEL
    large_bits = bits - NORMALIZATION_LEVEL
    mask_small = ((1 << small_bits) - 1) << (64 - small_bits)
    mask_large = ((1 << large_bits) - 1) << (64 - large_bits)
    return mask_small, mask_large


def reference_chunk_end(
    table: list[int],
    data: bytes,
    min_size: int,
    mask_small: int,
    mask_large: int,
    average_size: int,
    max_size: int,
) -> int | None:
    """Length of the chunk starting at data[0], or None when more data could still change it."""
    hash_value = 0
    for index in range(min_size, min(len(data), max_size)):
        hash_value = ((hash_value << 1) + table[data[index]]) & UINT64
        mask = mask_small if index < average_size else mask_large
        if hash_value & mask == 0:
            return index + 1
    if len(data) >= max_size:
        return max_size
    return None


def reference_cut_points(
    table: list[int],
    data: bytes,
    min_size: int,
    mask_small: int,
    mask_large: int,
    average_size: int,
    max_size: int,
    at_end: bool,
) -> list[int]:
    """Same contract as the native ``cut_points``, except that the table is a list of ints."""
    offsets: list[int] = []
    start = 0
    while start < len(data):
        length = reference_chunk_end(
            table, data[start:], min_size, mask_small, mask_large, average_size, max_size
        )
        if length is None:
            if not at_end:
                break
            length = len(data) - start
        start += length
        offsets.append(start)
    return offsets


def reference_chunks(key: bytes, data: bytes, min_size: int, average_size: int, max_size: int) -> list[bytes]:
    """Split a whole buffer into chunks, from the key and the three sizes alone."""
    table = reference_gear_table(key)
    mask_small, mask_large = reference_masks(average_size)
    offsets = reference_cut_points(
        table, data, min_size, mask_small, mask_large, average_size, max_size, at_end=True
    )
    return [data[start:end] for start, end in zip([0, *offsets], offsets, strict=False)]
