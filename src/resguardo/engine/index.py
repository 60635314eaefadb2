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
import numpy as np
import zstandard

from resguardo.core.errors import IntegrityError
from resguardo.engine.blobtable import (
    COLUMN_NAMES,
    COLUMNS,
    Array,
    BlobTable,
    Record,
    columns_from_records,
    concatenate,
    merge,
    sort_unique,
    sorted_table,
    split_ids,
    table_from_records,
)
from resguardo.engine.crypto import ID_SIZE, RepositoryKeys
from resguardo.engine.pack import BlobEntry

INDEX_FORMAT_VERSION = 1
OVERLAY_LIMIT = 16384
BULK_CHUNK = 65536


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
    """Maps blob IDs to their locations; also knows every indexed pack and its size.

    Blobs live in sorted blob tables (:mod:`blobtable`, 50 bytes a blob): a base table (built in bulk
    when the index is loaded, possibly memory-mapped from the local cache), a few smaller tables of
    blobs added since, and a small dictionary of the latest additions, which becomes a table of its
    own when it reaches :data:`OVERLAY_LIMIT` (tables of similar sizes are then merged, so there are
    only a few). Each blob ID has one live location, the first one added; later locations of the same
    blob are kept aside, and take over when :meth:`remove_packs` removes the first one.

    Lookups may run in several threads while one thread adds packs.
    """

    def __init__(self) -> None:
        self._pack_ids: list[bytes] = []  # by pack number
        self._pack_sizes: list[int] = []
        self._numbers: dict[bytes, int] = {}  # live packs only
        self._live = bytearray()  # 1 per live pack number
        self._tables: tuple[BlobTable, ...] = ()  # the base first
        self._overlay: dict[bytes, Record] = {}
        self._duplicates: list[tuple[bytes, Record]] = []
        self._base_duplicates = BlobTable.empty()
        self._count = 0

    @classmethod
    def from_tables(
        cls, pack_ids: list[bytes], pack_sizes: list[int], table: BlobTable, duplicates: BlobTable
    ) -> Index:
        """Return an index of a pack table, a sorted blob table and the later locations of its blobs.

        The blob tables refer to packs by their position in ``pack_ids``; they are kept, not copied.
        A pack whose size is -1 counts as removed, and ``table`` must hold no row of it.
        """
        index = cls()
        index._pack_ids = list(pack_ids)
        index._pack_sizes = list(pack_sizes)
        index._live = bytearray(int(size >= 0) for size in pack_sizes)
        index._numbers = {pack_id: number for number, pack_id in enumerate(pack_ids) if index._live[number]}
        index._tables = (table,) if len(table) else ()
        index._base_duplicates = duplicates
        index._count = len(table)
        return index

    def __len__(self) -> int:
        return self._count

    def __contains__(self, blob_id: object) -> bool:
        return isinstance(blob_id, bytes) and self._find(blob_id) is not None

    def _find(self, blob_id: bytes) -> Record | None:
        live = self._live
        record = self._overlay.get(blob_id)
        if record is not None and live[record[0]]:
            return record
        for table in self._tables:
            row = table.find(blob_id)
            if row >= 0:
                record = table.record(row)
                if live[record[0]]:
                    return record
        return None

    def contains_many(self, blob_ids: list[bytes]) -> list[bool]:
        """Return, for each blob ID, whether the index holds it (faster than ``in`` for many IDs)."""
        if len(blob_ids) < 16 or not self._tables:
            return [self._find(blob_id) is not None for blob_id in blob_ids]
        keys, tails = split_ids(b"".join(blob_ids))
        found = self._held_in_tables(keys, tails)
        overlay, flags = self._overlay, self._live
        return [
            bool(hit) or ((record := overlay.get(blob_id)) is not None and bool(flags[record[0]]))
            for blob_id, hit in zip(blob_ids, found.tolist(), strict=True)
        ]

    def _held_in_tables(self, keys: Array, tails: Array) -> Array:
        """Return a boolean array: whether a live row of the tables (not the overlay) holds each ID."""
        found = np.zeros(len(keys), dtype=bool)
        live = np.frombuffer(bytes(self._live), dtype=np.uint8)
        for table in self._tables:
            rows = table.find_many(keys, tails)
            hit = rows >= 0
            found[hit] |= live[table.columns["packs"][rows[hit]]].astype(bool)
        return found

    def add_pack(self, record: PackRecord) -> None:
        """Record every blob of a pack; a blob already indexed elsewhere keeps its first location."""
        number = self._pack_number(record.id, record.size)
        overlay = self._overlay
        for entry in record.blobs:
            fields = (number, entry[0], entry[2], entry[3], entry[4], entry[5])
            current = self._find(entry.id)
            if current is None:
                overlay[entry.id] = fields
                self._count += 1
            elif current != fields:
                self._duplicates.append((entry.id, fields))
        if len(overlay) >= OVERLAY_LIMIT:
            self._flush_overlay()

    def add_packs(self, records: Iterable[PackRecord]) -> None:
        """Record every blob of many packs at once (as :meth:`add_pack` would, in order, but in bulk).

        Used to load index files: their blobs are collected in columns and sorted once, so loading
        costs about 50 bytes a blob beyond the decoded files, and no Python object per blob survives.
        """
        parts: dict[str, list[Array]] = {name: [] for name in COLUMN_NAMES}
        ids: list[bytes] = []
        fields: list[Record] = []
        for record in records:
            number = self._pack_number(record.id, record.size)
            for entry in record.blobs:
                ids.append(entry[1])
                fields.append((number, entry[0], entry[2], entry[3], entry[4], entry[5]))
            if len(ids) >= BULK_CHUNK:
                _append_columns(parts, columns_from_records(ids, fields))
                ids, fields = [], []
        if ids:
            _append_columns(parts, columns_from_records(ids, fields))
        del ids, fields
        # One column at a time, releasing its parts, so that at most one column is held twice.
        self._add_unsorted({name: _concatenate_consuming(parts, name) for name in COLUMN_NAMES})

    def add_columns(self, pack_ids: list[bytes], pack_sizes: list[int], columns: dict[str, Array]) -> None:
        """Record the packs and blobs of one decoded index file (as :meth:`add_packs` would).

        Args:
            pack_ids: the file's packs, in its order; a pack already indexed gets the new size.
            pack_sizes: their sizes.
            columns: unsorted blob columns whose ``packs`` column holds positions in ``pack_ids``;
                they are not modified.
        """
        numbers = [self._pack_number(pack, size) for pack, size in zip(pack_ids, pack_sizes, strict=True)]
        renumbered = dict(columns)
        renumbered["packs"] = np.array(numbers, dtype=np.uint32)[columns["packs"]]
        self._add_unsorted(renumbered)

    def _add_unsorted(self, columns: dict[str, Array]) -> None:
        """Sort new blob columns and add them: known IDs and repeated IDs become later locations."""
        if self._overlay:
            self._flush_overlay()
        table, later = sort_unique(columns)
        del columns
        if not len(table):
            return
        live = np.frombuffer(bytes(self._live), dtype=np.uint8)
        known = np.zeros(len(table), dtype=bool)
        for existing in self._tables:
            rows = existing.find_many(table.keys, table.tails)
            hit = rows >= 0
            known[hit] |= live[existing.columns["packs"][rows[hit]]].astype(bool)
        if known.any():
            self._duplicates.extend(table.take(known).rows())
            table = table.take(~known)
        self._duplicates.extend(later.rows())
        self._count += len(table)
        if len(table):
            self._push_table(table)

    def _pack_number(self, pack_id: bytes, size: int) -> int:
        """Return the number of a pack, numbered anew when it is not indexed; record its size."""
        number = self._numbers.get(pack_id)
        if number is None:
            return self._new_pack_number(pack_id, size)
        self._pack_sizes[number] = size
        return number

    def _new_pack_number(self, pack_id: bytes, size: int) -> int:
        number = len(self._pack_ids)
        if number > 0xFFFFFFFF:
            raise ValueError("the index cannot hold more than 2**32 packs")
        self._pack_ids.append(pack_id)
        self._pack_sizes.append(size)
        self._live.append(1)
        self._numbers[pack_id] = number
        return number

    def _flush_overlay(self) -> None:
        """Turn the overlay into a table, then merge the newest tables while they have similar sizes."""
        table, _none = table_from_records(self._overlay.items())
        self._push_table(table)
        # The tables are published before the overlay is emptied: a reader in another thread sees every blob.
        self._overlay = {}

    def _push_table(self, table: BlobTable) -> None:
        """Add a table of new blobs, then merge the newest tables while they have similar sizes."""
        tables = [*self._tables, table]
        live = np.frombuffer(bytes(self._live), dtype=np.uint8)
        # Like a binary counter: the base (first) table is merged only with a table at least half its size.
        while len(tables) >= 2 and len(tables[-2]) <= 2 * len(tables[-1]):
            tables[-2:] = [merge(tables[-2:], live)]
        self._tables = tuple(tables)

    def remove_packs(self, pack_ids: Iterable[bytes]) -> None:
        """Forget the given packs and their blobs; a blob that another pack holds too is located there.

        Unknown pack IDs are ignored.
        """
        numbers = [self._numbers.pop(pack_id) for pack_id in set(pack_ids) if pack_id in self._numbers]
        if not numbers:
            return
        removed = np.array(numbers, dtype=np.uint32)
        for table in self._tables:
            self._count -= int(np.count_nonzero(np.isin(table.columns["packs"], removed)))
        gone = set(numbers)
        self._count -= sum(1 for record in self._overlay.values() if record[0] in gone)
        for number in numbers:
            self._live[number] = 0
        later = [*self._base_duplicates.rows(), *self._duplicates]
        self._base_duplicates = BlobTable.empty()
        self._duplicates = []
        for blob_id, fields in later:
            if not self._live[fields[0]]:
                continue
            if self._find(blob_id) is None:
                self._overlay[blob_id] = fields
                self._count += 1
            else:
                self._duplicates.append((blob_id, fields))

    def demote_packs(self, pack_ids: Iterable[bytes]) -> None:
        """Locate a blob in one of ``pack_ids`` only when no other pack holds it.

        A pending prune condemns packs: their blobs stay readable, but where another pack holds the
        same blob, the index points there. The demoted packs stay indexed only if they keep a blob.
        Works on whole columns (no Python object per blob), so it costs little with millions of blobs.
        Unknown pack IDs are ignored.
        """
        numbers = {self._numbers[pack_id]: pack_id for pack_id in set(pack_ids) if pack_id in self._numbers}
        if not numbers:
            return
        if self._overlay:
            self._flush_overlay()
        sizes = {number: self._pack_sizes[number] for number in numbers}
        condemned = np.array(sorted(numbers), dtype=np.uint32)
        parts = []
        for table in self._tables:
            rows = np.isin(table.columns["packs"], condemned)
            if rows.any():
                parts.append({name: table.columns[name][rows] for name in COLUMN_NAMES})
        self.remove_packs(numbers.values())
        if not parts:
            return
        if self._overlay:
            self._flush_overlay()
        columns = concatenate(parts)
        only_there = ~self._held_in_tables(columns["keys"], columns["tails"])
        columns = {name: column[only_there] for name, column in columns.items()}
        if not len(columns["keys"]):
            return
        kept = np.unique(columns["packs"]).tolist()
        renumbered = {number: self._new_pack_number(numbers[number], sizes[number]) for number in kept}
        mapping = np.zeros(max(renumbered) + 1, dtype=np.uint32)
        mapping[list(renumbered)] = list(renumbered.values())
        columns["packs"] = mapping[columns["packs"]]
        self._add_unsorted(columns)

    def lookup(self, blob_id: bytes) -> BlobLocation | None:
        """Return the blob's location, or None when no indexed pack holds it."""
        record = self._find(blob_id)
        if record is None:
            return None
        return BlobLocation(self._pack_ids[record[0]], *record[1:])

    def has_pack(self, pack_id: bytes) -> bool:
        """Return True when the pack is listed in the index."""
        return pack_id in self._numbers

    def packs(self) -> dict[bytes, int]:
        """Return a copy of {pack id: pack size} for every indexed pack."""
        sizes = self._pack_sizes
        return {pack_id: sizes[number] for pack_id, number in self._numbers.items()}

    def blobs(self) -> Iterator[tuple[bytes, BlobLocation]]:
        """Yield (blob id, location) for every indexed blob."""
        pack_ids, live = self._pack_ids, self._live
        for blob_id, record in self._records():
            if live[record[0]]:
                yield blob_id, BlobLocation(pack_ids[record[0]], *record[1:])

    def _records(self) -> Iterator[tuple[bytes, Record]]:
        overlay = self._overlay
        yield from list(overlay.items())
        for table in self._tables:
            yield from table.rows()

    def tables(self) -> tuple[list[bytes], list[int], list[BlobTable], list[BlobTable]]:
        """Return the index's content as (pack ids, pack sizes, blob tables, later-location tables).

        The overlay is turned into a table first. Blob tables may hold rows of removed packs; the
        pack sizes of removed packs are -1.
        """
        if self._overlay:
            self._flush_overlay()
        sizes = [size if self._live[number] else -1 for number, size in enumerate(self._pack_sizes)]
        ids = [blob_id for blob_id, _record in self._duplicates]
        duplicates = sorted_table(columns_from_records(ids, [record for _id, record in self._duplicates]))
        return list(self._pack_ids), sizes, list(self._tables), [self._base_duplicates, duplicates]


def _append_columns(parts: dict[str, list[Array]], columns: dict[str, Array]) -> None:
    for name, column in columns.items():
        parts[name].append(column)


def _concatenate_consuming(parts: dict[str, list[Array]], name: str) -> Array:
    pieces = parts.pop(name)
    if not pieces:
        return np.empty(0, dtype=dict(COLUMNS)[name])
    column = np.concatenate(pieces)
    pieces.clear()
    return column


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
            size = int(pack["size"])
            if size < 0:
                raise IntegrityError(f"index {name} lists a pack with a negative size")
            records.append(PackRecord(pack_id, size, [BlobEntry.from_list(b) for b in pack["blobs"]]))
        return records
    except (KeyError, TypeError, ValueError, zstandard.ZstdError, msgpack.ExtraData) as error:
        raise IntegrityError(f"index {name} is malformed: {error}") from None
