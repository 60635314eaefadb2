"""Verifying what one backup wrote, right after it saved its snapshot, without checking the whole repository.

This module owns :func:`verify_written`: the packs a backup uploaded (:attr:`Repository.written_packs`)
are read back whole and authenticated: the pack's name must be the BLAKE3 of the bytes read (so they are
exactly the bytes written), its header must decrypt, and every blob's AES-GCM tag must check. With
``decode``, every blob is also decompressed and hashed to its ID, as the data check does; that triples
the cost (zstd and the keyed hash of every plaintext byte) and guards against the program's own faults
more than the storage's, so the run's verification leaves it to ``check --read-data``. The snapshot
document is read back, decrypted and its root tree looked up in the index. Nothing is listed: the cost
is reading back the new data once.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from resguardo.core.errors import IntegrityError, ResguardoError
from resguardo.engine.checker.packs import read_pack
from resguardo.engine.checker.report import CheckProblem
from resguardo.engine.events import ItemWarning, Progress, Reporter, ignore_events
from resguardo.engine.repository import Repository, pack_name
from resguardo.engine.snapshot import Snapshot

OPERATION = "verify"


def verify_written(
    repository: Repository,
    pack_ids: Sequence[bytes],
    snapshot_id: str | None = None,
    reporter: Reporter = ignore_events,
    *,
    workers: int = 2,
    decode: bool = False,
) -> list[CheckProblem]:
    """Read back and authenticate the packs a backup wrote and, when given, its snapshot document.

    Args:
        repository: the open repository the backup wrote into.
        pack_ids: the packs to verify (a backup's :attr:`Repository.written_packs`); each is read whole.
        snapshot_id: the snapshot the backup saved (None: no snapshot to read back).
        reporter: receives Progress("verify", packs done, bytes read, packs) and one ItemWarning per problem.
        workers: threads reading and verifying packs (at least 1).
        decode: also decompress every blob and check its ID (the data check's depth).

    Returns:
        the problems found (kind ``pack``, ``blob``, ``tree`` or ``snapshot``), each naming the object;
        empty when everything written reads back intact.
    """
    problems: list[CheckProblem] = []
    bytes_read = 0
    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="verify") as executor:
        outcomes = executor.map(
            lambda pack_id: read_pack(repository.storage, repository.keys, pack_id, None, decode=decode),
            pack_ids,
        )
        for done, outcome in enumerate(outcomes, start=1):
            bytes_read += outcome.bytes_read
            name = pack_name(outcome.pack_id)
            problems.extend(CheckProblem("pack", name, message) for message in outcome.problems)
            for blob_id, message in outcome.damaged.items():
                problems.append(CheckProblem("blob", blob_id.hex(), f"{message} ({name})"))
            reporter(Progress(OPERATION, done, bytes_read, len(pack_ids), None, name))
    if snapshot_id is not None:
        problems.extend(_snapshot_problems(repository, snapshot_id))
    for problem in problems:
        reporter(ItemWarning(OPERATION, problem.name, f"{problem.kind}: {problem.message}"))
    return problems


def _snapshot_problems(repository: Repository, snapshot_id: str) -> list[CheckProblem]:
    """Return what is wrong with a saved snapshot document read back (empty: nothing)."""
    name = f"snapshots/{snapshot_id}"
    try:
        snapshot = Snapshot.from_document(snapshot_id, repository.load_snapshot_document(snapshot_id))
    except IntegrityError as error:
        return [CheckProblem("snapshot", name, f"cannot be read back: {error}")]
    except ResguardoError as error:
        return [CheckProblem("snapshot", name, f"cannot be read back: {error.message}")]
    if repository.index.lookup(snapshot.tree) is None:
        return [CheckProblem("snapshot", name, f"its root tree {snapshot.tree.hex()[:16]} is in no pack")]
    return []


__all__ = ["verify_written"]
