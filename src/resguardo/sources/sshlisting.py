"""Listing a client's file tree over SSH: one ``find -printf`` stream, or an SFTP walk where that is missing.

GNU ``find`` prints, for every path, fourteen NUL-terminated fields (:data:`FIND_FORMAT`): type,
permission bits, uid, gid, user, group, size, mtime and ctime with nanoseconds, inode, device, link
count, symlink target and path. The folders above the given paths come first (``-maxdepth 0``), then a
``y`` record, then the tree, then an ``x`` record carrying find's exit status, which proves the listing
was not cut short. The stream goes through ``gzip -1`` on the client when it has gzip (the listing of
100,000 files shrinks about tenfold). Paths cannot hold NUL, so no name can break the format.

Where ``find`` has no ``-printf`` (BusyBox, the BSDs), the tree is walked over SFTP instead: times
then have whole seconds only, and inodes and ctimes are unknown (an unchanged file is still recognized by
its size and mtime).
"""

from __future__ import annotations

import re
import shlex
import stat
import zlib
from collections.abc import Iterator, Sequence

import paramiko

from resguardo.core.errors import SourceError
from resguardo.engine.remotetree import RemoteEntry, RemoteListing
from resguardo.engine.tree import (
    BLOCK_DEVICE,
    CHARACTER_DEVICE,
    DIRECTORY,
    FIFO,
    FILE,
    SOCKET,
    SYMLINK,
)
from resguardo.engine.walk import node_type
from resguardo.sources.sshtar import TAR_PROBE, close_settled

FIND_FORMAT = r"%y\0%m\0%U\0%G\0%u\0%g\0%s\0%T@\0%C@\0%i\0%D\0%n\0%l\0%p\0"
FIELDS = 14
PROBE_COMMAND = "sh -c " + shlex.quote(
    "LC_ALL=C find / -maxdepth 0 -printf x 2>/dev/null; command -v gzip >/dev/null 2>&1 && printf g; "
    + TAR_PROBE
)
"""Prints ``x`` when find knows ``-printf``, then ``g`` when gzip is there, ``t`` when GNU tar is."""
READ_BYTES = 256 * 1024
_TYPES = {
    b"f": FILE,
    b"d": DIRECTORY,
    b"l": SYMLINK,
    b"p": FIFO,
    b"c": CHARACTER_DEVICE,
    b"b": BLOCK_DEVICE,
    b"s": SOCKET,
}
_FIND_ERROR = re.compile(rb"^find: '(.*)': (.*)$")


def listing_command(
    ancestors: Sequence[bytes], paths: Sequence[bytes], one_file_system: bool, gzip: bool
) -> str:
    """Return the shell command that prints the listing of ``paths`` (and of ``ancestors``, alone)."""
    format_argument = shlex.quote(FIND_FORMAT)
    quoted = " ".join(shlex.quote(path.decode("utf-8", "surrogateescape")) for path in paths)
    parts = []
    if ancestors:
        above = " ".join(shlex.quote(path.decode("utf-8", "surrogateescape")) for path in ancestors)
        parts.append(f"LC_ALL=C find {above} -maxdepth 0 -printf {format_argument}")
    parts.append(r"printf 'y\000'")
    parts.append(f"LC_ALL=C find {quoted} {'-xdev ' if one_file_system else ''}-printf {format_argument}")
    parts.append(r"printf 'x\000%s\000' $?")
    command = "sh -c " + shlex.quote("; ".join(parts))
    return command + (" | gzip -1" if gzip else "")


def ancestors_of(paths: Sequence[bytes]) -> list[bytes]:
    """Return the folders above the given paths (``/`` excluded), sorted."""
    found: set[bytes] = set()
    for path in paths:
        parts = path.split(b"/")
        for length in range(2, len(parts)):
            found.add(b"/".join(parts[:length]))
    return sorted(found)


def _nanoseconds(text: bytes) -> int:
    """Return nanoseconds from find's ``SECONDS.FRACTION`` (``%T@``)."""
    negative = text.startswith(b"-")
    seconds, _dot, fraction = text.lstrip(b"-").partition(b".")
    value = int(seconds or b"0") * 1_000_000_000 + int((fraction[:9] or b"0").ljust(9, b"0"))
    return -value if negative else value


def _name(text: bytes, number: bytes) -> str:
    """Return a user or group name; find prints the number when there is no name (kept empty then)."""
    return "" if text == number else text.decode("utf-8", "replace")


def entry_of(fields: list[bytes]) -> RemoteEntry:
    """Return the entry of one listing record (the fourteen fields of :data:`FIND_FORMAT`).

    Raises:
        ValueError: a numeric field is malformed.
    """
    kind, mode, uid, gid, user, group, size, mtime, ctime, inode, device, links, target, path = fields
    node_kind = _TYPES.get(kind, SOCKET)
    return RemoteEntry(
        path=path,
        type=node_kind,
        mode=int(mode, 8),
        uid=int(uid),
        gid=int(gid),
        user=_name(user, uid),
        group=_name(group, gid),
        size=int(size) if node_kind == FILE else 0,
        mtime_ns=_nanoseconds(mtime),
        ctime_ns=_nanoseconds(ctime),
        inode=int(inode),
        device=int(device),
        links=int(links),
        target=target if node_kind == SYMLINK else b"",
    )


