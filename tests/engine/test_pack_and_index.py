"""Tests of pack files (blobs plus an encrypted header and trailer) and of index files."""

from __future__ import annotations

import os
import struct

import msgpack
import pytest
import zstandard

from resguardo.core.errors import IntegrityError
from resguardo.engine.compression import Compression
from resguardo.engine.crypto import RepositoryKeys, plain_id
from resguardo.engine.index import (
    BlobLocation,
    Index,
    PackRecord,
    decode_index_file,
    encode_index_file,
)
from resguardo.engine.pack import (
    PACK_MAGIC,
    TRAILER,
    BlobEntry,
    BlobType,
    PackBuilder,
    parse_pack,
    read_pack_header,
    split_trailer,
)


@pytest.fixture(scope="module")
def keys() -> RepositoryKeys:
    return RepositoryKeys.generate()


def build_pack(keys: RepositoryKeys, blobs: list[bytes]) -> tuple[bytes, bytes, list[BlobEntry]]:
    builder = PackBuilder()
    for number, plaintext in enumerate(blobs):
        blob_type = BlobType.TREE if number % 2 else BlobType.DATA
        builder.add(
            blob_type, keys.blob_id(plaintext), keys.encrypt(plaintext), len(plaintext), Compression.NONE
        )
    return builder.finish(keys)


def loader(content: bytes, reads: list[tuple[int, int]] | None = None):  # type: ignore[no-untyped-def]
    def load(offset: int, length: int) -> bytes:
        if reads is not None:
            reads.append((offset, length))
        return content[offset : offset + length]

    return load


# -- packs -------------------------------------------------------------------------------------


def test_a_pack_round_trips_its_blobs(keys: RepositoryKeys) -> None:
    blobs = [b"alpha", os.urandom(3000), b"", b"omega" * 100]
    pack_id, content, entries = build_pack(keys, blobs)
    assert pack_id == plain_id(content)
    assert content.endswith(PACK_MAGIC)
    parsed = parse_pack(keys, content)
    assert parsed == entries
    for entry, plaintext in zip(parsed, blobs, strict=True):
        envelope = content[entry.offset : entry.offset + entry.length]
        assert keys.decrypt(envelope) == plaintext
        assert entry.id == keys.blob_id(plaintext)
        assert entry.raw_length == len(plaintext)
    assert [entry.type for entry in parsed] == [BlobType.DATA, BlobType.TREE, BlobType.DATA, BlobType.TREE]


def test_the_header_is_read_without_reading_the_blobs(keys: RepositoryKeys) -> None:
    _pack_id, content, entries = build_pack(keys, [os.urandom(200_000), os.urandom(100_000)])
    reads: list[tuple[int, int]] = []
    assert read_pack_header(keys, loader(content, reads), len(content)) == entries
    assert sum(length for _offset, length in reads) <= 64 * 1024


def test_a_header_larger_than_the_first_read_is_fetched_separately(keys: RepositoryKeys) -> None:
    blobs = [os.urandom(16) + bytes([n % 256, n // 256]) for n in range(3000)]
    _pack_id, content, entries = build_pack(keys, blobs)
    reads: list[tuple[int, int]] = []
    assert read_pack_header(keys, loader(content, reads), len(content)) == entries
    assert len(reads) == 2


def test_the_pack_header_is_encrypted(keys: RepositoryKeys) -> None:
    plaintext = b"a distinctive blob"
    _pack_id, content, _entries = build_pack(keys, [plaintext])
    assert keys.blob_id(plaintext) not in content
    assert plaintext not in content


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda content: content[:-4] + b"XXXX", "magic"),
        (lambda content: content[:-8] + struct.pack("<I", 10**9) + PACK_MAGIC, "larger than the pack"),
        (lambda content: content[:-10] + bytes([content[-10] ^ 1]) + content[-9:], "authentication"),
        (lambda content: content[-5:], "too short"),
        (lambda content: b"", "too short"),
    ],
    ids=["magic", "header-length", "header-byte", "truncated", "empty"],
)
def test_a_damaged_trailer_or_header_is_detected(keys: RepositoryKeys, damage: object, message: str) -> None:
    _pack_id, content, _entries = build_pack(keys, [b"one", b"two"])
    damaged = damage(content)  # type: ignore[operator]
    with pytest.raises(IntegrityError, match=message):
        parse_pack(keys, damaged)
    if len(damaged) >= TRAILER.size:
        with pytest.raises(IntegrityError, match=message):
            read_pack_header(keys, loader(damaged), len(damaged))


