"""A private folder (mode 0700) for the credential files of dump tools, removed when done."""

from __future__ import annotations

import os
import shutil
import tempfile
from types import TracebackType


class PrivateFolder:
    """A temporary folder only this user can enter, whose files are created mode 0600.

    Use it as a context manager: the folder and everything in it is removed at the end.
    """

    def __init__(self) -> None:
        self.path = tempfile.mkdtemp(prefix="resguardo-credentials-")
        os.chmod(self.path, 0o700)

    def write(self, name: str, text: str) -> str:
        """Write a new file ``name`` (mode 0600, never readable by others, even briefly); return its path.

        Raises:
            OSError: the file exists already, or cannot be written.
        """
        path = os.path.join(self.path, name)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(text)
        return path

    def close(self) -> None:
        """Remove the folder and its files."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> PrivateFolder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.close()
