"""The index: which pack holds each blob, kept in memory and stored in encrypted index files.

An index file is an envelope around a zstd-compressed msgpack map::

    {"version": 1, "packs": [{"id": <32 bytes>, "size": int, "blobs": [[type, id, offset,
     length, raw_length, compression], ...]}, ...], "supersedes": [<index id hex>, ...]}
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import NamedTuple

import msgpack
import zstandard

from resguardo.core.errors import IntegrityError
from resguardo.engine.crypto import ID_SIZE, RepositoryKeys
from resguardo.engine.pack import BlobEntry

INDEX_FORMAT_VERSION = 1


class BlobLocation(NamedTuple):
    """Where to find a blob: its pack and its place inside it."""

    pack_id: bytes
    type: int
    offset: int
    length: int
    raw_length: int
    compression: int


@dataclass(frozen=True, slots=True)
class PackRecord:
    """One pack as an index file lists it."""

    id: bytes
    size: int
    blobs: list[BlobEntry]


class Index:
    """Maps blob IDs to their locations; also knows every indexed pack and its size."""

    def __init__(self) -> None:
        self._blobs: dict[bytes, tuple[bytes, int, int, int, int, int]] = {}
        self._packs: dict[bytes, int] = {}

    def __len__(self) -> int:
        return len(self._blobs)

    def __contains__(self, blob_id: object) -> bool:
        return blob_id in self._blobs

    def add_pack(self, record: PackRecord) -> None:
        """Record every blob of a pack; a blob already indexed elsewhere keeps its first location."""
        self._packs[record.id] = record.size
        blobs = self._blobs
        pack_id = record.id
        for entry in record.blobs:
            if entry.id not in blobs:
                # Plain tuples: building 10^5 named tuples costs more than the rest of loading.
                blobs[entry.id] = (pack_id, entry[0], entry[2], entry[3], entry[4], entry[5])

    def lookup(self, blob_id: bytes) -> BlobLocation | None:
        """Return the blob's location, or None when no indexed pack holds it."""
        fields = self._blobs.get(blob_id)
        return None if fields is None else BlobLocation._make(fields)

    def has_pack(self, pack_id: bytes) -> bool:
        """Return True when the pack is listed in the index."""
        return pack_id in self._packs

    def packs(self) -> dict[bytes, int]:
        """Return a copy of {pack id: pack size} for every indexed pack."""
        return dict(self._packs)

    def blobs(self) -> Iterator[tuple[bytes, BlobLocation]]:
        """Yield (blob id, location) for every indexed blob."""
        make = BlobLocation._make
        for blob_id, fields in self._blobs.items():
            yield blob_id, make(fields)


def encode_index_file(
    keys: RepositoryKeys, packs: Iterable[PackRecord], supersedes: Iterable[str] = ()
) -> bytes:
    """Return the encrypted bytes of an index file listing ``packs``."""
    document = {
        "version": INDEX_FORMAT_VERSION,
        "packs": [
            {"id": pack.id, "size": pack.size, "blobs": [entry.as_list() for entry in pack.blobs]}
            for pack in packs
        ],
        "supersedes": list(supersedes),
    }
    return keys.encrypt(zstandard.ZstdCompressor(level=3).compress(msgpack.packb(document)))


def decode_index_file(keys: RepositoryKeys, name: str, data: bytes) -> list[PackRecord]:
    """Return the packs an index file lists.

    Raises:
        IntegrityError: the file fails authentication or does not have the index shape.
    """
    plaintext = keys.decrypt(data)
    try:
        document = msgpack.unpackb(zstandard.ZstdDecompressor().decompress(plaintext))
        if document["version"] != INDEX_FORMAT_VERSION:
            raise IntegrityError(f"index {name} has unsupported version {document['version']}")
        records = []
        for pack in document["packs"]:
            pack_id = pack["id"]
            if not isinstance(pack_id, bytes) or len(pack_id) != ID_SIZE:
                raise IntegrityError(f"index {name} lists a pack with a malformed id")
            records.append(
                PackRecord(pack_id, int(pack["size"]), [BlobEntry.from_list(b) for b in pack["blobs"]])
            )
        return records
    except (KeyError, TypeError, ValueError, zstandard.ZstdError, msgpack.ExtraData) as error:
        raise IntegrityError(f"index {name} is malformed: {error}") from None
