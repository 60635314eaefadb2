"""Writing one object to an SFTP server so that it appears whole or not at all.

The object is written to ``.tmp-NAME.RANDOM`` in its final folder (created when missing), as a file
readable by its owner only and writable by nobody (mode 0400, as the server's umask allows), flushed
to the server's disk with ``fsync@openssh.com`` when the server offers it, then published under its
name:

1. with ``posix-rename@openssh.com``, which replaces an older object atomically;
2. when the server refuses that (an append-only account, see docs/cli.md), with a plain rename, which
   OpenSSH's server never lets replace an existing file;
3. when it refuses renames too, with ``hardlink@openssh.com`` (which never replaces either); the
   temporary name is then removed if the server allows it, else it stays, as a second name of the
   same file, which costs no space and is never listed.

A :class:`Writer` remembers what the server refused, so that later objects go straight to what works.
"""

from __future__ import annotations

import contextlib
import secrets
import stat

import paramiko
from paramiko.sftp import (
    CMD_EXTENDED,
    CMD_HANDLE,
    CMD_OPEN,
    SFTP_FLAG_CREATE,
    SFTP_FLAG_EXCL,
    SFTP_FLAG_WRITE,
)

TEMPORARY_PREFIX = ".tmp-"
OBJECT_MODE = 0o400
"""Permissions asked for new objects: objects never change, so nobody needs to write them."""


class ReplaceRefused(PermissionError):
    """The server refuses to replace an existing object (an append-only account)."""


class Writer:
    """Writes objects through SFTP sessions; remembers which requests the server refuses.

    Attributes:
        fsync_supported: the server has not answered ``fsync@openssh.com`` with "unsupported".
        publish: how objects are published: ``posix-rename``, ``rename`` or ``hardlink``.
    """

    def __init__(self) -> None:
        self.fsync_supported = True
        self.publish = "posix-rename"

    def write(self, sftp: paramiko.SFTPClient, folder: str, base: str, data: memoryview) -> None:
        """Write ``data`` as ``folder/base``, creating the folders that are missing.

        Raises:
            ReplaceRefused: an object of that name exists and the server refuses to replace it.
            OSError: the server refused a request (permission denied, disk full, ...).
            EOFError, paramiko.SSHException: the connection dropped.
        """
        temporary = f"{folder}/{TEMPORARY_PREFIX}{base}.{secrets.token_hex(4)}"
        try:
            stream = _create(sftp, temporary)
        except FileNotFoundError:
            make_folders(sftp, folder)
            stream = _create(sftp, temporary)
        try:
            with stream:
                stream.set_pipelined(True)
                stream.write(data)
                stream.flush()
                self._flush_to_disk(sftp, stream)
            self._publish(sftp, temporary, f"{folder}/{base}")
        except BaseException:
            with contextlib.suppress(Exception):  # best effort: temporary names are never listed
                sftp.remove(temporary)
            raise

    def _flush_to_disk(self, sftp: paramiko.SFTPClient, stream: paramiko.SFTPFile) -> None:
        if not self.fsync_supported:
            return
        try:
            sftp._request(CMD_EXTENDED, "fsync@openssh.com", stream.handle)
        except OSError as error:
            if error.errno is not None or "unsupported" not in str(error).lower():
                raise
            self.fsync_supported = False

    def _publish(self, sftp: paramiko.SFTPClient, temporary: str, final: str) -> None:
        if self.publish == "posix-rename":
            try:
                sftp.posix_rename(temporary, final)
                return
            except PermissionError:
                self.publish = "rename"
        try:
            if self.publish == "rename":
                try:
                    sftp.rename(temporary, final)
                    return
                except PermissionError:
                    self.publish = "hardlink"
            sftp._request(CMD_EXTENDED, "hardlink@openssh.com", temporary, final)
        except PermissionError:
            raise
        except OSError as error:
            if _exists(sftp, final):
                raise ReplaceRefused(
                    f"{final} exists, and the server refuses to replace files (an append-only account)"
                ) from error
            raise
        with contextlib.suppress(OSError):  # an append-only server keeps it: a second name, never listed
            sftp.remove(temporary)


def _create(sftp: paramiko.SFTPClient, path: str) -> paramiko.SFTPFile:
    """Create ``path`` (which must not exist) for writing, with :data:`OBJECT_MODE`."""
    attributes = paramiko.SFTPAttributes()
    attributes.st_mode = OBJECT_MODE
    flags = SFTP_FLAG_WRITE | SFTP_FLAG_CREATE | SFTP_FLAG_EXCL
    kind, message = sftp._request(CMD_OPEN, path, flags, attributes)
    if kind != CMD_HANDLE:
        raise paramiko.SFTPError("the server answered an open request without a handle")
    return paramiko.SFTPFile(sftp, message.get_binary(), "wb")


def _exists(sftp: paramiko.SFTPClient, path: str) -> bool:
    try:
        sftp.stat(path)
    except OSError:
        return False
    return True


def make_folders(sftp: paramiko.SFTPClient, folder: str) -> None:
    """Create ``folder`` and the folders above it that are missing (another client may race us).

    Raises:
        OSError: a folder could not be created.
    """
    try:
        sftp.mkdir(folder)
    except FileNotFoundError:
        parent = folder.rpartition("/")[0]
        if not parent:
            raise
        make_folders(sftp, parent)
        make_folders(sftp, folder)
    except OSError:
        try:
            is_folder = stat.S_ISDIR(sftp.stat(folder).st_mode or 0)
        except OSError:
            is_folder = False
        if not is_folder:
            raise
