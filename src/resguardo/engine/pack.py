"""Pack files: many encrypted blobs followed by an encrypted header that describes them.

Layout of a pack (see docs/format.md)::

    blob envelope 0 | blob envelope 1 | ... | header envelope | header length (u32 LE) | b"RGP1"

The header is a msgpack array of ``[type, id, offset, length, raw_length, compression]``, one per
blob, so the index can always be rebuilt from the packs alone. The pack's name is the BLAKE3 hash
of its bytes, so its integrity can be checked without any key.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from enum import IntEnum
from typing import NamedTuple

import msgpack

from resguardo.core.errors import IntegrityError
from resguardo.engine.crypto import ID_SIZE, RepositoryKeys, plain_id

PACK_MAGIC = b"RGP1"
TRAILER = struct.Struct("<I4s")
HEADER_ENTRY_FIELDS = 6
MAXIMUM_BLOB_FIELD = 0xFFFFFFFF  # offsets and lengths are below 4 GiB: packs and chunks are at most 1 GiB


class BlobType(IntEnum):
    """What a blob holds: file content, or a directory's tree."""

    DATA = 0
    TREE = 1


class BlobEntry(NamedTuple):
    """Where one blob sits in its pack and how to read it back."""

    type: int
    id: bytes
    offset: int
    length: int
    raw_length: int
    compression: int

    def as_list(self) -> list[int | bytes]:
        """Return the entry as stored in pack headers and index files."""
        return list(self)

    @classmethod
    def from_list(cls, fields: list[int | bytes]) -> BlobEntry:
        """Return the entry from its stored form.

        Raises:
            IntegrityError: the fields do not have the expected shape.
        """
        if type(fields) is not list or len(fields) != HEADER_ENTRY_FIELDS:
            raise IntegrityError("blob entry has the wrong number of fields")
        blob_type, blob_id, offset, length, raw_length, compression = fields
        if (
            type(blob_id) is not bytes
            or len(blob_id) != ID_SIZE
            or type(blob_type) is not int
            or type(offset) is not int
            or type(length) is not int
            or type(raw_length) is not int
            or type(compression) is not int
        ):
            raise IntegrityError("blob entry has fields of the wrong type")
        if offset < 0 or length < 0 or raw_length < 0:
            raise IntegrityError("blob entry has a negative offset or length")
        if max(offset, length, raw_length) > MAXIMUM_BLOB_FIELD or not (
            0 <= blob_type <= 0xFF and 0 <= compression <= 0xFF
        ):
            raise IntegrityError("blob entry has a field out of range (offsets and lengths stay below 4 GiB)")
        return cls(blob_type, blob_id, offset, length, raw_length, compression)


class PackBuilder:
    """Collects blob envelopes in memory until the pack is finished."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []
        self._entries: list[BlobEntry] = []
        self.size = 0

    def __len__(self) -> int:
        return len(self._entries)

    def add(self, blob_type: int, blob_id: bytes, envelope: bytes, raw_length: int, compression: int) -> None:
        """Append one blob envelope to the pack."""
        self._entries.append(BlobEntry(blob_type, blob_id, self.size, len(envelope), raw_length, compression))
        self._parts.append(envelope)
        self.size += len(envelope)

    def finish(self, keys: RepositoryKeys) -> tuple[bytes, bytes, list[BlobEntry]]:
        """Append the header and trailer.

        Returns:
            (pack id, pack bytes, blob entries).
        """
        header = keys.encrypt(msgpack.packb([entry.as_list() for entry in self._entries]))
        self._parts.append(header)
        self._parts.append(TRAILER.pack(len(header), PACK_MAGIC))
        content = b"".join(self._parts)
        self._parts.clear()
        return plain_id(content), content, self._entries


def parse_header(keys: RepositoryKeys, header_envelope: bytes, body_size: int) -> list[BlobEntry]:
    """Decrypt a pack header and check that its entries fit in the ``body_size`` bytes before it.

    Raises:
        IntegrityError: the header fails authentication or describes blobs outside the pack body.
    """
    try:
        fields = msgpack.unpackb(keys.decrypt(header_envelope))
    except (ValueError, msgpack.ExtraData, TypeError) as error:
        raise IntegrityError(f"pack header is malformed: {error}") from None
    if not isinstance(fields, list):
        raise IntegrityError("pack header is not a list")
    entries = [BlobEntry.from_list(item) for item in fields]
    for entry in entries:
        if entry.offset + entry.length > body_size:
            raise IntegrityError("pack header points past the end of the pack")
    return entries


def split_trailer(trailer: bytes, pack_size: int) -> int:
    """Return the header length from the last 8 bytes of a pack.

    Raises:
        IntegrityError: the magic is wrong or the length is impossible.
    """
    if len(trailer) != TRAILER.size:
        raise IntegrityError("pack is too short to hold a trailer")
    header_length, magic = TRAILER.unpack(trailer)
    if magic != PACK_MAGIC:
        raise IntegrityError("pack trailer magic is wrong")
    if header_length + TRAILER.size > pack_size:
        raise IntegrityError("pack header length is larger than the pack")
    return int(header_length)


def read_pack_header(
    keys: RepositoryKeys, load: Callable[[int, int], bytes], pack_size: int
) -> list[BlobEntry]:
    """Read and parse a pack's header through ``load(offset, length)``, without reading its blobs.

    Raises:
        IntegrityError: the trailer or header is damaged.
    """
    guess = min(pack_size, 64 * 1024)
    tail = load(pack_size - guess, guess)
    header_length = split_trailer(tail[-TRAILER.size :], pack_size)
    header_start = pack_size - TRAILER.size - header_length
    if header_length + TRAILER.size <= guess:
        header = tail[guess - TRAILER.size - header_length : guess - TRAILER.size]
    else:
        header = load(header_start, header_length)
    return parse_header(keys, header, header_start)


def parse_pack(keys: RepositoryKeys, content: bytes) -> list[BlobEntry]:
    """Return the blob entries of a whole pack held in memory.

    Raises:
        IntegrityError: the trailer or header is damaged.
    """
    header_length = split_trailer(content[-TRAILER.size :], len(content))
    header_start = len(content) - TRAILER.size - header_length
    return parse_header(keys, content[header_start : len(content) - TRAILER.size], header_start)
