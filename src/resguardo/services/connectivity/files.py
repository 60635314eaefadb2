"""Path checks of a test, on this host or over SFTP: each path exists, is readable, and how big it is.

The size is estimated by a bounded walk: it stops after :data:`MAX_FILES` entries or
:data:`MAX_SECONDS` seconds per path, and then says that the figure is a lower bound.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from collections.abc import Iterator
from typing import Protocol

import paramiko

from resguardo.services.connectivity.report import FAILED, OK, Report, human_size

MAX_FILES = 20_000
MAX_SECONDS = 5.0


class Files(Protocol):
    """What the checks need of a file system: a path's metadata, a folder's entries, a read."""

    where: str

    def stat(self, path: str) -> os.stat_result | paramiko.SFTPAttributes:
        """Return the metadata of ``path`` (links followed). Raises OSError."""
        ...

    def entries(self, path: str) -> Iterator[tuple[str, int, int]]:
        """Yield (path, mode, size) of the entries of folder ``path`` (links not followed). Raises OSError."""
        ...

    def read_one_byte(self, path: str) -> None:
        """Open the file ``path`` and read a byte. Raises OSError."""
        ...


class LocalFiles:
    """The file system of this host."""

    where = "on this host"

    def stat(self, path: str) -> os.stat_result:
        """Return the metadata of ``path``. Raises OSError."""
        return os.stat(path)

    def entries(self, path: str) -> Iterator[tuple[str, int, int]]:
        """Yield the entries of folder ``path``. Raises OSError."""
        with os.scandir(path) as found:
            for entry in found:
                info = entry.stat(follow_symlinks=False)
                yield entry.path, info.st_mode, info.st_size

    def read_one_byte(self, path: str) -> None:
        """Read a byte of ``path``. Raises OSError."""
        with open(path, "rb") as file:
            file.read(1)


class SftpFiles:
    """The file system of a client, over an open SFTP session."""

    def __init__(self, sftp: paramiko.SFTPClient, where: str) -> None:
        self.sftp = sftp
        self.where = where

    def stat(self, path: str) -> paramiko.SFTPAttributes:
        """Return the metadata of ``path``. Raises OSError."""
        return self.sftp.stat(path)

    def entries(self, path: str) -> Iterator[tuple[str, int, int]]:
        """Yield the entries of folder ``path``. Raises OSError."""
        for attributes in self.sftp.listdir_attr(path):
            child = path.rstrip("/") + "/" + attributes.filename
            yield child, attributes.st_mode or 0, attributes.st_size or 0

    def read_one_byte(self, path: str) -> None:
        """Read a byte of ``path``. Raises OSError."""
        with self.sftp.open(path, "rb") as file:
            file.read(1)


def _reason(error: OSError) -> str:
    return error.strerror or str(error) or type(error).__name__


def check_paths(report: Report, files: Files, paths: list[str]) -> None:
    """Check that each path exists and is readable, and estimate its size; add the items to ``report``."""
    for path in paths:
        try:
            info = files.stat(path)
        except OSError as error:
            if error.errno == errno.ENOENT or isinstance(error, FileNotFoundError):
                report.add(
                    "path exists",
                    path,
                    FAILED,
                    f"{path} does not exist {files.where}",
                    "correct the path, or ask the requester where the data is",
                    missing=True,
                )
            else:
                report.add(
                    "path exists",
                    path,
                    FAILED,
                    f"{path} cannot be looked at {files.where}: {_reason(error)}",
                    "let the backup account reach it (the permissions of its parent folders)",
                )
            continue
        report.add("path exists", path, OK, f"{'folder' if stat.S_ISDIR(info.st_mode or 0) else 'file'}")
        if not _readable(report, files, path, info.st_mode or 0):
            continue
        _estimate(report, files, path, info.st_mode or 0, info.st_size or 0)


def _readable(report: Report, files: Files, path: str, mode: int) -> bool:
    """Check that ``path`` can be read (a folder listed, a file opened); return whether it could."""
    try:
        if stat.S_ISDIR(mode):
            next(iter(files.entries(path)), None)
        else:
            files.read_one_byte(path)
    except OSError as error:
        report.add(
            "path readable",
            path,
            FAILED,
            f"{path} cannot be read {files.where}: {_reason(error)}",
            "give the backup account read permission on it (or back it up with an account that has)",
        )
        return False
    report.add("path readable", path, OK, "read permission works")
    return True


def _estimate(report: Report, files: Files, path: str, mode: int, size: int) -> None:
    """Walk ``path`` within the bounds and add its estimated size."""
    if not stat.S_ISDIR(mode):
        report.add("estimated size", path, OK, f"{human_size(size)} in 1 file", bytes=size, files=1)
        return
    deadline = time.monotonic() + MAX_SECONDS
    total, count, unreadable, stopped = 0, 0, 0, False
    pending = [path]
    while pending:
        folder = pending.pop()
        try:
            for child, child_mode, child_size in files.entries(folder):
                count += 1
                if stat.S_ISDIR(child_mode):
                    pending.append(child)
                elif stat.S_ISREG(child_mode):
                    total += child_size
                if count >= MAX_FILES or time.monotonic() > deadline:
                    stopped = True
                    break
        except OSError:
            unreadable += 1
        if stopped:
            break
    _add_estimate(report, path, total, count, unreadable=unreadable, stopped=stopped)


def _add_estimate(
    report: Report, path: str, total: int, count: int, *, unreadable: int, stopped: bool
) -> None:
    """Add the estimated-size item of a walked folder."""
    detail = f"{human_size(total)} in {count} entries"
    if stopped:
        detail = (
            f"at least {detail}: the walk stopped after {count} entries or {MAX_SECONDS:g} s, "
            "so this is a lower bound"
        )
    fix = ""
    if unreadable:
        detail += f"; {unreadable} folder(s) inside could not be read"
        fix = "give the backup account read permission on the whole tree"
    report.add(
        "estimated size",
        path,
        "warning" if unreadable else OK,
        detail,
        fix,
        bytes=total,
        files=count,
        lower_bound=stopped or bool(unreadable),
    )
