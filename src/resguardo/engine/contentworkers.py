"""Worker processes that read, chunk, hash, compress, encrypt and pack file content.

Python threads share one interpreter lock, so on a machine with a few cores a backup of many files
spends its time queueing for it. Here each worker is a process of its own: it reads the files it
is given, stores their new chunks in packs it writes itself, and sends back only the chunk IDs of
each file and the records of the packs it wrote. The parent keeps the index, the trees and the
snapshot, and writes index files only for packs a worker has reported written — so the write order
pack, index, snapshot holds across processes.

Deduplication: a worker asks the parent about every chunk ID it has not asked about before (see
:meth:`_Channel.claim`); the parent answers from the repository's index and from the chunks already
granted to a worker. Workers do not get a copy of the index: with ten million blobs that copy would
cost each of them hundreds of megabytes.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import threading
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from resguardo.backends.base import Storage
from resguardo.core.errors import ResguardoError, StorageError
from resguardo.engine.chunker import Chunker
from resguardo.engine.compression import Compressor
from resguardo.engine.config import RepositoryConfig
from resguardo.engine.crypto import RepositoryKeys
from resguardo.engine.index import PackRecord
from resguardo.engine.pack import BlobType, PackBuilder
from resguardo.engine.processes import ChildProcess, child_pipes, read_frame, write_frame
from resguardo.engine.repository import Repository, pack_name

BATCH_FILES = 64
BATCH_BYTES = 4 * 1024 * 1024
BATCHES_IN_FLIGHT_PER_WORKER = 3
GROUP_BYTES = 8 * 1024 * 1024

FileOutcome = tuple[list[tuple[bytes, int]], str]  # (chunks as (id, length), error message or "")


@dataclass(slots=True)
class BatchOutcome:
    """What a worker sends back for one batch of files."""

    files: list[FileOutcome]
    packs: list[PackRecord]
    warnings: list[tuple[bytes, str]]
    blobs_added: int
    bytes_added: int


class UnreadableFile(Exception):
    """A worker could not read a file; the message says why."""


def storage_is_shareable(storage: Storage) -> bool:
    """Return True when ``storage`` can be handed to another process (it says so, and pickles)."""
    return bool(getattr(storage, "shareable_between_processes", False))


# -- the worker side ----------------------------------------------------------------------------


class _Worker:
    """State of one worker process.

    Chunks are handled in groups: the worker reads and hashes a group (up to :data:`GROUP_BYTES`),
    asks the parent which of the IDs it does not know yet it should store (one round trip per group,
    see :meth:`_Channel.claim`), and compresses, encrypts and packs only those. So each new chunk is
    stored by exactly one worker, and a chunk already in the repository is never compressed at all.
    """

    def __init__(
        self, channel: _Channel, storage: Storage, master_secret: bytes, config_document: bytes
    ) -> None:
        self.channel = channel
        self.storage = storage
        self.keys = RepositoryKeys(master_secret)
        self.config = RepositoryConfig.from_bytes(config_document)
        self.compressor = Compressor(self.config.compression_level)
        self.chunker = Chunker(self.keys.chunker_key, self.config.chunker)
        self.known: set[bytes] = set()  # every chunk ID this worker has asked the parent about
        self.builder = PackBuilder()
        self.written: list[PackRecord] = []
        self.blobs_added = 0
        self.bytes_added = 0

    def store_group(
        self, group: list[tuple[int, bytes]], results: list[list[tuple[bytes, int]] | str]
    ) -> None:
        """Store the new chunks of a group and append every chunk's (id, length) to its file's result."""
        identifiers = [self.keys.blob_id(data) for _position, data in group]
        unknown = list(dict.fromkeys(blob_id for blob_id in identifiers if blob_id not in self.known))
        mine: set[bytes] = set()
        if unknown:
            mine = {
                blob_id
                for blob_id, granted in zip(unknown, self.channel.claim(unknown), strict=True)
                if granted
            }
            self.known.update(unknown)
        for (position, data), blob_id in zip(group, identifiers, strict=True):
            if blob_id in mine:
                mine.discard(blob_id)
                self.store_blob(blob_id, data)
            result = results[position]
            if isinstance(result, list):
                result.append((blob_id, len(data)))

    def store_blob(self, blob_id: bytes, data: bytes) -> None:
        stored, compression = self.compressor.compress(data)
        envelope = self.keys.encrypt(stored)
        self.builder.add(BlobType.DATA, blob_id, envelope, len(data), compression)
        self.blobs_added += 1
        self.bytes_added += len(envelope)
        if self.builder.size >= self.config.pack_size:
            self.write_pack()

    def write_pack(self) -> None:
        if not len(self.builder):
            return
        builder, self.builder = self.builder, PackBuilder()
        pack_id, content, entries = builder.finish(self.keys)
        self.storage.save(pack_name(pack_id), content)
        self.written.append(PackRecord(pack_id, len(content), entries))

    def read_chunks(
        self, path: bytes, size: int, mtime_ns: int, warnings: list[tuple[bytes, str]]
    ) -> Iterator[bytes]:
        """Yield the chunks of a file; note a warning when it changed while being read.

        Raises:
            OSError: the file could not be opened or read.
        """
        with open(path, "rb", buffering=0) as stream:
            before = os.fstat(stream.fileno())
            if before.st_size <= self.config.chunker.min_size:
                # Ask for one byte more than fstat says, to notice growth without a second read;
                # never for more, or each small file costs a large zeroed allocation.
                data = stream.read(before.st_size + 1)
                if len(data) <= before.st_size:
                    if data:
                        yield data
                else:
                    stream.seek(0)
                    yield from self.chunker.split(stream)
            else:
                yield from self.chunker.split(stream)
            after = os.fstat(stream.fileno())
        if (
            after.st_mtime_ns != before.st_mtime_ns
            or after.st_size != before.st_size
            or before.st_mtime_ns != mtime_ns
            or before.st_size != size
        ):
            warnings.append((path, "file changed while it was read; the stored copy may be inconsistent"))

    def run_batch(self, files: list[tuple[bytes, int, int]]) -> BatchOutcome:
        warnings: list[tuple[bytes, str]] = []
        results: list[list[tuple[bytes, int]] | str] = [[] for _ in files]
        group: list[tuple[int, bytes]] = []
        group_size = 0
        for position, (path, size, mtime_ns) in enumerate(files):
            try:
                for chunk in self.read_chunks(path, size, mtime_ns, warnings):
                    group.append((position, chunk))
                    group_size += len(chunk)
                    if group_size >= GROUP_BYTES:
                        self.store_group(group, results)
                        group, group_size = [], 0
            except OSError as error:
                results[position] = _describe_os_error(error)
        self.store_group(group, results)
        outcomes: list[FileOutcome] = [
            ([], result) if isinstance(result, str) else (result, "") for result in results
        ]
        outcome = BatchOutcome(outcomes, self.written, warnings, self.blobs_added, self.bytes_added)
        self.written, self.blobs_added, self.bytes_added = [], 0, 0
        return outcome


def _describe_os_error(error: OSError) -> str:
    import errno

    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.EIO:
        return "input/output error while reading"
    return error.strerror or str(error)


class _Channel:
    """The worker's end of the pipes: task frames in, replies out, and claim round trips."""

    def __init__(self, requests: BinaryIO, replies: BinaryIO) -> None:
        self.requests = requests
        self.replies = replies
        self.backlog: deque[Any] = deque()

    def next_message(self) -> Any:
        """Return the next task frame (None when the parent closed the pipe)."""
        return self.backlog.popleft() if self.backlog else read_frame(self.requests)

    def reply(self, message: object) -> None:
        write_frame(self.replies, message)

    def claim(self, identifiers: list[bytes]) -> list[bool]:
        """Ask the parent which of these new chunk IDs this worker should store.

        Raises:
            EOFError: the parent went away.
        """
        self.reply(("claim", 0, identifiers))
        while True:
            message = read_frame(self.requests)
            if message is None:
                raise EOFError("the backup process went away")
            if message[0] == "claimed":
                granted: list[bool] = message[2]
                return granted
            self.backlog.append(message)


