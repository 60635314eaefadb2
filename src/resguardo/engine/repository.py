"""The repository: opening and creating it, storing and loading blobs, packs, indexes and snapshots.

Writes follow the order pack, then index, then snapshot: each object is complete and durable in
storage before anything refers to it, so a backup killed at any moment leaves at most packs that
no index lists yet, and the next backup adopts them (:meth:`Repository.adopt_unindexed_packs`).
"""

from __future__ import annotations

import functools
import secrets
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from resguardo.backends.base import Storage
from resguardo.clock import SYSTEM_CLOCK, Clock
from resguardo.core.errors import (
    IntegrityError,
    ObjectNotFound,
    RepositoryExists,
    RepositoryNotFound,
    ResguardoError,
    WrongPassphrase,
)
from resguardo.engine.chunker import ChunkerParameters
from resguardo.engine.compression import Compressor, decompress
from resguardo.engine.config import RepositoryConfig
from resguardo.engine.crypto import KdfParameters, RepositoryKeys, plain_id
from resguardo.engine.index import BlobLocation, Index, PackRecord, encode_index_file
from resguardo.engine.indexcache import index_cache_path, read_index_cache, write_index_cache
from resguardo.engine.indexdecode import IndexFileColumns, decode_index_columns
from resguardo.engine.indexload import IndexLoader
from resguardo.engine.keys import KeySlot, make_slot_file, parse_slot_file, slot_id
from resguardo.engine.objectlock import apply_object_lock
from resguardo.engine.pack import PackBuilder, parse_pack, read_pack_header
from resguardo.engine.pruneplan import PRUNE_EPOCH_NAME, list_plans

CONFIG_NAME = "config"
KEYS_PREFIX = "keys/"
DATA_PREFIX = "data/"
INDEX_PREFIX = "index/"
SNAPSHOTS_PREFIX = "snapshots/"
LOCKS_PREFIX = "locks/"
INDEX_PACKS_PER_FILE = 256
CACHE_REWRITE_BELOW = 1_000_000  # blobs: below this, rewriting the index cache costs less than a second


def pack_name(pack_id: bytes) -> str:
    """Return the storage name of a pack: ``data/<first two hex digits>/<hex id>``."""
    hex_id = pack_id.hex()
    return f"{DATA_PREFIX}{hex_id[:2]}/{hex_id}"


def pack_id_from_name(name: str) -> bytes | None:
    """Return the pack id a storage name encodes, or None when the name is not a pack's."""
    tail = name.rsplit("/", 1)[-1]
    try:
        pack_id = bytes.fromhex(tail)
    except ValueError:
        return None
    return pack_id if len(pack_id) == 32 and name == pack_name(pack_id) else None


