"""The structure check: config, key slots, index files, and the listing of packs.

This module owns :class:`StructureCheck`, the part of a check that always runs: the config must
decrypt; every key slot must parse and be named by the BLAKE3 of its content; every index file must
authenticate and be named by its content's hash; every indexed pack must exist with the indexed size;
and every stored pack should be indexed (an unindexed pack is only a warning, since an interrupted
backup leaves those, and its header is read so that its blobs still count).
"""

from __future__ import annotations

from resguardo.core.errors import IntegrityError, ObjectNotFound, StorageError
from resguardo.engine.checker.run_state import CheckRun
from resguardo.engine.config import RepositoryConfig
from resguardo.engine.crypto import plain_id
from resguardo.engine.index import PackRecord, decode_index_file
from resguardo.engine.keys import parse_slot_file, slot_id
from resguardo.engine.pack import read_pack_header
from resguardo.engine.repository import (
    CONFIG_NAME,
    DATA_PREFIX,
    INDEX_PREFIX,
    KEYS_PREFIX,
    pack_id_from_name,
    pack_name,
)


class StructureCheck(CheckRun):
    """The structure part of a check run: config, key slots, index files and the pack listing."""

    def check_config(self) -> None:
        try:
            RepositoryConfig.from_bytes(self.keys.decrypt(self.load(CONFIG_NAME)))
        except ObjectNotFound:
            self.error("config", CONFIG_NAME, "the config is missing")
        except (IntegrityError, StorageError) as error:
            self.error("config", CONFIG_NAME, f"the config is damaged or unreadable: {error}")

    def check_keys(self) -> None:
        usable = 0
        for stored in self.storage.list(KEYS_PREFIX):
            self.counts.key_slots += 1
            try:
                data = self.load(stored.name)
            except StorageError as error:
                self.error("key", stored.name, f"key slot could not be read: {error}")
                continue
            problems = []
            if slot_id(data) != stored.name.removeprefix(KEYS_PREFIX):
                problems.append("key slot content does not match its name (damaged)")
            try:
                parse_slot_file(stored.name, data)
            except IntegrityError as error:
                problems.append(str(error))
            if problems:
                self.error("key", stored.name, "; ".join(problems))
            else:
                usable += 1
        if not usable:
            self.error("key", KEYS_PREFIX, "no intact key slot: the repository can no longer be opened")

    def check_index(self) -> None:
        for stored in self.storage.list(INDEX_PREFIX):
            self.counts.index_files += 1
            try:
                data = self.load(stored.name)
            except StorageError as error:
                self.error("index", stored.name, f"index file could not be read: {error}")
                continue
            problems = []
            if plain_id(data).hex() != stored.name.removeprefix(INDEX_PREFIX):
                problems.append("index file content does not match its name (damaged)")
            try:
                records = decode_index_file(self.keys, stored.name, data)
            except IntegrityError as error:
                problems.append(f"index file is damaged: {error}")
                records = []
            if problems:
                # An index file that authenticates is genuine even under a wrong name: its packs count.
                self.error("index", stored.name, "; ".join(problems))
            for record in records:
                self.add_indexed_pack(record, stored.name)
            self.progress("index", self.counts.index_files)

    def add_indexed_pack(self, record: PackRecord, index_name: str) -> None:
        known = self.indexed_sizes.get(record.id)
        if known is not None:
            if known[0] != record.size:
                self.error(
                    "index",
                    index_name,
                    f"lists pack {record.id.hex()[:16]} with size {record.size}, {known[1]} with {known[0]}",
                )
            return
        self.indexed_sizes[record.id] = (record.size, index_name)
        self.pack_entries[record.id] = record.blobs
        self.index.add_pack(record)

    def check_pack_listing(self) -> None:
        for stored in self.storage.list(DATA_PREFIX):
            pack_id = pack_id_from_name(stored.name)
            if pack_id is None:
                self.warning("pack", stored.name, "unexpected file among the packs (not a pack name)")
            else:
                self.stored_sizes[pack_id] = stored.size
        for pack_id, (size, index_name) in self.indexed_sizes.items():
            name = pack_name(pack_id)
            stored_size = self.stored_sizes.get(pack_id)
            if stored_size is None:
                self.error("pack", name, f"pack is missing (listed in {index_name})")
                for entry in self.pack_entries[pack_id]:
                    self.damaged.setdefault(entry.id, f"its pack {pack_id.hex()[:16]} is missing")
            elif stored_size != size:
                self.error("pack", name, f"pack has {stored_size} bytes, {index_name} says {size}")
        for pack_id, stored_size in self.stored_sizes.items():
            if pack_id not in self.indexed_sizes:
                self.adopt_unindexed_pack(pack_id, stored_size)
        self.counts.packs = len(self.stored_sizes.keys() | self.indexed_sizes.keys())

    def adopt_unindexed_pack(self, pack_id: bytes, size: int) -> None:
        name = pack_name(pack_id)
        self.warning(
            "pack", name, "unreferenced pack: no index lists it (an interrupted backup leaves those)"
        )
        try:
            entries = read_pack_header(
                self.keys, lambda offset, length: self.load(name, offset, length), size
            )
        except (IntegrityError, StorageError) as error:
            self.error("pack", name, f"pack header is damaged: {error}")
            return
        self.pack_entries[pack_id] = entries
        self.index.add_pack(PackRecord(pack_id, size, entries))


__all__ = ["StructureCheck"]
