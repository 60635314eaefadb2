"""The data check's scheduling: queuing packs on threads or worker processes and merging what they find.

This module owns :class:`DataCheck`. BLAKE3, AES-GCM and zstd run in native code, but for the many
small blobs of a typical repository the interpreter lock is held for much of each blob's
verification, so packs are verified on worker *processes* when the storage can be opened by them (a
local directory) and there is enough data to repay their start-up, while the tree walk runs at the
same time; otherwise on threads, before the walk (a walk beside verifying threads would only queue
for the lock). Each pack's outcome is merged into the report as it finishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor, as_completed

from resguardo.core.errors import StorageError
from resguardo.engine.checker.packs import (
    WORKER_MODULE,
    PackOutcome,
    entry_key,
    read_pack,
    use_processes,
)
from resguardo.engine.checker.run_state import OPERATION, CheckRun
from resguardo.engine.events import Progress
from resguardo.engine.pack import BlobType
from resguardo.engine.processes import ChildPool
from resguardo.engine.repository import pack_name


class DataCheck(CheckRun):
    """The data part of a check run: reading the selected packs whole and merging their outcomes."""

    def start_data(
        self, executor: Executor | None, pack_ids: Sequence[bytes], processes: bool | None
    ) -> None:
        """Queue every selected pack for reading; :meth:`drain` gathers the outcomes.

        Packs are read on ``executor`` (threads), or on worker processes when :func:`use_processes` says so.
        """
        self.data_total = (len(pack_ids), sum(self.stored_sizes[pack_id] for pack_id in pack_ids))
        self.data_progress(force=True)
        if use_processes(self.storage, self.workers, processes, self.data_total[1]):
            pool = self.process_pool = ChildPool(
                WORKER_MODULE,
                (self.storage, self.keys.master_secret),
                self.workers,
                lambda message: StorageError(f"checking a pack failed: {message}"),
            )
            for pack_id in pack_ids:
                entries = self.pack_entries.get(pack_id)
                fields = None if entries is None else [entry_key(entry) for entry in entries]
                self.pending.add(pool.submit((pack_id, fields)))
            return
        assert executor is not None
        for pack_id in pack_ids:
            self.pending.add(
                executor.submit(read_pack, self.storage, self.keys, pack_id, self.pack_entries.get(pack_id))
            )

    def data_progress(self, current: str = "data", *, force: bool = False) -> None:
        if force or self.throttle.due():
            packs, size = self.data_total
            self.reporter(
                Progress(OPERATION, self.counts.packs_read, self.counts.bytes_read, packs, size, current)
            )

    def drain(self, *, block: bool) -> None:
        """Merge the packs read so far (all of them, waiting, with ``block``)."""
        done = as_completed(self.pending) if block else [future for future in self.pending if future.done()]
        for future in done:
            outcome = future.result()
            self.merge(outcome)
            self.data_progress(pack_name(outcome.pack_id))
        if block:
            self.pending.clear()
            self.data_progress(force=True)
        else:
            self.pending.difference_update(done)

    def cancel_pending(self) -> None:
        """Give up on the packs not read yet (when the check is failing), and stop worker processes."""
        for future in self.pending:
            future.cancel()
        if self.process_pool is not None:
            self.process_pool.close()

    def merge(self, outcome: PackOutcome) -> None:
        name = pack_name(outcome.pack_id)
        self.counts.packs_read += 1
        self.counts.blobs += outcome.blobs
        with self.count_lock:
            self.counts.bytes_read += outcome.bytes_read
        for message in outcome.problems:
            self.error("pack", name, message)
        for blob_id, message in outcome.damaged.items():
            if blob_id not in self.damaged:
                self.damaged[blob_id] = message
                self.rescan_needed = self.walk_started
                location = self.index.lookup(blob_id)
                kind = "tree" if location is not None and location.type == BlobType.TREE else "blob"
                self.error(kind, blob_id.hex(), message)


__all__ = ["DataCheck"]