def test_a_header_pointing_past_the_body_is_rejected(keys: RepositoryKeys) -> None:
    entry = BlobEntry(BlobType.DATA, b"\1" * 32, 0, 500, 500, 0)
    header = keys.encrypt(msgpack.packb([entry.as_list()]))
    content = os.urandom(100) + header + TRAILER.pack(len(header), PACK_MAGIC)
    with pytest.raises(IntegrityError, match="past the end"):
        parse_pack(keys, content)


def test_a_pack_from_another_repository_is_rejected(keys: RepositoryKeys) -> None:
    _pack_id, content, _entries = build_pack(RepositoryKeys.generate(), [b"foreign"])
    with pytest.raises(IntegrityError):
        parse_pack(keys, content)


@pytest.mark.parametrize(
    "fields",
    [
        [0, b"\0" * 32, 0, 1, 1],
        [0, b"\0" * 31, 0, 1, 1, 0],
        [0, "text", 0, 1, 1, 0],
        [0, b"\0" * 32, -1, 1, 1, 0],
        [0, b"\0" * 32, 0, 1, "one", 0],
    ],
    ids=["too-few-fields", "short-id", "id-not-bytes", "negative-offset", "length-not-int"],
)
def test_malformed_blob_entries_are_rejected(fields: list[object]) -> None:
    with pytest.raises(IntegrityError):
        BlobEntry.from_list(fields)  # type: ignore[arg-type]


def test_split_trailer_returns_the_header_length() -> None:
    assert split_trailer(TRAILER.pack(77, PACK_MAGIC), 200) == 77
    with pytest.raises(IntegrityError):
        split_trailer(TRAILER.pack(77, PACK_MAGIC), 80)


# -- index files -------------------------------------------------------------------------------


def sample_records(keys: RepositoryKeys, count: int = 3) -> list[PackRecord]:
    records = []
    for number in range(count):
        pack_id, content, entries = build_pack(keys, [os.urandom(50 + number), b"shared blob"])
        records.append(PackRecord(pack_id, len(content), entries))
    return records


def test_an_index_file_round_trips_its_pack_records(keys: RepositoryKeys) -> None:
    records = sample_records(keys)
    data = encode_index_file(keys, records, supersedes=["ab" * 32])
    assert decode_index_file(keys, "index/x", data) == records


def test_an_empty_index_file_round_trips(keys: RepositoryKeys) -> None:
    assert decode_index_file(keys, "index/x", encode_index_file(keys, [])) == []


def test_a_tampered_index_file_is_rejected(keys: RepositoryKeys) -> None:
    data = bytearray(encode_index_file(keys, sample_records(keys)))
    data[40] ^= 1
    with pytest.raises(IntegrityError):
        decode_index_file(keys, "index/x", bytes(data))
    with pytest.raises(IntegrityError):
        decode_index_file(RepositoryKeys.generate(), "index/x", encode_index_file(keys, []))


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"version": 2, "packs": []}, "unsupported version"),
        ({"version": 1}, "malformed"),
        ({"version": 1, "packs": [{"id": b"short", "size": 1, "blobs": []}]}, "malformed id"),
        ({"version": 1, "packs": [{"id": b"\0" * 32, "size": 1, "blobs": [[1, 2]]}]}, "wrong number"),
    ],
    ids=["version", "no-packs", "pack-id", "blob-entry"],
)
def test_an_index_file_of_the_wrong_shape_is_rejected(
    keys: RepositoryKeys, document: dict[str, object], message: str
) -> None:
    data = keys.encrypt(zstandard.ZstdCompressor().compress(msgpack.packb(document)))
    with pytest.raises(IntegrityError, match=message):
        decode_index_file(keys, "index/x", data)


def test_an_index_file_that_is_not_zstd_is_rejected(keys: RepositoryKeys) -> None:
    with pytest.raises(IntegrityError, match="malformed"):
        decode_index_file(keys, "index/x", keys.encrypt(b"plain bytes"))


# -- the in-memory index -----------------------------------------------------------------------


def test_the_index_locates_every_blob_and_keeps_the_first_location(keys: RepositoryKeys) -> None:
    records = sample_records(keys)
    index = Index()
    for record in records:
        index.add_pack(record)
    shared = keys.blob_id(b"shared blob")
    assert len(index) == len(records) + 1
    location = index.lookup(shared)
    assert location is not None
    assert location.pack_id == records[0].id
    first_entry = records[0].blobs[1]
    assert location == BlobLocation(
        records[0].id, first_entry.type, first_entry.offset, first_entry.length, first_entry.raw_length, 0
    )
    assert shared in index
    assert index.lookup(b"\0" * 32) is None
    assert b"\0" * 32 not in index
    assert index.packs() == {record.id: record.size for record in records}
    assert all(index.has_pack(record.id) for record in records)
    assert not index.has_pack(b"\0" * 32)
    assert dict(index.blobs())[shared] == location