class ListingParser:
    """Turns the listing's bytes, fed as they arrive, into :class:`RemoteListing` entries."""

    def __init__(self, compressed: bool) -> None:
        self.decompressor = zlib.decompressobj(31) if compressed else None
        self.tail = b""
        self.fields: list[bytes] = []
        self.listing = RemoteListing()
        self.in_tree = False
        self.exit_status: int | None = None

    def feed(self, data: bytes) -> None:
        """Parse more of the stream.

        Raises:
            SourceError: the stream is malformed.
        """
        if self.decompressor is not None:
            try:
                data = self.decompressor.decompress(data)
            except zlib.error as error:
                raise SourceError(f"the client's file listing is corrupt: {error}") from None
        pieces = (self.tail + data).split(b"\0")
        self.tail = pieces.pop()
        self.fields.extend(pieces)
        self._take_records()

    def _take_records(self) -> None:
        fields, position = self.fields, 0
        while position < len(fields):
            kind = fields[position]
            if kind == b"y":
                self.in_tree, position = True, position + 1
                continue
            if kind == b"x":
                if position + 1 >= len(fields):
                    break
                self.exit_status, position = int(fields[position + 1] or b"0"), position + 2
                continue
            if position + FIELDS > len(fields):
                break
            try:
                entry = entry_of(fields[position : position + FIELDS])
            except ValueError as error:
                raise SourceError(f"the client's file listing is malformed: {error}") from None
            (self.listing.entries if self.in_tree else self.listing.ancestors).append(entry)
            position += FIELDS
        del fields[:position]

    def finish(self, errors: bytes, given: Sequence[bytes]) -> RemoteListing:
        """Return the listing, with find's complaints sorted into missing, unreadable and warnings.

        Raises:
            SourceError: the listing was cut short (no exit status came).
        """
        if self.exit_status is None or self.fields or self.tail:
            raise SourceError(
                "the client's file listing was cut short", "check the connection and the client, then retry"
            )
        given_paths = set(given)
        for line in errors.splitlines():
            match = _FIND_ERROR.match(line)
            if match is None:
                if line.strip():
                    self.listing.warnings.append((b"", line.decode("utf-8", "replace")))
                continue
            path, message = match.group(1), match.group(2).decode("utf-8", "replace")
            if path in given_paths:
                self.listing.missing.append((path, message.lower()))
            elif "No such file" in message:
                self.listing.warnings.append((path, "file vanished before it could be read"))
            elif "Permission denied" in message:
                self.listing.unreadable.append((path, "permission denied"))
            else:
                self.listing.unreadable.append((path, message))
        return self.listing


def run_listing(
    transport: paramiko.Transport, command: str, compressed: bool, given: Sequence[bytes]
) -> tuple[RemoteListing, int]:
    """Run the listing command on the client; return the listing and the bytes it took.

    Raises:
        SourceError: the listing failed or was cut short.
    """
    channel = transport.open_session()
    received = 0
    try:
        channel.exec_command(command)
        parser = ListingParser(compressed)
        while data := channel.recv(READ_BYTES):
            received += len(data)
            parser.feed(data)
        errors = b""
        while more := channel.recv_stderr(READ_BYTES):
            received += len(more)
            errors += more
        if compressed and channel.recv_exit_status() != 0 and parser.exit_status is None:
            raise SourceError(
                "listing the client's files failed: " + errors.decode("utf-8", "replace").strip()[:300]
            )
        return parser.finish(errors, given), received
    finally:
        close_settled(channel)


def entry_from_attributes(path: bytes, attributes: paramiko.SFTPAttributes, target: bytes) -> RemoteEntry:
    """Return the entry of one path walked over SFTP (whole seconds, no inode or ctime)."""
    mode = attributes.st_mode or 0
    kind = node_type(mode)
    user = group = ""
    longname = getattr(attributes, "longname", None)
    if isinstance(longname, str):
        columns = longname.split()
        if len(columns) > 3:
            user, group = columns[2], columns[3]
    return RemoteEntry(
        path=path,
        type=kind,
        mode=stat.S_IMODE(mode),
        uid=attributes.st_uid or 0,
        gid=attributes.st_gid or 0,
        user="" if user == str(attributes.st_uid) else user,
        group="" if group == str(attributes.st_gid) else group,
        size=(attributes.st_size or 0) if kind == FILE else 0,
        mtime_ns=int(attributes.st_mtime or 0) * 1_000_000_000,
        target=target,
    )


def walk_over_sftp(sftp: paramiko.SFTPClient, paths: Sequence[bytes]) -> RemoteListing:
    """Return the listing of ``paths`` walked with SFTP requests (for clients without GNU find)."""
    listing = RemoteListing()
    for ancestor in ancestors_of(paths):
        try:
            listing.ancestors.append(entry_from_attributes(ancestor, sftp.lstat(ancestor), b""))
        except OSError:
            continue
    for path in paths:
        try:
            attributes = sftp.lstat(path)
        except OSError as error:
            listing.missing.append((path, (error.strerror or str(error)).lower()))
            continue
        listing.entries.extend(_walk(sftp, path, attributes, listing))
    return listing


def _walk(
    sftp: paramiko.SFTPClient, path: bytes, attributes: paramiko.SFTPAttributes, listing: RemoteListing
) -> Iterator[RemoteEntry]:
    mode = attributes.st_mode or 0
    target = sftp.readlink(path).encode("utf-8", "surrogateescape") if stat.S_ISLNK(mode) else b""
    yield entry_from_attributes(path, attributes, target)
    if not stat.S_ISDIR(mode):
        return
    try:
        children = sftp.listdir_attr(path)
    except PermissionError:
        listing.unreadable.append((path, "permission denied"))
        return
    except OSError as error:
        listing.unreadable.append((path, error.strerror or str(error)))
        return
    for child in children:
        child_path = path.rstrip(b"/") + b"/" + child.filename.encode("utf-8", "surrogateescape")
        yield from _walk(sftp, child_path, child, listing)
