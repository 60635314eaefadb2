"""Secure file-system operations of the restore, always relative to directory descriptors.

This module owns the low-level writing: opening and creating directories and files with
``O_NOFOLLOW`` (replacing whatever is in the way, never writing through it), hard links, whole and
sparse writes, owner lookups by name, the umask, the identity (device, inode) of what was created,
and how an ``OSError`` is described to the user or stops the restore (:class:`_FatalTargetError`).
"""

from __future__ import annotations

import errno
import functools
import grp
import os
import pwd
import re
import stat

from resguardo.engine.tree import Node

_DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_FATAL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS})
_HOLE_BLOCK = 4096
_ZERO_BLOCK = bytes(_HOLE_BLOCK)
_NOT_ZERO = re.compile(rb"[^\0]")


Identity = tuple[int, int]
"""(device, inode) of a directory or file the restore created."""


def _display(path: bytes) -> str:
    return os.fsdecode(path) if path else "/"


def _entry_path(directory_path: bytes, name: bytes) -> str:
    return os.fsdecode(directory_path + b"/" + name)


def _identity(fd: int) -> Identity:
    status = os.fstat(fd)
    return status.st_dev, status.st_ino


def _inheriting(fd: int, status: os.stat_result) -> bool:
    """Return True when entries created in this directory take their group or mode from it."""
    if status.st_mode & stat.S_ISGID:
        return True
    try:
        os.getxattr(fd, "system.posix_acl_default")
    except OSError:
        return False
    return True


def _read_umask() -> int | None:
    """Return the process's umask without changing it (Linux), or None when unknown."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return None


@functools.lru_cache(maxsize=4096)
def _uid_for(user: str, uid: int) -> int:
    if user:
        try:
            return pwd.getpwnam(user).pw_uid
        except KeyError:
            pass
    return uid


@functools.lru_cache(maxsize=4096)
def _gid_for(group: str, gid: int) -> int:
    if group:
        try:
            return grp.getgrnam(group).gr_gid
        except KeyError:
            pass
    return gid


def _owner(node: Node) -> tuple[int, int]:
    """Return (uid, gid) for a node: by name when it exists on this host, else the stored number."""
    return _uid_for(node.user, node.uid), _gid_for(node.group, node.gid)


class _FatalTargetError(Exception):
    """The target cannot take any more writes (disk full, quota, read-only)."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, reason)
        self.path = path
        self.reason = reason


def _describe(error: OSError) -> str:
    if error.errno == errno.ENOTEMPTY:
        return "a directory that is not empty is in the way"
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    return error.strerror or str(error)


_MALFORMED = (OverflowError, ValueError, TypeError)
"""What the operating system's calls raise for metadata out of range or of the wrong type."""


def _malformed(error: Exception) -> str:
    return f"the snapshot holds malformed metadata for it ({error})"


def _check_fatal(path: str, error: OSError) -> None:
    if error.errno in _FATAL_ERRNOS:
        raise _FatalTargetError(path, _describe(error)) from None


def _remove_entry(dir_fd: int, name: bytes) -> None:
    """Remove whatever ``name`` is in the directory (an empty directory too), never following it."""
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    except OSError as error:
        if error.errno not in (errno.EISDIR, errno.EPERM):
            raise
        os.rmdir(name, dir_fd=dir_fd)


def _create_file(dir_fd: int, name: bytes, mode: int) -> int:
    """Create ``name`` as a new empty file (replacing what was there) and return it open for writing."""
    try:
        return os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)
    except FileExistsError:
        _remove_entry(dir_fd, name)
        return os.open(name, _CREATE_FLAGS, mode, dir_fd=dir_fd)


def _open_directory(dir_fd: int, name: bytes, *, create: bool) -> tuple[int, bool]:
    """Return a descriptor of directory ``name`` and whether it was created (replacing a non-directory)."""
    created = False
    if create:
        try:
            os.mkdir(name, 0o700, dir_fd=dir_fd)
            created = True
        except FileExistsError:
            pass
    try:
        return os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd), created
    except OSError as error:
        if not create or error.errno not in (errno.ELOOP, errno.ENOTDIR):
            raise
    os.unlink(name, dir_fd=dir_fd)
    os.mkdir(name, 0o700, dir_fd=dir_fd)
    return os.open(name, _DIRECTORY_FLAGS, dir_fd=dir_fd), True


def _link(source_fd: int, source: bytes, directory_fd: int, name: bytes) -> None:
    os.link(source, name, src_dir_fd=source_fd, dst_dir_fd=directory_fd, follow_symlinks=False)


def _write_all(fd: int, data: bytes, offset: int) -> None:
    written = os.pwrite(fd, data, offset)
    if written < len(data):
        view = memoryview(data)
        while written < len(data):
            written += os.pwrite(fd, view[written:], offset + written)


def _write_sparse(fd: int, data: bytes, offset: int) -> None:
    """Write ``data`` at ``offset`` but skip every run of at least 4 KiB of zero bytes (left as holes)."""
    position = 0
    size = len(data)
    while position < size:
        zeros = data.find(_ZERO_BLOCK, position)
        if zeros < 0:
            _write_all(fd, data[position:] if position else data, offset + position)
            return
        if zeros > position:
            _write_all(fd, data[position:zeros], offset + position)
        nonzero = _NOT_ZERO.search(data, zeros + _HOLE_BLOCK)
        position = nonzero.start() if nonzero is not None else size
