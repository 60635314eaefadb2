"""Reading one pack whole and verifying it, on a worker thread or in a worker process.

This module owns the data check of a single pack: its name must be the BLAKE3 of its bytes, its
header must authenticate and agree with the index, and every blob must decrypt, decompress and hash
(keyed) to its ID. It also holds what a worker process does (the package's ``__main__`` serves
:func:`read_pack_in_worker` through :class:`resguardo.engine.processes.ChildPool`), and the
choice between processes and threads (:func:`use_processes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from resguardo.backends.base import Storage
from resguardo.core.errors import IntegrityError, ObjectNotFound, StorageError
from resguardo.engine.compression import decompress
from resguardo.engine.crypto import RepositoryKeys, plain_id
from resguardo.engine.pack import BlobEntry, parse_pack
from resguardo.engine.repository import pack_name

PROCESS_THRESHOLD = 64 * 1024 * 1024


@dataclass(slots=True)
class PackOutcome:
    pack_id: bytes
    bytes_read: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)
    damaged: dict[bytes, str] = field(default_factory=dict)


_EntryFields = tuple[int, bytes, int, int, int, int]


ID_MISMATCH = "content does not match its ID"


def in_pack(pack_id: bytes, problem: object) -> str:
    """Return the message for a damaged blob or tree: the same whichever pass finds it first."""
    return f"in pack {pack_id.hex()[:16]}: {problem}"


def entry_key(entry: BlobEntry) -> _EntryFields:
    return (entry.type, entry.id, entry.offset, entry.length, entry.raw_length, entry.compression)


def read_pack(
    storage: Storage,
    keys: RepositoryKeys,
    pack_id: bytes,
    indexed: list[BlobEntry] | None,
    *,
    decode: bool = True,
) -> PackOutcome:
    """Read one pack whole and verify it; ``indexed`` is what the index (or its header) says it holds.

    With ``decode`` (the data check), every blob is decrypted, decompressed and hashed to its ID; without
    it, every blob is only authenticated (its AES-GCM tag checked): the pack's name, the BLAKE3 of its
    bytes, already proves them unchanged, and the tags that they are the repository's.
    """
    outcome = PackOutcome(pack_id)
    try:
        content = storage.load(pack_name(pack_id))
    except ObjectNotFound:
        outcome.problems.append("pack disappeared while it was being checked")
        outcome.damaged = {entry.id: "its pack is missing" for entry in indexed or ()}
        return outcome
    except StorageError as error:
        outcome.problems.append(f"pack could not be read: {error}")
        return outcome
    outcome.bytes_read = len(content)
    if plain_id(content) != pack_id:
        outcome.problems.append("pack content does not match its name (damaged)")
    try:
        header: list[BlobEntry] | None = parse_pack(keys, content)
    except IntegrityError as error:
        header = None
        outcome.problems.append(f"pack header is damaged: {error}")
    entries = indexed if indexed is not None else header or []
    if header is not None and indexed is not None:
        extra = {entry_key(entry) for entry in header} - {entry_key(entry) for entry in indexed}
        if extra or len(header) != len(indexed):
            outcome.problems.append("pack header does not agree with the index")
            entries = indexed + [entry for entry in header if entry_key(entry) in extra]
    view = memoryview(content)
    decrypt = keys.decrypt
    blob_id = keys.blob_id
    damaged = outcome.damaged
    for entry in entries:
        start = entry.offset
        try:
            decrypted = decrypt(view[start : start + entry.length])
            if not decode:
                continue
            plaintext = decompress(decrypted, entry.compression, entry.raw_length)
        except IntegrityError as error:
            damaged[entry.id] = in_pack(pack_id, error)
            continue
        if blob_id(plaintext) != entry.id:
            damaged[entry.id] = in_pack(pack_id, ID_MISMATCH)
    outcome.blobs = len(entries)
    return outcome


WORKER_MODULE = "resguardo.engine.checker"
"""Run with ``python -m`` as a worker process (see ``__main__.py``)."""


def start_worker(setup: tuple[Storage, bytes]) -> tuple[Storage, RepositoryKeys]:
    """Return a worker process's state from its set-up message: (storage, master secret)."""
    storage, master_secret = setup
    return storage, RepositoryKeys(master_secret)


def read_pack_in_worker(
    state: tuple[Storage, RepositoryKeys], request: tuple[bytes, list[_EntryFields] | None]
) -> PackOutcome:
    """Verify one pack in a worker process; the request is (pack id, index entries or None)."""
    storage, keys = state
    pack_id, indexed = request
    entries = None if indexed is None else [BlobEntry(*fields) for fields in indexed]
    return read_pack(storage, keys, pack_id, entries)


def use_processes(storage: Storage, workers: int, processes: bool | None, total_bytes: int) -> bool:
    """Return whether to verify packs in worker processes rather than threads.

    Threads share one interpreter lock with the tree walk, and much of a blob's verification holds
    it; processes cost a start-up of about a tenth of a second each, so they are chosen
    automatically only for storage they can open themselves and more than a few packs of data.
    """
    if workers < 2 or not getattr(storage, "shareable_between_processes", False):
        return False
    return processes if processes is not None else total_bytes >= PROCESS_THRESHOLD


__all__ = [
    "ID_MISMATCH",
    "PROCESS_THRESHOLD",
    "WORKER_MODULE",
    "PackOutcome",
    "entry_key",
    "in_pack",
    "read_pack",
    "read_pack_in_worker",
    "start_worker",
    "use_processes",
]
