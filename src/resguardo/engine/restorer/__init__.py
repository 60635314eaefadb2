"""Restore: write a snapshot's files back into a directory, with their metadata.

The work is shared so that every core stays busy:

* a **walker** thread loads the snapshot's trees depth-first, applies includes and excludes, and
  hands each directory's plan (the entries to restore in it, its hard links) to the calling thread;
  when it has walked everything, the progress totals are known.
* the **calling** thread creates the directories in depth-first order (lazily: a directory kept
  only to reach an included path is created when something below it is restored) and hands their
  entries, in batches, to the workers;
* **workers** create the files, write their content and set their metadata. For a large restore
  from storage that other processes can open, they are processes of their own
  (``python -m resguardo.engine.restorer``), so that the per-file work of the interpreter runs on
  every core instead of queueing for one interpreter lock; otherwise they are threads (AES-GCM,
  zstd, BLAKE3 and the writes release the lock). Files larger than :data:`PIECE_BYTES` are written
  in pieces by several workers at once.

Reads are planned by pack: the wanted blobs in one window of a pack form a *run*, read with one
storage load of the range covering them and kept until each of its blobs has been used as often as
counted (a memory cap drops the oldest runs, read again if needed). When the writing is done, the
calling thread makes the hard links and applies every directory's metadata, deepest first, so that
creating entries does not change a restored time.

Security: no file-system call follows a path through the target. Every call is relative to a
directory descriptor opened with ``O_DIRECTORY | O_NOFOLLOW``, starting from the target; files are
created with ``O_CREAT | O_EXCL | O_NOFOLLOW`` after removing whatever was in the way, and metadata is
set through the open descriptor or with ``follow_symlinks=False``. A symlink in the target, restored
or already there, is therefore never followed, and an existing file (or a hard link to a file
elsewhere) is replaced, never written through. Worker processes open each directory (and each file
written in pieces) again from the target down, without following links, and check that it is the
very one the calling thread created (same device and inode) before writing in it. Trees with names
that could escape their directory are refused by :func:`~resguardo.engine.tree.decode_tree`.

Damage: a blob that cannot be read leaves a hole of its length in its file, which is named in
``damaged`` (and in a warning); every other file is restored. A damaged tree names its directory,
which is skipped.


Modules: :mod:`.coordinator` (one restore run), :mod:`.plan` (directories and jobs),
:mod:`.reading` (trees and blobs), :mod:`.entry_writer` (carrying out a job), :mod:`.writing`
(file-system operations), :mod:`.workers` (worker threads and processes), :mod:`.tuning`
(tunables), :mod:`.result` (:class:`RestoreResult`); this package holds :func:`restore`.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable

from resguardo.core.errors import ConfigurationError, TargetError
from resguardo.engine.events import Reporter, ignore_events
from resguardo.engine.filters import PathFilter
from resguardo.engine.repository import Repository
from resguardo.engine.restorer.coordinator import _Restorer
from resguardo.engine.restorer.plan import _Group as _Group
from resguardo.engine.restorer.plan import _Outcome as _Outcome
from resguardo.engine.restorer.result import RestoreResult as RestoreResult
from resguardo.engine.restorer.tuning import BATCH_BYTES as BATCH_BYTES
from resguardo.engine.restorer.tuning import BATCH_FILES as BATCH_FILES
from resguardo.engine.restorer.tuning import JOBS_IN_FLIGHT_PER_WORKER as JOBS_IN_FLIGHT_PER_WORKER
from resguardo.engine.restorer.tuning import PIECE_BYTES as PIECE_BYTES
from resguardo.engine.restorer.tuning import PROCESSES_FROM_BYTES as PROCESSES_FROM_BYTES
from resguardo.engine.restorer.tuning import PROCESSES_FROM_FILES as PROCESSES_FROM_FILES
from resguardo.engine.restorer.tuning import RUN_CACHE_BYTES as RUN_CACHE_BYTES
from resguardo.engine.restorer.tuning import RUN_WINDOW_LOCAL as RUN_WINDOW_LOCAL
from resguardo.engine.restorer.tuning import RUN_WINDOW_REMOTE as RUN_WINDOW_REMOTE
from resguardo.engine.restorer.tuning import TREE_WINDOW as TREE_WINDOW
from resguardo.engine.restorer.tuning import TREE_WINDOWS_KEPT as TREE_WINDOWS_KEPT
from resguardo.engine.restorer.workers import _DirectoryOpener as _DirectoryOpener
from resguardo.engine.restorer.workers import _ProcessWorkers as _ProcessWorkers
from resguardo.engine.restorer.writing import Identity as Identity
from resguardo.engine.restorer.writing import _describe
from resguardo.engine.restorer.writing import _FatalTargetError as _FatalTargetError
from resguardo.engine.snapshot import Snapshot
from resguardo.engine.tree import decode_tree


def _open_target(target: bytes) -> int:
    """Create the target if missing and return a descriptor of it.

    Raises:
        TargetError: it cannot be created, is not a directory, or cannot be written.
    """
    shown = os.fsdecode(target)
    try:
        os.makedirs(target, exist_ok=True)
    except FileExistsError:
        raise TargetError(f"cannot restore to {shown}: it is not a directory", "choose a directory") from None
    except OSError as error:
        raise TargetError(
            f"cannot create the restore target {shown}: {_describe(error)}",
            "choose a directory you can write to",
        ) from None
    try:
        fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as error:
        reason = "it is not a directory" if error.errno == errno.ENOTDIR else _describe(error)
        raise TargetError(f"cannot restore to {shown}: {reason}", "choose a directory") from None
    if not os.access(target, os.W_OK | os.X_OK):
        os.close(fd)
        raise TargetError(
            f"cannot restore to {shown}: it is not writable (permission denied or a read-only file system)",
            "choose a directory you can write to",
        )
    return fd


def _processes_pay_off(repository: Repository, snapshot: Snapshot) -> bool:
    """Return True when worker processes can open the storage and the snapshot is large enough."""
    if not getattr(repository.storage, "shareable_between_processes", False):
        return False
    files = snapshot.summary.get("total_files_processed", 0)
    size = snapshot.summary.get("total_bytes_processed", 0)
    return files >= PROCESSES_FROM_FILES or size >= PROCESSES_FROM_BYTES


def restore(
    repository: Repository,
    snapshot: Snapshot,
    target: str,
    *,
    includes: Iterable[str] = (),
    excludes: Iterable[str] = (),
    reporter: Reporter = ignore_events,
    workers: int = 2,
    verify: bool = True,
    processes: bool | None = None,
) -> RestoreResult:
    """Restore a snapshot (or the part that the filters select) into ``target``.

    The snapshot's absolute paths become paths inside ``target``: ``/srv/www`` is restored to
    ``TARGET/srv/www``. Entries in the way are replaced; other entries already in the target are
    left alone. Owners are restored only when running as root (by name when the name exists here).

    Args:
        repository: an open repository.
        snapshot: the snapshot to restore.
        target: the directory to restore into; created when missing.
        includes: patterns (see :mod:`resguardo.engine.filters`) of the paths to restore, matched
            against the absolute paths of the snapshot; the directories leading to them are
            restored too. Empty: everything.
        excludes: patterns of paths to leave out (with everything below them).
        reporter: receives Progress("restore", ...) events (totals once the trees are walked), and
            one ItemWarning per entry not restored, damaged, or restored without some metadata.
        workers: worker processes or threads writing files.
        verify: check every blob against its ID after decrypting it (authentication is always checked).
        processes: write with worker processes (True), threads (False), or decide from the storage
            and the snapshot's size (None).

    Returns:
        counts, the entries that could not be restored, and the damaged paths.

    Raises:
        TargetError: the target cannot be created or written, or it filled up.
        ConfigurationError: a pattern is malformed, ``workers`` is less than 1, or processes were
            asked for with a storage that other processes cannot open.
        ResguardoError: a worker failed unexpectedly.
    """
    if workers < 1:
        raise ConfigurationError(f"workers must be at least 1, got {workers}")
    if processes and not getattr(repository.storage, "shareable_between_processes", False):
        raise ConfigurationError("this storage cannot be opened by worker processes", "restore with threads")
    restorer = _Restorer(repository, snapshot, reporter)
    restorer.includes = PathFilter(includes)
    restorer.excludes = PathFilter(excludes)
    restorer.worker_count = workers
    restorer.verify = verify
    restorer.piece_bytes = PIECE_BYTES  # read here, at call time, so that setting it on the package counts
    restorer.decode_tree = decode_tree
    use_processes = _processes_pay_off(repository, snapshot) if processes is None else processes
    target_fd = _open_target(os.fsencode(target))
    try:
        restorer.write(target_fd, use_processes)
        restorer.finish()
    except _FatalTargetError as fatal:
        raise TargetError(
            f"restore stopped at {fatal.path}: {fatal.reason}",
            "free space or make the target writable, then restore again",
        ) from None
    finally:
        os.close(target_fd)
    restorer.current = ""
    restorer.report_progress(force=True)
    return restorer.result