class Repository:
    """An open, unlocked repository.

    Use :meth:`create` or :meth:`open`; both return a repository whose index is loaded.
    Blobs may be saved from several threads at once.
    """

    def __init__(
        self, storage: Storage, keys: RepositoryKeys, config: RepositoryConfig, clock: Clock
    ) -> None:
        self.storage = storage
        self.keys = keys
        self.config = config
        self.clock = clock
        self.index = Index()
        self.compressor = Compressor(config.compression_level)
        self._lock = threading.Lock()
        self._builders: dict[int, PackBuilder] = {}
        self._pending: set[bytes] = set()
        self._unindexed: list[PackRecord] = []
        self.written_packs: list[bytes] = []
        """The IDs of the packs written through this object, in order (what a backup uploaded), and of
        those it adopted (:meth:`adopt_unindexed_packs`: written by an interrupted backup, never verified)."""
        self.index_names: list[str] = []
        self.damaged_index_names: list[str] = []
        self.excluded_packs: frozenset[bytes] = frozenset()
        self.prune_epoch = ""
        """The token of the last prune that deleted data, as read when the session began."""
        self.index_rewritten = False
        """True when a prune is pending or has rewritten index files since this index was loaded."""
        self._session_guard: Callable[[], None] | None = None
        self.cache_directory: str | None = None
        """The local cache folder holding the memory-mapped index (None: no index cache)."""

    # -- creating and opening ---------------------------------------------------------------

    @classmethod
    def create(
        cls,
        storage: Storage,
        passphrase: bytes,
        *,
        chunker: ChunkerParameters | None = None,
        compression_level: int = 3,
        pack_size: int = 16 * 1024 * 1024,
        kdf: KdfParameters | None = None,
        clock: Clock = SYSTEM_CLOCK,
        object_lock_days: int = 0,
        object_lock_mode: str = "compliance",
    ) -> Repository:
        """Create a new repository in empty storage and return it opened.

        With ``object_lock_days``, every object but the lock files is written with an Object Lock
        retention of that many days (``object_lock_mode`` compliance or governance), by a storage
        that can (S3, in a bucket with Object Lock enabled).

        Raises:
            RepositoryExists: the storage already holds a repository or other objects.
            ConfigurationError: a parameter is out of range, or Object Lock was asked of a storage
                or bucket without it.
            StorageError: writing failed.
        """
        if storage.exists(CONFIG_NAME):
            raise RepositoryExists(f"a repository already exists at {storage.location}")
        if any(True for _ in storage.list("")):
            raise RepositoryExists(f"{storage.location} is not empty")
        config = RepositoryConfig(
            id=secrets.token_hex(16),
            created=clock.now().isoformat(),
            chunker=chunker or ChunkerParameters(),
            compression_level=compression_level,
            pack_size=pack_size,
            object_lock_days=object_lock_days,
            object_lock_mode=object_lock_mode,
        )
        apply_object_lock(storage, config, creating=True)
        keys = RepositoryKeys.generate()
        slot = make_slot_file(keys.master_secret, passphrase, kdf or KdfParameters(), clock.now())
        storage.save(KEYS_PREFIX + slot_id(slot), slot)
        storage.save(CONFIG_NAME, keys.encrypt(config.to_bytes()))
        return cls(storage, keys, config, clock)

    @classmethod
    def open(
        cls,
        storage: Storage,
        passphrase: bytes,
        *,
        clock: Clock = SYSTEM_CLOCK,
        with_index: bool = True,
        cache_directory: str | None = None,
    ) -> Repository:
        """Unlock the repository with ``passphrase`` and (unless ``with_index`` is false) load its index.

        Commands that only read snapshots or key slots open without the index, which costs time in
        proportion to the repository's size. ``cache_directory`` is the local cache folder, where the
        index is kept memory-mapped between runs (None: no index cache; see :meth:`load_index`).

        Raises:
            RepositoryNotFound: there is no repository at the location.
            WrongPassphrase: no key slot opens with the passphrase.
            IntegrityError: the config or an index file is damaged.
        """
        if not storage.exists(CONFIG_NAME):
            raise RepositoryNotFound(f"there is no repository at {storage.location}")
        master_secret = None
        for slot in list_key_slots(storage):
            master_secret = slot.unlock(passphrase)
            if master_secret is not None:
                break
        if master_secret is None:
            damaged = count_damaged_key_slots(storage)
            if damaged:
                raise IntegrityError(
                    f"no key slot opens with this passphrase, and {damaged} key slot(s) of the repository at "
                    f"{storage.location} are damaged",
                    "try another passphrase, or restore the keys/ folder from a copy of the repository",
                )
            raise WrongPassphrase(f"wrong passphrase for the repository at {storage.location}")
        keys = RepositoryKeys(master_secret)
        config = RepositoryConfig.from_bytes(keys.decrypt(storage.load(CONFIG_NAME)))
        apply_object_lock(storage, config, creating=False)
        repository = cls(storage, keys, config, clock)
        repository.cache_directory = cache_directory
        if with_index:
            repository.load_index()
        return repository

    # -- index ------------------------------------------------------------------------------

    def load_index(self, exclude_packs: Collection[bytes] | None = None) -> None:
        """Read every index file into memory (or map it from the local index cache).

        A damaged index file does not stop the repository from opening: it is skipped and named in
        :attr:`damaged_index_names`, and the packs that no readable index lists are then indexed from
        their own headers, so that every intact blob stays readable (``check`` reports the damage, and
        the next backup writes a new index file for those packs).

        Args:
            exclude_packs: the packs a pending prune will delete (default: those excluded so far).
                Their blobs stay readable, located in another pack where one holds them too, but
                :meth:`has_usable_blob` is False for a blob stored only there, so writers store it
                again rather than refer to it.
        """
        excluded = self.excluded_packs if exclude_packs is None else frozenset(exclude_packs)
        names = [stored.name for stored in self.storage.list(INDEX_PREFIX)]
        cache_path = index_cache_path(self.cache_directory, self.config.id) if self.cache_directory else None
        cached = read_index_cache(cache_path) if cache_path else None
        loaded: list[str] = []
        damaged: list[str] = []

        def decoded_files(skip: frozenset[str]) -> Iterator[IndexFileColumns]:
            for name in names:
                if name in skip:
                    continue
                try:
                    decoded = decode_index_columns(self.keys, name, self.storage.load(name))
                except (IntegrityError, ObjectNotFound):
                    damaged.append(name)
                    continue
                loaded.append(name)
                yield decoded

        if cached is not None and cached.names <= set(names):
            index, covered = cached.index, cached.names
            cached_blobs = len(index)
            for decoded in decoded_files(covered):
                index.add_columns(decoded.pack_ids, decoded.pack_sizes, decoded.columns)
            if (
                cache_path
                and loaded
                and (cached_blobs < CACHE_REWRITE_BELOW or len(index) - cached_blobs > cached_blobs // 16)
            ):
                index = self._rewrite_index_cache(cache_path, [*covered, *loaded], index)
        else:
            covered = frozenset()
            # One file's columns at a time; the loader spools them beside the cache, else in the temp folder.
            loader = IndexLoader([str(Path(cache_path).parent) if cache_path else None, None])
            for decoded in decoded_files(covered):
                loader.add(decoded)
            index = loader.finish(cache_path if loaded else None, loaded)
        if excluded:
            index.demote_packs(excluded)
        self.index = index
        loaded_names = set(loaded)
        self.index_names = [name for name in names if name in covered or name in loaded_names]
        self.damaged_index_names = damaged
        self.excluded_packs = excluded
        if damaged:
            self.adopt_unindexed_packs()

    @staticmethod
    def _rewrite_index_cache(path: str, names: list[str], index: Index) -> Index:
        """Write the index cache; return the index mapped from it (pages the OS can evict), else ``index``."""
        if write_index_cache(path, names, index):
            mapped = read_index_cache(path)
            if mapped is not None and mapped.names == frozenset(names) and len(mapped.index) == len(index):
                return mapped.index
        return index

    # -- sessions beside prune --------------------------------------------------------------

    def begin_session(self, guard: Callable[[], None] | None = None) -> None:
        """Bring the index up to date with prune, once this process's lock is written.

        Reads the pending prune plans first, then lists the index files: when a plan exists, the
        blobs only its condemned packs hold stay readable but count as absent for writing (a backup
        stores them again instead of referring to packs about to be deleted); when an index file loaded
        earlier is gone, a prune finished meanwhile and the index is loaded again. In both cases
        :attr:`index_rewritten` becomes True (the archiver then distrusts its metadata cache).
        The order matters: see "Prune" in docs/format.md for why it is safe.

        Args:
            guard: called before each snapshot is committed; it raises when the lock was lost.

        Raises:
            IntegrityError: a prune plan is damaged.
        """
        self._session_guard = guard
        try:
            self.prune_epoch = self.storage.load(PRUNE_EPOCH_NAME).hex()
        except ObjectNotFound:
            self.prune_epoch = ""
        condemned: set[bytes] = set()
        for plan in list_plans(self.storage, self.keys):
            condemned.update(plan.condemned)  # read before the index files are listed: see docs/format.md
        if not self.index_names and not self.damaged_index_names and not len(self.index):
            if condemned:  # opened without an index: only exclusions to remember for a later load
                self.excluded_packs = frozenset(condemned)
                self.index_rewritten = True
            return
        current = {stored.name for stored in self.storage.list(INDEX_PREFIX)}
        missing = any(name not in current for name in self.index_names)
        if missing or condemned or self.excluded_packs:
            self.index_rewritten = True
            self.load_index(exclude_packs=condemned)
            with self._lock:
                for record in self._unindexed:
                    self.index.add_pack(record)

    def end_session(self) -> None:
        """Forget the session's guard (the lock is being released)."""
        self._session_guard = None

    def adopt_unindexed_packs(self) -> list[str]:
        """Add to the index every stored pack that no index file lists (left by an interrupted backup).

        Their blobs become reusable at once; they are written to an index file at the next flush.

        Returns:
            the names of packs whose header could not be read (they are left alone).
        """
        unreadable = []
        for stored in self.storage.list(DATA_PREFIX):
            pack_id = pack_id_from_name(stored.name)
            if pack_id is None or self.index.has_pack(pack_id) or pack_id in self.excluded_packs:
                continue
            try:
                entries = read_pack_header(
                    self.keys, functools.partial(self.storage.load, stored.name), stored.size
                )
            except (IntegrityError, ObjectNotFound):
                unreadable.append(stored.name)
                continue
            record = PackRecord(pack_id, stored.size, entries)
            with self._lock:
                self.index.add_pack(record)
                self._unindexed.append(record)
                self.written_packs.append(pack_id)
        return unreadable

    # -- writing blobs ----------------------------------------------------------------------

    def has_usable_blob(self, blob_id: bytes) -> bool:
        """Return True when the index holds the blob in a pack no pending prune will delete."""
        if not self.excluded_packs:
            return blob_id in self.index
        location = self.index.lookup(blob_id)
        return location is not None and location.pack_id not in self.excluded_packs

    def has_blob(self, blob_id: bytes) -> bool:
        """Return True when the blob is stored (in a pack that stays) or about to be."""
        with self._lock:
            return self.has_usable_blob(blob_id) or blob_id in self._pending

    def save_blob(
        self, blob_type: int, data: bytes | memoryview, blob_id: bytes | None = None
    ) -> tuple[bytes, int]:
        """Store a blob unless an identical one is stored or pending.

        Args:
            blob_type: a :class:`~resguardo.engine.pack.BlobType`.
            data: the blob's plaintext.
            blob_id: its keyed hash, when the caller has computed it already.

        Returns:
            (blob id, bytes added to the repository; 0 for a duplicate).

        Raises:
            StorageError: a full pack could not be written.
        """
        if blob_id is None:
            blob_id = self.keys.blob_id(data)
        with self._lock:
            if self.has_usable_blob(blob_id) or blob_id in self._pending:
                return blob_id, 0
            self._pending.add(blob_id)
        stored, compression = self.compressor.compress(data)
        envelope = self.keys.encrypt(stored)
        self._add_envelope(blob_type, blob_id, envelope, len(data), compression)
        return blob_id, len(envelope)

    def copy_envelope(
        self, blob_type: int, blob_id: bytes, envelope: bytes, raw_length: int, compression: int
    ) -> bool:
        """Store an already encrypted blob envelope of this repository unless the blob is stored or pending.

        Used to repack blobs without decompressing and compressing them again.

        Returns:
            True when the envelope was added, False for a duplicate.

        Raises:
            StorageError: a full pack could not be written.
        """
        with self._lock:
            if self.has_usable_blob(blob_id) or blob_id in self._pending:
                return False
            self._pending.add(blob_id)
        self._add_envelope(blob_type, blob_id, envelope, raw_length, compression)
        return True

    def _add_envelope(
        self, blob_type: int, blob_id: bytes, envelope: bytes, raw_length: int, compression: int
    ) -> None:
        full = None
        with self._lock:
            builder = self._builders.get(blob_type)
            if builder is None:
                builder = self._builders[blob_type] = PackBuilder()
            builder.add(blob_type, blob_id, envelope, raw_length, compression)
            if builder.size >= self.config.pack_size:
                full = self._builders.pop(blob_type)
        if full is not None:
            self._write_pack(full)

    def _write_pack(self, builder: PackBuilder) -> None:
        pack_id, content, entries = builder.finish(self.keys)
        try:
            self.storage.save(pack_name(pack_id), content)
        finally:
            with self._lock:
                self._pending.difference_update(entry.id for entry in entries)
        self.add_written_pack(PackRecord(pack_id, len(content), entries))

    def add_written_pack(self, record: PackRecord) -> None:
        """Index a pack that is already durable in storage (written here or by a worker process).

        An index file is written once enough packs wait for one; :meth:`flush` writes the rest.

        Raises:
            StorageError: the index file could not be written.
        """
        with self._lock:
            self.index.add_pack(record)
            self._unindexed.append(record)
            self.written_packs.append(record.id)
            ready = len(self._unindexed) >= INDEX_PACKS_PER_FILE
            records = self._take_unindexed() if ready else []
        if records:
            self._write_index(records)

    def _take_unindexed(self) -> list[PackRecord]:
        records, self._unindexed = self._unindexed, []
        return records

    def _write_index(self, records: list[PackRecord]) -> str:
        data = encode_index_file(self.keys, records)
        name = INDEX_PREFIX + plain_id(data).hex()
        self.storage.save(name, data)
        with self._lock:
            self.index_names.append(name)
        return name

    def flush(self) -> None:
        """Write every partly filled pack, then an index file for every pack not yet indexed.

        Raises:
            StorageError: a pack or index could not be written.
        """
        with self._lock:
            builders = [builder for builder in self._builders.values() if len(builder)]
            self._builders.clear()
        for builder in builders:
            self._write_pack(builder)
        with self._lock:
            records = self._take_unindexed()
        if records:
            self._write_index(records)

    # -- reading blobs ----------------------------------------------------------------------

    def lookup(self, blob_id: bytes) -> BlobLocation:
        """Return where a blob is stored.

        Raises:
            IntegrityError: no indexed pack holds the blob.
        """
        location = self.index.lookup(blob_id)
        if location is None:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} is not in the index")
        return location

    def open_blob(
        self, blob_id: bytes, location: BlobLocation, envelope: bytes, *, verify: bool = True
    ) -> bytes:
        """Decrypt and decompress a blob envelope read from its pack.

        Raises:
            IntegrityError: authentication, decompression or (with ``verify``) the ID check failed.
        """
        plaintext = decompress(self.keys.decrypt(envelope), location.compression, location.raw_length)
        if verify and self.keys.blob_id(plaintext) != blob_id:
            raise IntegrityError(f"blob {blob_id.hex()[:16]} does not match its ID")
        return plaintext

    def load_blob(self, blob_id: bytes, *, verify: bool = True) -> bytes:
        """Return a blob's plaintext, authenticated and (with ``verify``) checked against its ID.

        Raises:
            IntegrityError: the blob is unknown or damaged.
            ObjectNotFound: its pack is missing.
        """
        location = self.lookup(blob_id)
        envelope = self.storage.load(pack_name(location.pack_id), location.offset, location.length)
        try:
            return self.open_blob(blob_id, location, envelope, verify=verify)
        except IntegrityError as error:
            raise IntegrityError(
                f"blob {blob_id.hex()[:16]} in pack {location.pack_id.hex()[:16]} is damaged: {error}"
            ) from None

    def load_pack_entries(self, pack_id: bytes, content: bytes | None = None) -> list:  # type: ignore[type-arg]
        """Return the blob entries of a pack from its own header (not from the index).

        Raises:
            IntegrityError: the header is damaged.
            ObjectNotFound: the pack is missing.
        """
        if content is not None:
            return parse_pack(self.keys, content)
        name = pack_name(pack_id)
        size = self.storage.size(name)
        return read_pack_header(
            self.keys, lambda offset, length: self.storage.load(name, offset, length), size
        )

    # -- snapshots --------------------------------------------------------------------------

    def save_snapshot_document(self, document: bytes) -> str:
        """Encrypt and store a snapshot document; return the snapshot's ID (hex).

        Raises:
            StorageError: the snapshot could not be written.
        """
        data = self.keys.encrypt(document)
        snapshot_id = plain_id(data).hex()
        if self._session_guard is not None:
            self._session_guard()
        self.storage.save(SNAPSHOTS_PREFIX + snapshot_id, data)
        return snapshot_id

    def snapshot_ids(self) -> list[str]:
        """Return the IDs of every stored snapshot."""
        return [stored.name.removeprefix(SNAPSHOTS_PREFIX) for stored in self.storage.list(SNAPSHOTS_PREFIX)]

    def load_snapshot_document(self, snapshot_id: str) -> bytes:
        """Return the decrypted document of one snapshot.

        Raises:
            ObjectNotFound: no snapshot has that ID.
            IntegrityError: the snapshot file is damaged.
        """
        data = self.storage.load(SNAPSHOTS_PREFIX + snapshot_id)
        if plain_id(data).hex() != snapshot_id:
            raise IntegrityError(f"snapshot {snapshot_id[:16]} does not match its name (damaged)")
        return self.keys.decrypt(data)

    # -- key slots --------------------------------------------------------------------------

    def add_key(self, passphrase: bytes, kdf: KdfParameters | None = None) -> str:
        """Add a key slot that opens the repository with ``passphrase``; return its ID."""
        slot = make_slot_file(self.keys.master_secret, passphrase, kdf or KdfParameters(), self.clock.now())
        identifier = slot_id(slot)
        self.storage.save(KEYS_PREFIX + identifier, slot)
        return identifier

    def remove_key(self, identifier: str, *, current_passphrase: bytes) -> None:
        """Remove a key slot, never the last one nor (by mistake) the one in use.

        Raises:
            ResguardoError: the slot is unknown, is the only one, or is the one being used.
        """
        slots = {slot.id: slot for slot in list_key_slots(self.storage)}
        matches = [name for name in slots if name.startswith(identifier)] if identifier else []
        if len(matches) != 1:
            raise ResguardoError(
                f"no single key matches {identifier!r}", "list the keys with 'resguardo key list'"
            )
        if len(slots) == 1:
            raise ResguardoError("refusing to remove the only key: the repository would be lost")
        if slots[matches[0]].unlock(current_passphrase) is not None:
            raise ResguardoError(
                "refusing to remove the key you are using",
                "open the repository with another key to remove it",
            )
        self.storage.remove(KEYS_PREFIX + matches[0])

    def change_passphrase(self, current_passphrase: bytes, new_passphrase: bytes) -> str:
        """Replace the key slot that ``current_passphrase`` opens with one for ``new_passphrase``.

        Returns:
            the new slot's ID.

        Raises:
            WrongPassphrase: no slot opens with the current passphrase.
        """
        for slot in list_key_slots(self.storage):
            if slot.unlock(current_passphrase) is not None:
                identifier = self.add_key(new_passphrase, slot.kdf)
                self.storage.remove(KEYS_PREFIX + slot.id)
                return identifier
        raise WrongPassphrase("the current passphrase opens no key slot")


def count_damaged_key_slots(storage: Storage) -> int:
    """Return how many key slot files cannot be parsed or do not match their name."""
    damaged = 0
    for stored in storage.list(KEYS_PREFIX):
        name = stored.name.removeprefix(KEYS_PREFIX)
        try:
            data = storage.load(stored.name)
            parse_slot_file(name, data)
        except (IntegrityError, ObjectNotFound):
            damaged += 1
            continue
        if slot_id(data) != name:
            damaged += 1
    return damaged


def list_key_slots(storage: Storage) -> Iterator[KeySlot]:
    """Yield every key slot of the repository in storage; damaged slots are skipped."""
    for stored in storage.list(KEYS_PREFIX):
        name = stored.name.removeprefix(KEYS_PREFIX)
        try:
            yield parse_slot_file(name, storage.load(stored.name))
        except IntegrityError:
            continue
