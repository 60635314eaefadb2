"""Rebuilding the index from the packs alone: what ``resguardo repair index`` does.

Every pack describes itself in its header, so the index can always be rebuilt from storage. This
module lists every stored pack and reads its header (or, with ``read_all_packs``, the whole pack,
verifying every blob and leaving the damaged ones out). A pack whose header is damaged but which a
readable old index file lists is read whole and the blobs that index names are verified and kept.
New index files listing every readable pack are written first, each one naming the old files it
supersedes, and only then are the old index files removed: a crash in between leaves both, which
is redundant but valid, and running the repair again finishes the job. The whole repair holds an
exclusive lock, since it removes index files other processes may be reading.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from resguardo.core.errors import IntegrityError, StorageError
from resguardo.engine.crypto import plain_id
from resguardo.engine.events import ItemWarning, Progress, ProgressThrottle, Reporter, ignore_events
from resguardo.engine.index import BlobLocation, Index, PackRecord, decode_index_file, encode_index_file
from resguardo.engine.locks import LockInfo, locked
from resguardo.engine.pack import BlobEntry, parse_pack, read_pack_header
from resguardo.engine.pruneplan import PRUNE_PREFIX, list_plans
from resguardo.engine.repository import (
    DATA_PREFIX,
    INDEX_PACKS_PER_FILE,
    INDEX_PREFIX,
    Repository,
    pack_id_from_name,
    pack_name,
)

OPERATION = "repair-index"


@dataclass(slots=True)
class IndexRepairReport:
    """What ``repair_index`` found and did.

    Attributes:
        packs_indexed: packs the new index lists.
        blobs_indexed: blobs the new index lists.
        unreadable_packs: {pack name: why} for packs left out: their header (and, with nothing to
            fall back on, their blobs) could not be read.
        salvaged_packs: packs whose header is damaged, indexed from an old index file's listing after
            reading them whole and verifying every blob it names.
        damaged_blobs: {blob hex ID: why} for blobs that failed verification and were left out (only
            when packs were read whole).
        missing_packs: packs an old index file listed that are not in storage any more.
        lost_blobs: hex IDs of blobs an old index file listed that no indexed pack holds now.
        damaged_index_files: old index files that could not be read.
        index_files_written: the new index files.
        index_files_removed: the old index files removed.
        unchanged: the index already matched the packs exactly: nothing was written or removed.
        read_all_packs: whether every pack was read whole.
        bytes_read: bytes read from storage.
    """

    packs_indexed: int = 0
    blobs_indexed: int = 0
    unreadable_packs: dict[str, str] = field(default_factory=dict)
    salvaged_packs: list[str] = field(default_factory=list)
    damaged_blobs: dict[str, str] = field(default_factory=dict)
    missing_packs: list[str] = field(default_factory=list)
    lost_blobs: list[str] = field(default_factory=list)
    damaged_index_files: list[str] = field(default_factory=list)
    index_files_written: list[str] = field(default_factory=list)
    index_files_removed: list[str] = field(default_factory=list)
    unchanged: bool = False
    read_all_packs: bool = False
    bytes_read: int = 0

    def to_json(self) -> dict[str, Any]:
        """Return the report as a JSON-ready map (for ``--json`` output)."""
        return {name: getattr(self, name) for name in IndexRepairReport.__slots__}


@dataclass(slots=True)
class _OldIndex:
    """What the old index files said: their names, the packs they list, and which could not be read."""

    names: list[str] = field(default_factory=list)
    records: dict[bytes, PackRecord] = field(default_factory=dict)
    listings: int = 0
    damaged: list[str] = field(default_factory=list)


def stale_lock_warning(reporter: Reporter, operation: str) -> Callable[[LockInfo], None]:
    """Return an ``on_stale`` callback for :func:`~resguardo.engine.locks.locked` that warns ``reporter``."""

    def warn(lock: LockInfo) -> None:
        reporter(
            ItemWarning(operation, "", f"ignoring a stale {lock.describe()}; 'resguardo unlock' removes it")
        )

    return warn


def repair_index(
    repository: Repository, *, read_all_packs: bool = False, reporter: Reporter = ignore_events
) -> IndexRepairReport:
    """Rebuild the index from the packs in storage, then remove the old index files.

    Args:
        repository: an open repository (its index need not be loaded; it is replaced by the new one).
        read_all_packs: read every pack whole and verify every blob, leaving damaged blobs out of the
            index (slower: reads the whole repository); otherwise only pack headers are read.
        reporter: receives Progress("repair-index", packs done, bytes read, packs in all) events and a
            warning per stale lock ignored.

    Returns:
        what was indexed, left out and removed.

    Raises:
        RepositoryLocked: another process holds a lock on the repository.
        StorageError: storage could not be listed, or a new index file could not be written (the old
            ones are then all still in place).
    """
    with locked(repository, exclusive=True, on_stale=stale_lock_warning(reporter, OPERATION)):
        # A pending prune plan names index files this repair replaces; no session runs beside an
        # exclusive lock and the plan deleted nothing yet, so it is dropped (the next prune plans anew).
        for plan in list(list_plans(repository.storage, repository.keys)):
            repository.storage.remove(PRUNE_PREFIX + plan.id)
        return _IndexRepair(repository, read_all_packs, reporter).run()


class _IndexRepair:
    """One run of :func:`repair_index`; not reusable."""

    def __init__(self, repository: Repository, read_all_packs: bool, reporter: Reporter) -> None:
        self.repository = repository
        self.storage = repository.storage
        self.keys = repository.keys
        self.reporter = reporter
        self.throttle = ProgressThrottle(reporter, clock=repository.clock)
        self.report = IndexRepairReport(read_all_packs=read_all_packs)

    def run(self) -> IndexRepairReport:
        report = self.report
        old = self.read_old_index()
        report.damaged_index_files = old.damaged
        stored = {}
        for item in self.storage.list(DATA_PREFIX):
            pack_id = pack_id_from_name(item.name)
            if pack_id is not None:
                stored[pack_id] = item.size
        report.missing_packs = sorted(pack_name(pack_id) for pack_id in old.records.keys() - stored.keys())
        records = []
        for done, pack_id in enumerate(sorted(stored)):
            self.progress(done, len(stored), pack_name(pack_id))
            old_record = old.records.get(pack_id)
            record = self.index_pack(
                pack_id, stored[pack_id], None if old_record is None else old_record.blobs
            )
            if record is not None:
                records.append(record)
        self.progress(len(stored), len(stored), "", force=True)
        index = Index()
        for record in records:
            index.add_pack(record)
        report.packs_indexed = len(records)
        report.blobs_indexed = len(index)
        old_blobs = {entry.id for record in old.records.values() for entry in record.blobs}
        report.lost_blobs = sorted(blob_id.hex() for blob_id in old_blobs if blob_id not in index)
        report.unchanged = _same_index(old, records)
        if report.unchanged:
            names = old.names
        else:
            names = self.write_index_files(records, old.names)
            for name in old.names:
                self.storage.remove(name)
            report.index_files_removed = list(old.names)
        self.repository.index = index
        self.repository.index_names = list(names)
        self.repository.damaged_index_names = []
        return report

    def progress(self, done: int, total: int, current: str, *, force: bool = False) -> None:
        if force or self.throttle.due():
            self.reporter(Progress(OPERATION, done, self.report.bytes_read, total, None, current))

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        data = self.storage.load(name, offset, length)
        self.report.bytes_read += len(data)
        return data

    def read_old_index(self) -> _OldIndex:
        """Read every old index file; a damaged one is named, and its packs are found in storage anyway."""
        old = _OldIndex()
        for item in self.storage.list(INDEX_PREFIX):
            old.names.append(item.name)
            try:
                records = decode_index_file(self.keys, item.name, self.load(item.name))
            except (IntegrityError, StorageError):
                old.damaged.append(item.name)
                continue
            for record in records:
                old.listings += 1
                old.records.setdefault(record.id, record)
        return old

    def index_pack(self, pack_id: bytes, size: int, old_entries: list[BlobEntry] | None) -> PackRecord | None:
        """Return the record of one pack for the new index, or None (named in the report) when unreadable."""
        name = pack_name(pack_id)
        if not self.report.read_all_packs:
            try:
                entries = read_pack_header(self.keys, functools.partial(self.load, name), size)
                return PackRecord(pack_id, size, entries)
            except (IntegrityError, StorageError) as error:
                if old_entries is None:
                    self.report.unreadable_packs[name] = f"pack header is unreadable: {error}"
                    return None
        try:
            content = self.load(name)
        except StorageError as error:
            self.report.unreadable_packs[name] = f"pack could not be read: {error}"
            return None
        try:
            entries = parse_pack(self.keys, content)
        except IntegrityError as error:
            if old_entries is None:
                self.report.unreadable_packs[name] = f"pack header is unreadable: {error}"
                return None
            entries = old_entries
        if entries is old_entries:
            self.report.salvaged_packs.append(name)
        return PackRecord(pack_id, len(content), self.verified(pack_id, content, entries))

    def verified(self, pack_id: bytes, content: bytes, entries: list[BlobEntry]) -> list[BlobEntry]:
        """Return the entries whose blob decrypts, decompresses and matches its ID; name the others."""
        view = memoryview(content)
        good = []
        for entry in entries:
            location = BlobLocation(
                pack_id, entry.type, entry.offset, entry.length, entry.raw_length, entry.compression
            )
            try:
                if entry.offset + entry.length > len(content):
                    raise IntegrityError("it lies past the end of the pack")
                self.repository.open_blob(
                    entry.id, location, bytes(view[entry.offset : entry.offset + entry.length])
                )
            except IntegrityError as error:
                self.report.damaged_blobs[entry.id.hex()] = f"in pack {pack_id.hex()[:16]}: {error}"
                continue
            good.append(entry)
        return good

    def write_index_files(self, records: list[PackRecord], old_names: list[str]) -> list[str]:
        """Write the new index files, each superseding every old one; return their names."""
        superseded = [name.removeprefix(INDEX_PREFIX) for name in old_names]
        names = []
        for start in range(0, len(records), INDEX_PACKS_PER_FILE):
            data = encode_index_file(self.keys, records[start : start + INDEX_PACKS_PER_FILE], superseded)
            name = INDEX_PREFIX + plain_id(data).hex()
            self.storage.save(name, data)
            names.append(name)
        self.report.index_files_written = names
        return names


def _same_index(old: _OldIndex, records: list[PackRecord]) -> bool:
    """Return True when the old index files list exactly these packs and blobs, each pack once."""
    if old.damaged or old.listings != len(old.records) or len(records) != len(old.records):
        return False
    for record in records:
        known = old.records.get(record.id)
        if known is None or known.size != record.size or known.blobs != record.blobs:
            return False
    return True


__all__ = ["IndexRepairReport", "repair_index", "stale_lock_warning"]
