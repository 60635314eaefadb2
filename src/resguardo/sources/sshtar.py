"""Many small files of a client read through one ``tar`` stream instead of one SFTP exchange each.

Over SFTP every file costs an open, a read and a close answered by the server; for a tree of small files
that is most of a first backup. Where the client has GNU tar (probed once, with the listing), the small
files to read are handed to ``tar -c`` in batches: their names go NUL-separated on its standard input
(so no name can break the list: spaces, newlines and bytes that are not UTF-8 pass as they are), and the
archive it writes is parsed as it arrives (:class:`TarStream`), each file's bytes going straight to the
engine's ``store`` callback, with nothing written on the client.

tar goes on past what it cannot read (a file deleted or made unreadable since the listing: it warns and
skips it), takes a file's size when it opens it (a file that grew is read up to that size, and the
size it had is recorded) and pads a file that shrank while it read it with zeros: such files, any that
came as something else than a regular file, and whatever the stream did not bring (tar stopped, the
stream was cut) are returned to the caller as *left over*, to be read over SFTP, which gives today's
messages (``file vanished before it could be read``, ``permission denied``) and honest sizes. tar's exit
status is therefore not needed (1, "file changed as we read it", is a file read anyway).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import paramiko

from resguardo.engine.remotetree import RemoteEntry, StoreContent, StoredContent

TAR_OPTIONS = "-c -f - --format=gnu --null --no-recursion --absolute-names --quoting-style=literal"
TAR_COMMAND = f"LC_ALL=C tar {TAR_OPTIONS} -T -"
"""Archives the NUL-separated absolute names read on standard input, in that order, to standard output."""
TAR_PROBE = f"LC_ALL=C tar {TAR_OPTIONS} -T /dev/null >/dev/null 2>&1 && printf t"
"""Prints ``t`` when tar takes every option :data:`TAR_COMMAND` needs (GNU tar)."""
TAR_FILE_BYTES = 1024 * 1024
"""Files listed up to this size are read through tar; larger ones over SFTP, with many requests in flight."""
BATCH_FILES = 4096
BATCH_BYTES = 64 * 1024 * 1024
BLOCK = 512
RECEIVE_BYTES = 256 * 1024
NAMES_BYTES = 64 * 1024
_REGULAR = (b"0", b"\0", b"7")
_LONG_NAME = b"L"
_LONG_LINK = b"K"


def batches_of(entries: Sequence[RemoteEntry]) -> list[list[RemoteEntry]]:
    """Return ``entries`` cut in runs of at most :data:`BATCH_FILES` files and about :data:`BATCH_BYTES`."""
    batches: list[list[RemoteEntry]] = []
    current: list[RemoteEntry] = []
    size = 0
    for entry in entries:
        if current and (len(current) >= BATCH_FILES or size + entry.size > BATCH_BYTES):
            batches.append(current)
            current, size = [], 0
        current.append(entry)
        size += entry.size
    if current:
        batches.append(current)
    return batches


def shrunk_paths(errors: bytes, paths: Sequence[bytes]) -> set[bytes]:
    """Return which of ``paths`` tar said shrank while it read them (it padded them with zeros)."""
    if b"File shrank by " not in errors:
        return set()
    return {path for path in paths if b"tar: " + path + b": File shrank by " in errors}


def _octal(field_bytes: bytes) -> int:
    """Return a number of a tar header: octal digits, or base-256 when the first byte's top bit is set.

    Raises:
        ValueError: the field holds neither.
    """
    if field_bytes[:1] and field_bytes[0] & 0x80:
        value = int.from_bytes(field_bytes[1:], "big")
        return value - (1 << (8 * len(field_bytes) - 8)) if field_bytes[0] & 0x40 else value
    text = field_bytes.replace(b"\0", b" ").strip()
    return int(text, 8) if text else 0


def close_settled(channel: paramiko.Channel) -> None:
    """Close a channel whose command has exited, then wait for one answer of the server.

    An SSH server frees a closed session only after handling the messages that came with the close:
    a session asked for in the same breath could be refused as one too many (``MaxSessions``). The
    answer to a request sent after the close proves it is freed.
    """
    channel.close()
    transport = channel.get_transport()
    if transport is not None and transport.is_active():
        transport.global_request("keepalive@openssh.com", wait=True)


class StreamCut(Exception):
    """The archive ended before its end-of-archive blocks (tar stopped or the connection dropped)."""


class _ChannelBytes:
    """Exact-length reads over a channel's standard output, through a buffer."""

    def __init__(self, channel: paramiko.Channel) -> None:
        self.channel = channel
        self.buffer = bytearray()
        self.position = 0

    def take(self, amount: int) -> bytes:
        """Return the next ``amount`` bytes.

        Raises:
            StreamCut: the stream ended first.
        """
        while len(self.buffer) - self.position < amount:
            data = self.channel.recv(RECEIVE_BYTES)
            if not data:
                raise StreamCut()
            if self.position:
                del self.buffer[: self.position]
                self.position = 0
            self.buffer += data
        start = self.position
        self.position += amount
        return bytes(self.buffer[start : self.position])

    def skip(self, amount: int) -> None:
        """Pass over the next ``amount`` bytes, a piece at a time.

        Raises:
            StreamCut: the stream ended first.
        """
        while amount > 0:
            piece = min(amount, RECEIVE_BYTES)
            self.take(piece)
            amount -= piece


