"""Storage in a directory of the local file system.

Every object is written to a temporary name in its final directory, flushed with ``fsync``, renamed
into place and the directory is flushed too, so a crash leaves either the old state or the new one.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from resguardo.backends.base import StoredObject
from resguardo.core.errors import ObjectNotFound, StorageError

TEMPORARY_PREFIX = ".tmp-"


def _describe_os_error(error: OSError, action: str, path: Path) -> StorageError:
    """Turn an OSError into a StorageError with a message a person can act on."""
    if error.errno == errno.ENOSPC:
        return StorageError(
            f"cannot {action} {path}: the disk is full",
            "free space on the repository's disk, then run the command again; nothing was lost",
        )
    if error.errno in (errno.EACCES, errno.EPERM):
        return StorageError(
            f"cannot {action} {path}: permission denied",
            "run as a user that may write to the repository directory",
        )
    if error.errno == errno.EROFS:
        return StorageError(f"cannot {action} {path}: the file system is read-only")
    return StorageError(f"cannot {action} {path}: {error.strerror or error}")


class LocalStorage:
    """Objects kept as files under ``root``.

    Args:
        root: the repository directory (it need not exist yet).
        durable: flush every write to the disk with fsync (turn off only in tests).
    """

    def __init__(self, root: str | os.PathLike[str], *, durable: bool = True) -> None:
        self.root = Path(root).absolute()
        self.durable = durable

    @property
    def location(self) -> str:
        """Return the repository directory."""
        return str(self.root)

    @property
    def is_local(self) -> bool:
        """Local files need no cache."""
        return True

    @property
    def shareable_between_processes(self) -> bool:
        """A directory can be opened by worker processes too."""
        return True

    def _path(self, name: str) -> Path:
        if name.startswith("/") or ".." in name.split("/"):
            raise StorageError(f"invalid object name {name!r}")
        return self.root / name

    def save(self, name: str, data: bytes | memoryview) -> None:
        """Write ``data`` to ``name`` through a temporary file, fsync and rename.

        Raises:
            StorageError: the write failed (disk full, permission, I/O).
        """
        path = self._path(name)
        temporary = path.parent / f"{TEMPORARY_PREFIX}{path.name}.{secrets.token_hex(4)}"
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                view = memoryview(data)
                while view:
                    written = os.write(descriptor, view)
                    view = view[written:]
                if self.durable:
                    os.fsync(descriptor)
            finally:
                os.close(descriptor)
            os.replace(temporary, path)
            if self.durable:
                self._sync_directory(path.parent)
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise _describe_os_error(error, "write", path) from error

    @staticmethod
    def _sync_directory(directory: Path) -> None:
        descriptor = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)

    def load(self, name: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read the object, or ``length`` bytes of it from ``offset``.

        Raises:
            ObjectNotFound: no file has that name.
            StorageError: the read failed.
        """
        path = self._path(name)
        try:
            with path.open("rb", buffering=0) as stream:
                if length is None:
                    if offset:
                        stream.seek(offset)
                    return stream.read()
                return os.pread(stream.fileno(), length, offset)
        except FileNotFoundError:
            raise ObjectNotFound(f"object {name} not found in {self.root}") from None
        except OSError as error:
            raise _describe_os_error(error, "read", path) from error

    def size(self, name: str) -> int:
        """Return the file's size in bytes.

        Raises:
            ObjectNotFound: no file has that name.
        """
        try:
            return self._path(name).stat().st_size
        except FileNotFoundError:
            raise ObjectNotFound(f"object {name} not found in {self.root}") from None

    def exists(self, name: str) -> bool:
        """Return True when the file exists."""
        return self._path(name).is_file()

    def list(self, prefix: str) -> Iterator[StoredObject]:
        """Yield every file under the directory ``prefix`` names, temporary files excluded."""
        start = self._path(prefix.rstrip("/")) if prefix.rstrip("/") else self.root
        if not start.is_dir():
            return
        for directory, _subdirectories, files in os.walk(start):
            relative = os.path.relpath(directory, self.root)
            for file_name in sorted(files):
                if file_name.startswith(TEMPORARY_PREFIX):
                    continue
                name = file_name if relative == "." else f"{relative}/{file_name}"
                try:
                    size = os.stat(os.path.join(directory, file_name)).st_size
                except FileNotFoundError:
                    continue
                if name.startswith(prefix):
                    yield StoredObject(name.replace(os.sep, "/"), size)

    def remove(self, name: str) -> None:
        """Delete the file if present.

        Raises:
            StorageError: the file exists but could not be deleted.
        """
        path = self._path(name)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise _describe_os_error(error, "delete", path) from error

    def remove_abandoned_temporary_files(self, older_than: float) -> int:
        """Delete temporary files (left by writes that a crash cut short) untouched for ``older_than`` s.

        A write in progress renews its file's modification time as it writes, so only files far older
        than any write takes are removed.

        Returns:
            how many files were removed.
        """
        limit = time.time() - older_than
        removed = 0
        for directory, _subdirectories, files in os.walk(self.root):
            for file_name in files:
                if not file_name.startswith(TEMPORARY_PREFIX):
                    continue
                path = os.path.join(directory, file_name)
                with contextlib.suppress(OSError):
                    if os.stat(path).st_mtime < limit:
                        os.unlink(path)
                        removed += 1
        return removed

    def close(self) -> None:
        """Nothing to release."""