def worker_main(requests: BinaryIO, replies: BinaryIO) -> None:
    """Run a worker: read the set-up frame, then batches, until the parent closes the pipe."""
    channel = _Channel(requests, replies)
    setup = read_frame(requests)
    if setup is None:
        return
    worker = _Worker(channel, *setup)
    while True:
        try:
            message = channel.next_message()
        except EOFError:
            return
        if message is None:
            return
        kind, batch_number, payload = message
        try:
            if kind == "flush":
                worker.write_pack()
                channel.reply(("done", batch_number, worker.run_batch([])))
            else:
                channel.reply(("done", batch_number, worker.run_batch(payload)))
        except EOFError:
            return
        except ResguardoError as error:
            channel.reply(("error", batch_number, (error.message, error.hint)))
        except Exception as error:
            channel.reply(("error", batch_number, (f"backup worker failed: {error}", "")))


# -- the parent side ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Batch:
    number: int
    files: list[tuple[bytes, int, int]] = field(default_factory=list)
    futures: list[Future[list[tuple[bytes, int]]]] = field(default_factory=list)
    size: int = 0


class _WorkerProcess(ChildProcess):
    """One worker process, and how many batches it has not answered yet."""

    def __init__(self, setup: tuple[object, ...]) -> None:
        super().__init__("resguardo.engine.contentworkers", setup)
        self.outstanding = 0