class MemberReader:
    """One archived file's bytes, read by ``store`` (counted as content as they are read)."""

    def __init__(self, stream: _ChannelBytes, size: int, count: Callable[[int], None]) -> None:
        self.stream = stream
        self.remaining = size
        self.count = count

    def read(self, size: int = -1) -> bytes:
        """Return up to ``size`` bytes of the file (all that is left when negative; empty at its end).

        Raises:
            OSError: the stream ended inside the file.
        """
        amount = self.remaining if size < 0 else min(size, self.remaining)
        if amount <= 0:
            return b""
        try:
            data = self.stream.take(amount)
        except StreamCut:
            raise OSError("the tar stream was cut short") from None
        self.remaining -= amount
        self.count(amount)
        return data


@dataclass
class BatchOutcome:
    """What one tar run gave: outcomes of the files it brought, and the files left for SFTP."""

    read: list[tuple[RemoteEntry, StoredContent | str]] = field(default_factory=list)
    left_over: list[RemoteEntry] = field(default_factory=list)


class TarStream:
    """One ``tar -c`` run on the client over an open session channel, reading one batch of files.

    Args:
        channel: a session channel, not yet used.
        batch: the files to read, in the order given to tar.
        count: called with the number of content bytes as they are read.
    """

    def __init__(
        self, channel: paramiko.Channel, batch: Sequence[RemoteEntry], count: Callable[[int], None]
    ) -> None:
        self.channel = channel
        self.pending = deque(batch)
        self.wanted = {entry.path for entry in batch}
        self.count = count
        self.skipped: list[RemoteEntry] = []
        self.errors = b""
        self.names = b"".join(entry.path + b"\0" for entry in batch)

    def run(self, store: StoreContent) -> BatchOutcome:
        """Run tar, pass each file it brings to ``store``; return the outcomes and the files left over.

        Raises:
            StorageError: ``store`` could not write the repository.
        """
        outcome = BatchOutcome()
        self.channel.exec_command(TAR_COMMAND)
        feeder = threading.Thread(target=self._feed, name="ssh-tar-names", daemon=True)
        feeder.start()
        complete = False
        try:
            self._read_members(_ChannelBytes(self.channel), store, outcome)
            complete = True
        except StreamCut:
            pass
        finally:
            if not complete:
                self.channel.close()  # stops tar; what it did not bring goes over SFTP
            feeder.join()
            close_settled(self.channel)
        outcome.left_over.extend(self.skipped)
        outcome.left_over.extend(self.pending)
        shrunk = shrunk_paths(self.errors, [entry.path for entry, _result in outcome.read])
        if shrunk:
            outcome.left_over.extend(entry for entry, _result in outcome.read if entry.path in shrunk)
            outcome.read = [(entry, result) for entry, result in outcome.read if entry.path not in shrunk]
        return outcome

    def _feed(self) -> None:
        """Write the names to tar's standard input, then gather what it says on standard error."""
        try:
            for start in range(0, len(self.names), NAMES_BYTES):
                self.channel.sendall(self.names[start : start + NAMES_BYTES])
            self.channel.shutdown_write()
            while data := self.channel.recv_stderr(RECEIVE_BYTES):
                self.errors += data
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the reading side sees the stream end and leaves the rest over

    def _read_members(self, stream: _ChannelBytes, store: StoreContent, outcome: BatchOutcome) -> None:
        """Parse the archive up to its end, storing every regular file that was asked for.

        Raises:
            StreamCut: the archive ended early.
        """
        long_name: bytes | None = None
        while self.pending:
            header = stream.take(BLOCK)
            if header == bytes(BLOCK):
                return  # end of the archive: whatever is pending was skipped by tar
            kind, size = header[156:157], _octal(header[124:136])
            data_blocks = -(-size // BLOCK) * BLOCK
            if kind in (_LONG_NAME, _LONG_LINK):
                value = stream.take(data_blocks)[:size].rstrip(b"\0")
                long_name = value if kind == _LONG_NAME else long_name
                continue
            name = long_name if long_name is not None else header[:100].split(b"\0", 1)[0]
            long_name = None
            entry = self._take_pending(name)
            if entry is None or kind not in _REGULAR:
                stream.skip(data_blocks)
                if entry is not None:
                    outcome.left_over.append(entry)  # no longer a regular file: SFTP says what it is
                continue
            reader = MemberReader(stream, size, self.count)
            try:
                result: StoredContent | str = store(entry, reader)  # type: ignore[arg-type]
            except OSError:
                outcome.left_over.append(entry)
                raise StreamCut() from None
            stream.skip(reader.remaining + data_blocks - size)  # what store left, and the padding
            outcome.read.append((entry, result))

    def _take_pending(self, name: bytes) -> RemoteEntry | None:
        """Return the pending file named ``name``, moving the ones tar skipped before it to left over."""
        if name not in self.wanted:
            return None
        while self.pending:
            entry = self.pending.popleft()
            if entry.path == name:
                return entry
            self.skipped.append(entry)
        return None
