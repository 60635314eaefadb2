"""SQLite databases as a source: a consistent copy taken with SQLite's online backup API while the
application goes on writing.

The backup API copies every page in one step (so a concurrent writer never makes it start over), under
a read lock that SQLite holds only for that step: in WAL mode writers are never blocked, in rollback mode
they wait for the copy, not for the upload. The API needs a destination *database*, and Python's sqlite3
module cannot give it one that streams, so the copy is made in memory when the database is at most
``memory_limit`` bytes, and otherwise in a private temporary file removed as soon as it has been read
(see docs/sources.md for the trade-off). The copy is then streamed into the repository.
"""

from __future__ import annotations

import io
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

from resguardo.core.errors import ConfigurationError, SourceError
from resguardo.engine.streams import StreamSource
from resguardo.sources._names import stream_file_name
from resguardo.sources._private import PrivateFolder

FOLDER = "sqlite"
DATABASE_KIND = "sqlite.database"
DEFAULT_MEMORY_LIMIT = 256 * 1024 * 1024
BUSY_TIMEOUT_SECONDS = 30


def _describe(error: sqlite3.Error) -> str:
    return str(error) or type(error).__name__


def open_source(path: str) -> sqlite3.Connection:
    """Open an existing SQLite database read-only, waiting up to 30 s for a writer's lock.

    Raises:
        SourceError: the file does not exist, cannot be read, or is not a SQLite database.
    """
    if not os.path.isfile(path):
        raise SourceError(f"SQLite database {path} does not exist", "check the path")
    uri = "file:" + path.replace("?", "%3F").replace("#", "%23") + "?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_SECONDS)
        connection.execute("SELECT count(*) FROM sqlite_schema").fetchone()
    except sqlite3.Error as error:
        raise SourceError(
            f"{path} cannot be read as a SQLite database: {_describe(error)}",
            "check that it is a SQLite database and that this user may read it",
        ) from None
    return connection


def database_size(connection: sqlite3.Connection) -> int:
    """Return the size of a database in bytes (pages times page size)."""
    pages = connection.execute("PRAGMA page_count").fetchone()[0]
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    return int(pages) * int(page_size)


class SqliteCopy:
    """A consistent copy of one SQLite database being streamed (an ``OpenStream`` of the engine).

    Args:
        path: the database file.
        memory_limit: the largest database copied in memory; larger ones go through a private file.

    Raises:
        SourceError: the database cannot be read or copied.
    """

    def __init__(self, path: str, memory_limit: int = DEFAULT_MEMORY_LIMIT) -> None:
        self.folder: PrivateFolder | None = None
        source = open_source(path)
        try:
            if database_size(source) <= memory_limit:
                self._reader: BinaryIO = io.BytesIO(self._copy_in_memory(path, source))
            else:
                self._reader = self._copy_through_file(path, source)
        finally:
            source.close()

    @staticmethod
    def _copy_in_memory(path: str, source: sqlite3.Connection) -> bytes:
        destination = sqlite3.connect(":memory:")
        try:
            source.backup(destination)
            return destination.serialize()
        except sqlite3.Error as error:
            raise SourceError(f"copying SQLite database {path} failed: {_describe(error)}") from None
        finally:
            destination.close()

    def _copy_through_file(self, path: str, source: sqlite3.Connection) -> BinaryIO:
        self.folder = PrivateFolder()
        copy_path = os.path.join(self.folder.path, "copy.sqlite")
        try:
            destination = sqlite3.connect(copy_path)
            try:
                source.backup(destination)
            finally:
                destination.close()
            return open(copy_path, "rb")  # closed by finish() or abort()
        except (sqlite3.Error, OSError) as error:
            self.folder.close()
            message = _describe(error) if isinstance(error, sqlite3.Error) else str(error)
            raise SourceError(f"copying SQLite database {path} failed: {message}") from None

    @property
    def reader(self) -> BinaryIO:
        """The copy's bytes: a complete SQLite database file."""
        return self._reader

    def finish(self) -> None:
        """Release the copy (it was read whole)."""
        self.abort()

    def abort(self) -> None:
        """Release the copy; never raises."""
        self._reader.close()
        if self.folder is not None:
            self.folder.close()


@dataclass(frozen=True, slots=True)
class _CopyOpener:
    path: str
    memory_limit: int

    def __call__(self) -> SqliteCopy:
        return SqliteCopy(self.path, self.memory_limit)


@dataclass(frozen=True, slots=True)
class SqliteSource:
    """SQLite database files as streams of a backup, each named ``sqlite/<file name>``.

    Attributes:
        paths: the database files.
        memory_limit: the largest database copied in memory (see the module's docstring).
    """

    paths: Sequence[str]
    memory_limit: int = DEFAULT_MEMORY_LIMIT

    def streams(self) -> list[StreamSource]:
        """Return one stream per database file.

        Raises:
            ConfigurationError: two files have the same name.
        """
        seen: dict[str, str] = {}
        sources = []
        for path in self.paths:
            absolute = os.path.abspath(path)
            name = os.path.basename(absolute)
            if name in seen and seen[name] != absolute:
                raise ConfigurationError(
                    f"two SQLite databases are both called {name}: {seen[name]} and {absolute}",
                    "back them up in two runs",
                )
            seen[name] = absolute
            sources.append(
                StreamSource(
                    f"{FOLDER}/{stream_file_name(name)}",
                    _CopyOpener(absolute, self.memory_limit),
                    {
                        "kind": DATABASE_KIND,
                        "database": name,
                        "path": absolute,
                        "format": "sqlite",
                        "sqlite_version": sqlite3.sqlite_version,
                    },
                )
            )
        return sources