class ContentWorkers:
    """A pool of worker processes storing file content for one backup.

    Args:
        repository: the open repository (its storage must be shareable between processes).
        workers: number of processes.
        on_outcome: called in a collector thread with each batch outcome (counters, warnings).
    """

    def __init__(
        self, repository: Repository, workers: int, on_outcome: Callable[[BatchOutcome], None]
    ) -> None:
        self.repository = repository
        self.on_outcome = on_outcome
        self.batches: dict[int, _Batch] = {}
        self.claimed: set[bytes] = set()
        self.claim_lock = threading.Lock()
        self.condition = threading.Condition()
        self.failure: ResguardoError | None = None
        self.next_number = 0
        self.current = self._new_batch()
        setup = (repository.storage, repository.keys.master_secret, repository.config.to_bytes())
        self.workers = [_WorkerProcess(setup) for _ in range(workers)]
        self.collectors = [
            threading.Thread(target=self._collect, args=(worker,), name="content-collector", daemon=True)
            for worker in self.workers
        ]
        for collector in self.collectors:
            collector.start()

    def _new_batch(self) -> _Batch:
        self.next_number += 1
        return _Batch(self.next_number)

    def submit(self, path: bytes, size: int, mtime_ns: int) -> Future[list[tuple[bytes, int]]]:
        """Queue one file; return a future of its chunks as (id, length), or of UnreadableFile."""
        future: Future[list[tuple[bytes, int]]] = Future()
        batch = self.current
        batch.files.append((path, size, mtime_ns))
        batch.futures.append(future)
        batch.size += size
        if len(batch.files) >= BATCH_FILES or batch.size >= BATCH_BYTES:
            self.dispatch()
        return future

    def _send(self, kind: str, batch: _Batch, payload: object) -> None:
        with self.condition:
            while (
                min(worker.outstanding for worker in self.workers) >= BATCHES_IN_FLIGHT_PER_WORKER
                and self.failure is None
            ):
                self.condition.wait()
            if self.failure is not None:
                raise self.failure
            worker = min(self.workers, key=lambda candidate: candidate.outstanding)
            worker.outstanding += 1
            self.batches[batch.number] = batch
        try:
            worker.send((kind, batch.number, payload))
        except OSError:
            self._fail(StorageError("a backup worker process ended unexpectedly"))
            raise self.failure or StorageError("a backup worker process ended unexpectedly") from None

    def dispatch(self) -> None:
        """Send the batch being filled to the least busy worker, waiting while all are busy.

        Raises:
            ResguardoError: a worker failed.
        """
        batch = self.current
        if batch.files:
            self.current = self._new_batch()
            self._send("files", batch, batch.files)

    def _fail(self, error: ResguardoError) -> None:
        with self.condition:
            if self.failure is None:
                self.failure = error
            for batch in self.batches.values():
                for future in batch.futures:
                    if not future.done():
                        future.set_exception(self.failure)
            self.batches.clear()
            self.condition.notify_all()

    def _collect(self, worker: _WorkerProcess) -> None:
        try:
            self._collect_replies(worker)
        except Exception as error:
            self._fail(StorageError(f"collecting results from a backup worker failed: {error}"))

    def _collect_replies(self, worker: _WorkerProcess) -> None:
        while True:
            message = read_frame(worker.replies)
            if message is None:
                if worker.process.poll() not in (None, 0) or self.failure is None:
                    self._fail(StorageError("a backup worker process ended unexpectedly"))
                return
            kind, number, payload = message
            if kind == "claim":
                worker.send(("claimed", 0, self._grant(payload)))
                continue
            with self.condition:
                worker.outstanding -= 1
                batch = self.batches.pop(number, None)
                self.condition.notify_all()
            if kind == "error":
                message_text, hint = payload
                error = StorageError(message_text, hint or None)
                if batch is not None:
                    for future in batch.futures:
                        if not future.done():
                            future.set_exception(error)
                self._fail(error)
                continue
            self._apply(payload, batch)

    def _grant(self, identifiers: list[bytes]) -> list[bool]:
        """Decide which new chunk IDs the asking worker stores: those nobody has or has claimed."""
        repository = self.repository
        indexed = repository.index.contains_many(identifiers)
        if repository.excluded_packs:  # a blob only in packs a pending prune deletes is stored again
            indexed = [
                known and repository.has_usable_blob(blob_id)
                for blob_id, known in zip(identifiers, indexed, strict=True)
            ]
        with self.claim_lock:
            granted = [
                not known and blob_id not in self.claimed
                for blob_id, known in zip(identifiers, indexed, strict=True)
            ]
            self.claimed.update(identifiers)
        return granted

    def _apply(self, outcome: BatchOutcome, batch: _Batch | None) -> None:
        for record in outcome.packs:
            self.repository.add_written_pack(record)
        self.on_outcome(outcome)
        if batch is not None:
            for future, (chunks, error_message) in zip(batch.futures, outcome.files, strict=True):
                if error_message:
                    future.set_exception(UnreadableFile(error_message))
                else:
                    future.set_result(chunks)

    def finish(self) -> None:
        """Send the last batch, have every worker write its open pack, and stop the workers.

        Raises:
            ResguardoError: a worker failed.
        """
        self.dispatch()
        for worker in self.workers:
            batch = self._new_batch()
            with self.condition:
                worker.outstanding += 1
                self.batches[batch.number] = batch
            worker.send(("flush", batch.number, None))
        with self.condition:
            while any(worker.outstanding for worker in self.workers) and self.failure is None:
                self.condition.wait()
            if self.failure is not None:
                raise self.failure
        self.close()

    def close(self) -> None:
        """Stop the workers: close their input, wait briefly, kill any that lingers."""
        self.failure = self.failure or StorageError("the backup was stopped")
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.requests.close()
        for worker in self.workers:
            try:
                worker.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
        for collector in self.collectors:
            collector.join(timeout=10)
        for worker in self.workers:
            with contextlib.suppress(OSError):
                worker.replies.close()


if __name__ == "__main__":
    # Import the module under its real name so that what the worker pickles unpickles in the parent.
    from resguardo.engine import contentworkers  # noqa: PLW0406 - see the comment above

    requests, replies = child_pipes()
    with requests, replies:
        contentworkers.worker_main(requests, replies)
