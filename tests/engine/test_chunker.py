"""Tests of the content-defined chunker: the native scan against a plain-Python reference, and the
properties a deduplicating store relies on (boundaries set by content alone, keyed per repository,
local effect of an edit)."""

from __future__ import annotations

import array
import io
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import BinaryIO, cast

import blake3
import pytest
from hypothesis import given
from hypothesis import strategies as st

from resguardo.engine import _chunker
from resguardo.engine.chunker import ALGORITHM, Chunker, ChunkerParameters, gear_table

from . import reference_chunker as reference

KEY = bytes(range(32))
OTHER_KEY = bytes(range(100, 132))
SMALL = ChunkerParameters(min_size=64, average_size=256, max_size=1024)
MEDIUM = ChunkerParameters(min_size=2048, average_size=8192, max_size=32768)
DEFAULT = ChunkerParameters()
MiB = 1024 * 1024


def random_bytes(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def native_cut_points(
    key: bytes, data: bytes | bytearray | memoryview, parameters: ChunkerParameters, at_end: bool
) -> list[int]:
    mask_small, mask_large = reference.reference_masks(parameters.average_size)
    return _chunker.cut_points(
        gear_table(key),
        data,
        parameters.min_size,
        mask_small,
        mask_large,
        parameters.average_size,
        parameters.max_size,
        at_end,
    )


def reference_cut_points(key: bytes, data: bytes, parameters: ChunkerParameters, at_end: bool) -> list[int]:
    mask_small, mask_large = reference.reference_masks(parameters.average_size)
    return reference.reference_cut_points(
        reference.reference_gear_table(key),
        data,
        parameters.min_size,
        mask_small,
        mask_large,
        parameters.average_size,
        parameters.max_size,
        at_end,
    )


def chunk_lengths(chunks: list[bytes]) -> list[int]:
    return [len(chunk) for chunk in chunks]


class TricklingStream(io.RawIOBase):
    """A raw stream that returns between 1 and ``most`` bytes per read, like a pipe or a socket."""

    def __init__(self, data: bytes, most: int, seed: int = 0) -> None:
        self._data = memoryview(data)
        self._position = 0
        self._most = most
        self._random = random.Random(seed)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        count = min(len(buffer), self._random.randint(1, self._most), len(self._data) - self._position)
        buffer[:count] = self._data[self._position : self._position + count]
        self._position += count
        return count


class ReadOnlyStream:
    """An object with nothing but ``read``, returning short reads, as some file-like wrappers do."""

    def __init__(self, data: bytes, most: int, seed: int = 0) -> None:
        self._data = data
        self._position = 0
        self._most = most
        self._random = random.Random(seed)

    def read(self, size: int = -1) -> bytes:
        count = min(size, self._random.randint(1, self._most))
        block = self._data[self._position : self._position + count]
        self._position += len(block)
        return block


# --- the native scan agrees with the reference --------------------------------------------------


@pytest.mark.parametrize("at_end", [True, False])
@pytest.mark.parametrize(
    "size", [0, 1, 63, 64, 65, 66, 255, 256, 257, 1023, 1024, 1025, 2048, 3000, 4096, 65536]
)
def test_native_cut_points_match_reference_for_sizes_around_the_limits(size: int, at_end: bool) -> None:
    data = random_bytes(size, seed=size)
    assert native_cut_points(KEY, data, SMALL, at_end) == reference_cut_points(KEY, data, SMALL, at_end)


@given(data=st.binary(max_size=6000), at_end=st.booleans(), key=st.binary(min_size=32, max_size=32))
def test_native_cut_points_match_reference_for_any_data(data: bytes, at_end: bool, key: bytes) -> None:
    assert native_cut_points(key, data, SMALL, at_end) == reference_cut_points(key, data, SMALL, at_end)


@st.composite
def chunker_parameters(draw: st.DrawFn) -> ChunkerParameters:
    average_bits = draw(st.integers(min_value=7, max_value=11))
    average_size = 1 << average_bits
    min_size = draw(st.integers(min_value=64, max_value=average_size - 1))
    max_size = draw(st.integers(min_value=average_size + 1, max_value=average_size * 8))
    return ChunkerParameters(min_size, average_size, max_size)


@given(
    parameters=chunker_parameters(),
    data=st.binary(max_size=2000) | st.integers(0, 40000).map(random_bytes),
    at_end=st.booleans(),
)
def test_native_cut_points_match_reference_for_any_parameters(
    parameters: ChunkerParameters, data: bytes, at_end: bool
) -> None:
    expected = reference_cut_points(KEY, data, parameters, at_end)
    assert native_cut_points(KEY, data, parameters, at_end) == expected


@pytest.mark.parametrize(
    "size",
    [
        DEFAULT.min_size,
        DEFAULT.min_size + 1,
        DEFAULT.average_size + 17,
        DEFAULT.max_size,
        DEFAULT.max_size + 1,
        3 * MiB + 12345,
    ],
)
def test_native_cut_points_match_reference_with_default_parameters(size: int) -> None:
    data = random_bytes(size, seed=size)
    for at_end in (True, False):
        assert native_cut_points(KEY, data, DEFAULT, at_end) == reference_cut_points(
            KEY, data, DEFAULT, at_end
        )


def run_that_never_matches(key: bytes, parameters: ChunkerParameters) -> bytes:
    """Return max_size copies of a byte value whose run never makes the gear hash match, for this key.

    Over a run of one value v the hash after n bytes is table[v] * (2**n - 1) modulo 2**64, constant
    from n = 64 on; the large mask's bits are among the small mask's, so testing it suffices.
    """
    table = reference.reference_gear_table(key)
    _, mask_large = reference.reference_masks(parameters.average_size)
    for value in range(256):
        hashes = [table[value] * ((1 << count) - 1) & reference.UINT64 for count in range(1, 66)]
        if all(hash_value & mask_large for hash_value in hashes):
            return bytes([value]) * parameters.max_size
    raise AssertionError("every byte value matches somewhere in its run; try another key")


def test_data_without_any_matching_hash_is_cut_at_max_size() -> None:
    data = run_that_never_matches(KEY, SMALL) * 3 + b"tail!"
    expected = [SMALL.max_size, 2 * SMALL.max_size, 3 * SMALL.max_size, len(data)]
    assert native_cut_points(KEY, data, SMALL, at_end=True) == expected
    assert reference_cut_points(KEY, data, SMALL, at_end=True) == expected
    assert native_cut_points(KEY, data, SMALL, at_end=False) == expected[:3]


def test_undecided_tail_is_left_to_the_caller_unless_at_end() -> None:
    data = random_bytes(50_000)
    complete = native_cut_points(KEY, data, SMALL, at_end=False)
    final = native_cut_points(KEY, data, SMALL, at_end=True)
    assert complete == final[: len(complete)]
    assert final[-1] == len(data)
    assert len(final) - len(complete) in (0, 1)
    # What is left over is shorter than a chunk can be forced to end.
    assert len(data) - (complete[-1] if complete else 0) < SMALL.max_size


def test_cut_points_of_empty_data_are_empty() -> None:
    assert native_cut_points(KEY, b"", SMALL, at_end=True) == []
    assert native_cut_points(KEY, b"", SMALL, at_end=False) == []


# --- properties of the chunks ---------------------------------------------------------------------


@given(data=st.binary(max_size=20000) | st.integers(0, 200_000).map(random_bytes))
def test_chunks_concatenate_to_the_input_and_stay_within_min_and_max(data: bytes) -> None:
    chunks = Chunker(KEY, SMALL).split_bytes(data)
    assert b"".join(chunks) == data
    assert all(chunk for chunk in chunks)
    for chunk in chunks[:-1]:
        assert SMALL.min_size <= len(chunk) <= SMALL.max_size
    if chunks:
        assert 1 <= len(chunks[-1]) <= SMALL.max_size


def test_chunks_with_default_parameters_stay_within_min_and_max_and_average_near_target() -> None:
    data = random_bytes(64 * MiB, seed=7)
    chunks = Chunker(KEY).split_bytes(data)
    assert b"".join(chunks) == data
    assert all(DEFAULT.min_size <= size <= DEFAULT.max_size for size in chunk_lengths(chunks[:-1]))
    mean = len(data) / len(chunks)
    assert DEFAULT.average_size <= mean <= 1.5 * DEFAULT.average_size


def test_split_bytes_matches_the_reference_chunks() -> None:
    data = random_bytes(100_000, seed=3)
    expected = reference.reference_chunks(KEY, data, SMALL.min_size, SMALL.average_size, SMALL.max_size)
    assert Chunker(KEY, SMALL).split_bytes(data) == expected


def test_split_bytes_accepts_bytearray_and_memoryview_and_returns_bytes() -> None:
    data = random_bytes(20_000, seed=4)
    chunker = Chunker(KEY, SMALL)
    expected = chunker.split_bytes(data)
    for variant in (bytearray(data), memoryview(data), memoryview(b"xx" + data)[2:]):
        chunks = chunker.split_bytes(variant)
        assert chunks == expected
        assert all(type(chunk) is bytes for chunk in chunks)


def test_empty_input_gives_no_chunks() -> None:
    chunker = Chunker(KEY, SMALL)
    assert chunker.split_bytes(b"") == []
    assert list(chunker.split(io.BytesIO(b""))) == []
    assert list(chunker.split(TricklingStream(b"", most=5))) == []


def test_input_shorter_than_min_size_is_one_chunk() -> None:
    data = random_bytes(SMALL.min_size - 1)
    assert Chunker(KEY, SMALL).split_bytes(data) == [data]
    assert list(Chunker(KEY, SMALL).split(io.BytesIO(data))) == [data]


# --- boundaries depend on the content only --------------------------------------------------------


@pytest.mark.parametrize("read_size", [1, 7, 64, 1000, 1024, 1025, 4096, 100_000, 10 * MiB])
def test_boundaries_do_not_depend_on_read_size(read_size: int) -> None:
    data = random_bytes(150_000, seed=5)
    chunker = Chunker(KEY, SMALL)
    assert list(chunker.split(io.BytesIO(data), read_size=read_size)) == chunker.split_bytes(data)


@given(
    size=st.integers(0, 30_000),
    most=st.integers(1, 5000),
    read_size=st.integers(1, 10_000),
    seed=st.integers(0, 2**32),
)
def test_short_reads_do_not_change_boundaries(size: int, most: int, read_size: int, seed: int) -> None:
    data = random_bytes(size, seed=seed)
    chunker = Chunker(KEY, SMALL)
    expected = chunker.split_bytes(data)
    assert list(chunker.split(TricklingStream(data, most, seed), read_size=read_size)) == expected
    plain_stream = cast(BinaryIO, ReadOnlyStream(data, most, seed))
    assert list(chunker.split(plain_stream, read_size=read_size)) == expected


def test_boundaries_with_default_parameters_do_not_depend_on_reads() -> None:
    data = random_bytes(24 * MiB + 333, seed=6)
    chunker = Chunker(KEY)
    expected = chunker.split_bytes(data)
    assert len(expected) > 10
    assert list(chunker.split(io.BytesIO(data))) == expected
    assert list(chunker.split(io.BytesIO(data), read_size=MiB + 1)) == expected
    assert (
        list(chunker.split(io.BufferedReader(TricklingStream(data, 200_000)), read_size=3 * MiB)) == expected
    )


def test_chunks_from_a_real_pipe_match_split_bytes() -> None:
    data = random_bytes(3 * MiB, seed=8)
    chunker = Chunker(KEY, MEDIUM)
    read_end, write_end = os.pipe()

    def write_all() -> None:
        with open(write_end, "wb", buffering=0) as writer:
            for offset in range(0, len(data), 10_000):
                writer.write(data[offset : offset + 10_000])

    writer_thread = threading.Thread(target=write_all)
    writer_thread.start()
    with open(read_end, "rb", buffering=0) as reader:
        chunks = list(chunker.split(reader, read_size=256 * 1024))
    writer_thread.join()
    assert chunks == chunker.split_bytes(data)


def test_split_yields_independent_bytes_objects() -> None:
    data = random_bytes(200_000, seed=9)
    chunks = list(Chunker(KEY, SMALL).split(io.BytesIO(data), read_size=4096))
    assert all(type(chunk) is bytes for chunk in chunks)
    assert b"".join(chunks) == data


def test_different_keys_give_different_boundaries() -> None:
    data = random_bytes(200_000, seed=10)
    first = chunk_lengths(Chunker(KEY, SMALL).split_bytes(data))
    second = chunk_lengths(Chunker(OTHER_KEY, SMALL).split_bytes(data))
    assert first != second
    # Not merely shifted somewhere: almost no boundary is shared.
    first_ends = set(native_cut_points(KEY, data, SMALL, at_end=True))
    second_ends = set(native_cut_points(OTHER_KEY, data, SMALL, at_end=True))
    assert len(first_ends & second_ends) < len(first_ends) // 10


def test_an_insertion_changes_only_the_chunks_near_it() -> None:
    data = random_bytes(20 * MiB, seed=11)
    position = 10 * MiB + 12345
    edited = data[:position] + b"a few inserted bytes" + data[position:]
    chunker = Chunker(KEY)
    before = chunker.split_bytes(data)
    after = chunker.split_bytes(edited)

    only_before = Counter(before) - Counter(after)
    only_after = Counter(after) - Counter(before)
    assert 1 <= sum(only_before.values()) <= 2
    assert 1 <= sum(only_after.values()) <= 2

    # Every chunk that ends before the insertion or starts more than max_size after it is kept.
    start = 0
    for chunk in before:
        end = start + len(chunk)
        if end <= position or start >= position + DEFAULT.max_size:
            assert chunk not in only_before
        start = end


# --- parameters, table, native argument checks -----------------------------------------------------


@pytest.mark.parametrize(
    ("min_size", "average_size", "max_size", "message"),
    [
        (63, 256, 1024, "at least 64"),
        (0, 256, 1024, "at least 64"),
        (256, 256, 1024, "larger than min_size"),
        (512, 256, 1024, "larger than min_size"),
        (64, 1024, 1024, "larger than average_size"),
        (64, 256, 100, "larger than average_size"),
        (64, 384, 1024, "power of two"),
        (64, 1000, 4096, "power of two"),
        (1024, 2**30, 2**30 + 1, "at most"),
    ],
)
def test_bad_parameters_raise_value_error(
    min_size: int, average_size: int, max_size: int, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        ChunkerParameters(min_size, average_size, max_size)


@pytest.mark.parametrize("value", [512.0 * 1024, "524288", None, True])
def test_parameters_that_are_not_ints_raise_type_error(value: object) -> None:
    with pytest.raises(TypeError, match="min_size must be an int"):
        ChunkerParameters(min_size=value)  # type: ignore[arg-type]


def test_parameters_round_trip_through_a_dict() -> None:
    for parameters in (DEFAULT, SMALL, MEDIUM):
        document = parameters.to_dict()
        assert document["algorithm"] == ALGORITHM
        assert ChunkerParameters.from_dict(document) == parameters
    assert ChunkerParameters.from_dict({"min_size": 64, "average_size": 256, "max_size": 1024}) == SMALL


@pytest.mark.parametrize(
    ("document", "error", "message"),
    [
        ({"min_size": 64, "average_size": 256}, ValueError, "missing chunker parameters: max_size"),
        ({**SMALL.to_dict(), "window": 48}, ValueError, "unknown chunker parameters: window"),
        ({**SMALL.to_dict(), "algorithm": "rabin"}, ValueError, "not supported"),
        ({**SMALL.to_dict(), "average_size": 300}, ValueError, "power of two"),
        ({**SMALL.to_dict(), "max_size": "1024"}, TypeError, "max_size must be an int"),
        ([64, 256, 1024], TypeError, "must be a mapping"),
    ],
)
def test_bad_parameter_documents_are_refused(document: object, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        ChunkerParameters.from_dict(document)  # type: ignore[arg-type]


def test_gear_table_is_the_keyed_blake3_output() -> None:
    table = gear_table(KEY)
    assert len(table) == 2048
    assert table == blake3.blake3(b"resguardo chunker gear table v1", key=KEY).digest(length=2048)
    assert gear_table(KEY) == table
    assert gear_table(OTHER_KEY) != table


@pytest.mark.parametrize(
    ("key", "error"), [(b"short", ValueError), (bytes(33), ValueError), ("k" * 32, TypeError)]
)
def test_bad_keys_are_refused(key: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        gear_table(key)  # type: ignore[arg-type]
    with pytest.raises(error):
        Chunker(key)  # type: ignore[arg-type]


def native_arguments(**changes: object) -> dict[str, object]:
    mask_small, mask_large = SMALL.masks
    arguments: dict[str, object] = {
        "table": gear_table(KEY),
        "data": random_bytes(5000),
        "min_size": SMALL.min_size,
        "mask_small": mask_small,
        "mask_large": mask_large,
        "average_size": SMALL.average_size,
        "max_size": SMALL.max_size,
        "at_end": True,
    }
    arguments.update(changes)
    return arguments


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"table": bytes(2047)}, ValueError, "table must be 2048 bytes"),
        ({"table": bytes(2049)}, ValueError, "table must be 2048 bytes"),
        ({"table": "x" * 2048}, TypeError, "table must be a contiguous buffer"),
        ({"data": "text"}, TypeError, "contiguous buffer"),
        ({"data": None}, TypeError, "contiguous buffer"),
        ({"data": memoryview(bytes(100))[::2]}, TypeError, "contiguous buffer"),
        ({"min_size": -1}, ValueError, "min_size must not be negative"),
        ({"min_size": 256}, ValueError, "min_size < average_size < max_size"),
        ({"max_size": 256}, ValueError, "min_size < average_size < max_size"),
        ({"max_size": 2**80}, ValueError, "max_size is too large"),
        ({"average_size": 256.0}, TypeError, "average_size must be an int"),
        ({"mask_small": -1}, ValueError, r"mask_small must be in \[0, 2\*\*64\)"),
        ({"mask_large": 2**64}, ValueError, r"mask_large must be in \[0, 2\*\*64\)"),
        ({"mask_large": 1.5}, TypeError, "mask_large must be an int"),
    ],
)
def test_native_cut_points_refuses_bad_arguments(
    changes: dict[str, object], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        _chunker.cut_points(**native_arguments(**changes))


def test_native_cut_points_accepts_any_contiguous_buffer() -> None:
    data = random_bytes(5000)
    expected = _chunker.cut_points(**native_arguments(data=data))
    assert expected == reference_cut_points(KEY, data, SMALL, at_end=True)
    for variant in (bytearray(data), memoryview(data), memoryview(b"." + data)[1:], array.array("B", data)):
        assert _chunker.cut_points(**native_arguments(data=variant)) == expected
    positional = list(native_arguments(data=data).values())
    assert _chunker.cut_points(*positional) == expected


def test_extreme_masks_do_not_break_the_scan() -> None:
    data = random_bytes(3000)
    every_byte = _chunker.cut_points(**native_arguments(data=data, mask_small=0, mask_large=0))
    assert every_byte == [*range(SMALL.min_size + 1, len(data), SMALL.min_size + 1), len(data)]
    never = _chunker.cut_points(**native_arguments(data=data, mask_small=2**64 - 1, mask_large=2**64 - 1))
    assert never == [*range(SMALL.max_size, len(data), SMALL.max_size), len(data)]


def test_native_scan_lets_other_threads_run() -> None:
    # A run that never matches: every chunk is cut at max_size, and nearly every byte is hashed.
    data = run_that_never_matches(KEY, DEFAULT) * 24
    window: list[float] = []

    def scan() -> None:
        window.append(time.perf_counter())
        native_cut_points(KEY, data, DEFAULT, at_end=True)
        window.append(time.perf_counter())

    def ticks_while(thread: threading.Thread) -> Iterator[float]:
        while thread.is_alive():
            yield time.perf_counter()

    worker = threading.Thread(target=scan)
    worker.start()
    ticks = list(ticks_while(worker))
    worker.join()
    started, finished = window
    middle = [
        tick
        for tick in ticks
        if started + (finished - started) / 4 < tick < finished - (finished - started) / 4
    ]
    assert middle, "the main thread never ran while the native scan was busy: the GIL was held"
