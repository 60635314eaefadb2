"""The data a restore needs, read and checked before anything is written to its target.

:func:`check_needed_data` reads every tree and content blob that restoring ``items`` (databases or
paths) of a snapshot needs, once each, authenticating and checking each against its ID. The worker
runs it before it touches a target (:mod:`resguardo.services.restore_run`), and the search for an
intact copy runs it on a copy before offering it (:mod:`resguardo.services.copies`).
"""

from __future__ import annotations

from collections.abc import Sequence

from resguardo.catalog import RestoreKind
from resguardo.core.errors import Conflict, IntegrityError, ResguardoError
from resguardo.engine.browse import walk_snapshot
from resguardo.engine.repository import Repository
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import FILE

DAMAGED_MESSAGE = "the data this restore needs cannot be read, so nothing was restored"
DAMAGED_HINT = "run 'resguardo check --read-data' on the repository, and restore from another run"


class NeededDataDamaged(IntegrityError):
    """A tree or blob a restore needs is missing or damaged (nothing was written to the target)."""


def stream_of(snapshot: Snapshot, database: str) -> dict[str, str | int]:
    """Return the stream of ``database`` in the snapshot. Raises Conflict when it is not there."""
    for stream in snapshot.streams:
        if stream.get("database") == database:
            return stream
    raise Conflict(f"snapshot {snapshot.short_id} holds no database {database!r}")


def needed_files(
    repository: Repository, snapshot: Snapshot, kind: RestoreKind, items: Sequence[str]
) -> list[tuple[str, list[bytes]]]:
    """Return (path, content blob IDs) of every file restoring ``items`` reads.

    Raises:
        Conflict: a database is not in the snapshot. ResguardoError: a tree cannot be read.
    """
    if kind is RestoreKind.DATABASE:
        roots = [f"/{stream_of(snapshot, str(item))['name']}" for item in items]
    else:
        roots = [str(item) for item in items]
    files = []
    for root in roots:
        for path, node in walk_snapshot(repository, snapshot, root):
            if node.type == FILE:
                files.append((path, list(node.content)))
    return files


def check_needed_data(
    repository: Repository, snapshot: Snapshot, kind: RestoreKind, items: Sequence[str]
) -> tuple[int, int]:
    """Read and check every tree and blob restoring ``items`` needs; return (blobs, bytes) read.

    Raises:
        NeededDataDamaged: a tree or blob is missing or damaged.
    """
    seen: set[bytes] = set()
    size = 0
    try:
        for _path, blobs in needed_files(repository, snapshot, kind, items):
            for blob_id in blobs:
                if blob_id not in seen:
                    size += len(repository.load_blob(blob_id))
                    seen.add(blob_id)
    except ResguardoError as error:
        raise NeededDataDamaged(f"{DAMAGED_MESSAGE}: {error.message}", DAMAGED_HINT) from None
    return len(seen), size
