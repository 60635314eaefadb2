"""Reading a client's files over one SSH connection: tar streams for small files, SFTP for the rest.

:class:`FileReads` runs one ``read_files`` call of :class:`resguardo.sources.sshtree.SshTreeSource` in
rounds. In a round, up to :data:`TAR_STREAMS` workers each run ``tar`` on batches of the small files
(:mod:`resguardo.sources.sshtar`), while the other workers, up to ``parallel`` in all, read the large
files over SFTP, each on an SFTP session of its own with many read requests in flight. What a tar
stream leaves over (a file deleted or changed since the listing, a stream cut short) is read over SFTP
in the next round. Without tar on the client every file goes over SFTP.

Every worker holds at most one session channel at a time, so a round never asks for more than
``parallel`` sessions. An SSH server refuses sessions beyond its ``MaxSessions`` (OpenSSH: 10 by
default): a worker whose session is refused stops, the others go on, a warning is logged and later rounds
ask only for as many sessions as were granted; when none is granted the read fails with a message naming
``MaxSessions``.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import paramiko
from paramiko.sftp import CMD_CLOSE, CMD_HANDLE, CMD_OPEN

from resguardo.backends._sftp_read import read_range
from resguardo.core.errors import SourceError
from resguardo.engine.remotetree import RemoteEntry, StoreContent, StoredContent
from resguardo.sources.sshtar import TAR_FILE_BYTES, TarStream, batches_of

if TYPE_CHECKING:
    from resguardo.sources.sshtree import SshTreeSource

LOGGER = logging.getLogger("resguardo.sources.ssh")
TAR_STREAMS = 2
"""tar runs at once (more only add processes on the client: one stream keeps a core busy here)."""
SFTP_FLAG_READ = 0x01
SMALL_FILE_BYTES = 1024 * 1024
"""Files listed up to this size are read over SFTP in one request and taken to end where the listing says."""
OPEN_RETRY_SECONDS = (0.05, 0.2, 0.5)
"""Waits before asking again for a refused session: a server frees a closed one a moment later."""

Outcome = tuple[RemoteEntry, StoredContent | str]
_Emit = Callable[[Outcome], None]


class SessionRefused(Exception):
    """The SSH server refused to open one more session channel (its ``MaxSessions``)."""


def open_channel(transport: paramiko.Transport, again: bool) -> paramiko.Channel:
    """Open a session channel; with ``again`` (a session of ours was just closed, which the server
    frees a moment later), ask again a few times when the server refuses it.

    Raises:
        SessionRefused: the server refused it.
    """
    for wait in (*(OPEN_RETRY_SECONDS if again else ()), None):
        try:
            return transport.open_session()
        except paramiko.SSHException as error:
            # paramiko raises ChannelException to one of the threads refused at once, a plain
            # SSHException to the others: a transport still up means the channel was refused.
            if not transport.is_active():
                raise
            if wait is None:
                text = error.text if isinstance(error, paramiko.ChannelException) else ""
                raise SessionRefused(text or "open failed") from None
            time.sleep(wait)
    raise AssertionError("unreachable")


class FileReads:
    """One ``read_files`` call: the files still to read and the workers that read them.

    Args:
        source: the connected source (its transport, counters and ``parallel``).
        entries: the files to read.
        store: chunks and stores one file's bytes.
        use_tar: read the small files through tar streams.
    """

    def __init__(
        self, source: SshTreeSource, entries: Sequence[RemoteEntry], store: StoreContent, use_tar: bool
    ) -> None:
        self.source = source
        self.store = store
        self.batches: queue.SimpleQueue[list[RemoteEntry]] = queue.SimpleQueue()
        self.singles: queue.SimpleQueue[RemoteEntry] = queue.SimpleQueue()
        small = [entry for entry in entries if use_tar and entry.size <= TAR_FILE_BYTES]
        for batch in batches_of(small):
            self.batches.put(batch)
        for entry in entries:
            if not (use_tar and entry.size <= TAR_FILE_BYTES):
                self.singles.put(entry)
        self.lock = threading.Lock()
        self.opened = 0
        self.refused: list[str] = []
        self.warned = False
        self.rounds = 0

    def __iter__(self) -> Iterator[Outcome]:
        """Yield each file with what ``store`` returned or why it could not be read, as they finish.

        Raises:
            SourceError: the connection was lost, or the server granted no session at all.
            StorageError: ``store`` could not write the repository.
        """
        while not (self.batches.empty() and self.singles.empty()):
            yield from self._round()

    def _round(self) -> Iterator[Outcome]:
        """Run one round of workers until their queues are empty; yield what they read."""
        parallel = self.source.parallel
        streams = min(TAR_STREAMS, parallel, self.batches.qsize())
        readers = min(parallel - streams, self.singles.qsize())
        workers: list[Callable[[_Emit, threading.Event], None]] = [self._stream_worker] * streams
        workers += [self._sftp_worker] * readers
        self.opened, self.refused = 0, []
        self.rounds += 1
        yield from self._run(workers)
        if self.refused and not self.opened:
            raise SourceError(
                f"the SSH server of {self.source.address} refused every session asked for reading files "
                f"({self.refused[0]})",
                "its MaxSessions (sshd_config) allows fewer sessions than --ssh-parallel asks: raise "
                "MaxSessions, or give --ssh-parallel at most MaxSessions",
            )
        if self.refused:
            self._warn_refused(len(workers))

    def _warn_refused(self, asked: int) -> None:
        granted = self.opened
        if not self.warned:
            LOGGER.warning(
                "the SSH server of %s opened %d of the %d sessions asked (%s): its MaxSessions "
                "(sshd_config) is lower; reading with %d. Raise MaxSessions or give --ssh-parallel %d",
                self.source.address,
                granted,
                asked,
                self.refused[0],
                granted,
                granted,
            )
            self.warned = True
        self.source.parallel = max(1, min(self.source.parallel, granted))

    def _run(self, workers: list[Callable[[_Emit, threading.Event], None]]) -> Iterator[Outcome]:
        """Run the workers on threads; yield what they emit; raise the first error one met."""
        results: queue.SimpleQueue[Outcome | BaseException | None] = queue.SimpleQueue()
        stop = threading.Event()

        def run(worker: Callable[[_Emit, threading.Event], None]) -> None:
            try:
                worker(results.put, stop)
            except SessionRefused as refusal:
                with self.lock:
                    self.refused.append(str(refusal))
            except BaseException as error:  # handed to the consuming thread, which raises it
                results.put(error)
            finally:
                results.put(None)

        threads = [
            threading.Thread(target=run, args=(worker,), name="ssh-read", daemon=True) for worker in workers
        ]
        for thread in threads:
            thread.start()
        running, failure = len(threads), None
        try:
            while running:
                item = results.get()
                if item is None:
                    running -= 1
                elif isinstance(item, BaseException):
                    failure = failure or item
                    stop.set()
                elif failure is None:
                    yield item
        finally:
            stop.set()
            for thread in threads:
                thread.join()
        if failure is not None:
            if isinstance(failure, EOFError | paramiko.SSHException | ConnectionError):
                raise self.source.lost(failure)
            raise failure

    def _opened(self) -> None:
        with self.lock:
            self.opened += 1

    def _stream_worker(self, emit: _Emit, stop: threading.Event) -> None:
        """Run tar on batches until none is left; what a batch leaves over goes to the SFTP queue."""
        first = True
        while not stop.is_set():
            try:
                batch = self.batches.get_nowait()
            except queue.Empty:
                return
            try:
                channel = open_channel(self.source.transport_now(), again=not first or self.rounds > 1)
            except SessionRefused:
                self.batches.put(batch)
                raise
            if first:
                self._opened()
                first = False
            outcome = TarStream(channel, batch, self.source.count_content).run(self.store)
            self.source.count_files(len(outcome.read), streamed=len(outcome.read))
            for item in outcome.read:
                emit(item)
            for entry in outcome.left_over:
                self.singles.put(entry)

    def _sftp_worker(self, emit: _Emit, stop: threading.Event) -> None:
        """Read single files over an SFTP session of its own until none is left."""
        channel = open_channel(self.source.transport_now(), again=self.rounds > 1)
        self._opened()
        channel.invoke_subsystem("sftp")
        sftp = paramiko.SFTPClient(channel)
        with contextlib.closing(sftp):
            while not stop.is_set():
                try:
                    entry = self.singles.get_nowait()
                except queue.Empty:
                    return
                emit((entry, self._read_one(sftp, entry)))

    def _read_one(self, sftp: paramiko.SFTPClient, entry: RemoteEntry) -> StoredContent | str:
        """Open one file, pass its bytes to ``store``, close it; a message when it cannot be read."""
        try:
            kind, message = sftp._request(CMD_OPEN, entry.path, SFTP_FLAG_READ, paramiko.SFTPAttributes())
            if kind != CMD_HANDLE:
                return "the server did not open the file"
            handle = message.get_binary()
        except FileNotFoundError:
            return "file vanished before it could be read"
        except PermissionError:
            return "permission denied"
        except OSError as error:
            return (error.strerror or str(error)).lower()
        reader = _RemoteFile(self.source, sftp, handle, entry.size)
        try:
            return self.store(entry, reader)  # type: ignore[arg-type]
        except OSError as error:
            return (error.strerror or str(error)).lower()
        finally:
            sftp._async_request(type(None), CMD_CLOSE, handle)  # the answer is not waited for
            self.source.count_files(1)


class _RemoteFile:
    """The bytes of one open remote file, read with many requests in flight (for the chunker)."""

    def __init__(
        self, source: SshTreeSource, sftp: paramiko.SFTPClient, handle: bytes, listed_size: int
    ) -> None:
        self.source = source
        self.sftp = sftp
        self.handle = handle
        self.offset = 0
        # A small file is read in one request of its listed size: asking past its end would cost a round trip.
        self.end = listed_size if listed_size <= SMALL_FILE_BYTES else None
        self.finished = False

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes (empty at the end).

        Raises:
            OSError: the server refused the read.
        """
        if self.finished:
            return b""
        wanted = size if size > 0 else SMALL_FILE_BYTES
        if self.end is not None:
            wanted = min(wanted, self.end - self.offset)
            if wanted <= 0:
                return b""
        data = read_range(self.sftp, self.handle, self.offset, wanted)
        if len(data) < wanted:
            self.finished = True
        self.offset += len(data)
        self.source.count_content(len(data))
        return data
