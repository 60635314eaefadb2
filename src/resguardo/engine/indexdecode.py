"""Decoding an index file straight into blob columns, one pack at a time.

:func:`index.decode_index_file` returns a Python object per blob, which costs about 400 bytes a blob
while the file is decoded (about 100 MB for a file of 256,000 blobs). Loading the index does not need
those objects: :func:`decode_index_columns` reads the file's msgpack document as a stream, takes one
pack's blob list at a time, checks it and turns it into numpy columns, so that besides the file's
bytes it holds the Python objects of one pack and the columns of one file (14 bytes a blob). It accepts
exactly the files :func:`index.decode_index_file` accepts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import zstandard

from resguardo.core.errors import IntegrityError
from resguardo.engine.blobtable import COLUMN_NAMES, COLUMNS, Array, split_ids
from resguardo.engine.crypto import ID_SIZE, RepositoryKeys
from resguardo.engine.index import INDEX_FORMAT_VERSION
from resguardo.engine.pack import HEADER_ENTRY_FIELDS, MAXIMUM_BLOB_FIELD

READ_SIZE = 1 << 20
_FIELD_LIMITS = {"types": 0xFF, "offsets": MAXIMUM_BLOB_FIELD, "lengths": MAXIMUM_BLOB_FIELD}
_FIELD_LIMITS |= {"raw_lengths": MAXIMUM_BLOB_FIELD, "compressions": 0xFF}
# Positions of the fields in a stored blob entry: [type, id, offset, length, raw length, compression].
_MALFORMED = (KeyError, TypeError, ValueError, OverflowError, zstandard.ZstdError, msgpack.UnpackException)
_ENTRY_FIELDS = (("types", 0), ("offsets", 2), ("lengths", 3), ("raw_lengths", 4), ("compressions", 5))


@dataclass(frozen=True, slots=True)
class IndexFileColumns:
    """The packs and blobs of one index file.

    Attributes:
        pack_ids: the packs, in the order the file lists them (an ID may appear twice).
        pack_sizes: their sizes.
        columns: unsorted blob columns named as :data:`blobtable.COLUMN_NAMES`, in the file's order;
            the ``packs`` column holds positions in ``pack_ids``, not pack numbers of an index.
    """

    pack_ids: list[bytes]
    pack_sizes: list[int]
    columns: dict[str, Array]

    def __len__(self) -> int:
        return len(self.columns["keys"])


def decode_index_columns(keys: RepositoryKeys, name: str, data: bytes) -> IndexFileColumns:
    """Return the packs and blobs an index file lists, as columns.

    Raises:
        IntegrityError: the file fails authentication or does not have the index shape.
    """
    plaintext = keys.decrypt(data)
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(plaintext)
        unpacker = msgpack.Unpacker(reader, read_size=READ_SIZE)
        return _read_document(unpacker, name)
    except _MALFORMED as error:
        raise IntegrityError(f"index {name} is malformed: {error}") from None


def _read_document(unpacker: msgpack.Unpacker, name: str) -> IndexFileColumns:
    """Read the top-level map; the packs are decoded as they stream by."""
    version: Any = None
    decoded: IndexFileColumns | None = None
    for _field in range(unpacker.read_map_header()):
        key = unpacker.unpack()
        if key == "packs":
            decoded = _read_packs(unpacker, name)
        elif key == "version":
            version = unpacker.unpack()
            if version != INDEX_FORMAT_VERSION:
                raise IntegrityError(f"index {name} has unsupported version {version}")
        else:
            unpacker.skip()
    try:
        unpacker.unpack()
    except msgpack.OutOfData:
        pass
    else:
        raise ValueError("extra data after the document")
    if version is None:
        raise KeyError("version")
    if decoded is None:
        raise KeyError("packs")
    return decoded


def _read_packs(unpacker: msgpack.Unpacker, name: str) -> IndexFileColumns:
    pack_ids: list[bytes] = []
    pack_sizes: list[int] = []
    parts: dict[str, list[Array]] = {column: [] for column in COLUMN_NAMES}
    ids: list[bytes] = []
    for position in range(unpacker.read_array_header()):
        fields = {}
        for _field in range(unpacker.read_map_header()):
            key = unpacker.unpack()
            fields[key] = unpacker.unpack()
        pack_id = fields["id"]
        if not isinstance(pack_id, bytes) or len(pack_id) != ID_SIZE:
            raise IntegrityError(f"index {name} lists a pack with a malformed id")
        pack_sizes.append(int(fields["size"]))
        if pack_sizes[-1] < 0:
            raise IntegrityError(f"index {name} lists a pack with a negative size")
        pack_ids.append(pack_id)
        blobs = fields["blobs"]
        if not isinstance(blobs, list):
            raise TypeError("the blobs of a pack are not a list")
        if blobs:
            ids.append(_entry_columns(blobs, position, parts, name))
    columns = {column: _concatenate(parts[column], column) for column in COLUMN_NAMES[2:]}
    columns["keys"], columns["tails"] = split_ids(b"".join(ids))
    return IndexFileColumns(pack_ids, pack_sizes, columns)


def _entry_columns(blobs: list[Any], position: int, parts: dict[str, list[Array]], name: str) -> bytes:
    """Check one pack's blob entries and append their fields to ``parts``; return their joined IDs.

    Checks what :meth:`pack.BlobEntry.from_list` checks, on whole fields at once.
    """
    if set(map(type, blobs)) != {list} or set(map(len, blobs)) != {HEADER_ENTRY_FIELDS}:
        raise IntegrityError(f"index {name}: a blob entry has the wrong number of fields")
    fields = list(zip(*blobs, strict=True))
    if set(map(type, fields[1])) != {bytes} or set(map(len, fields[1])) != {ID_SIZE}:
        raise IntegrityError(f"index {name}: a blob entry has fields of the wrong type")
    dtypes = dict(COLUMNS)
    for column, index in _ENTRY_FIELDS:
        if set(map(type, fields[index])) != {int}:
            raise IntegrityError(f"index {name}: a blob entry has fields of the wrong type")
        values = np.array(fields[index], dtype=np.int64)
        if values.min() < 0 or values.max() > _FIELD_LIMITS[column]:
            raise IntegrityError(
                f"index {name}: a blob entry has a field out of range (offsets and lengths stay below 4 GiB)"
            )
        parts[column].append(values.astype(dtypes[column]))
    parts["packs"].append(np.full(len(blobs), position, dtype=np.uint32))
    return b"".join(fields[1])


def _concatenate(pieces: list[Array], name: str) -> Array:
    if not pieces:
        return np.empty(0, dtype=dict(COLUMNS)[name])
    return np.concatenate(pieces)
